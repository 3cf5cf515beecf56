"""The examples a run evaluates and scores heads on, and the tokenizer that encodes them.

A run's key and cells are known from its spec, tokenizer and config alone, so a run whose cells
are all stored loads no weights and fine-tunes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mbp.experiments.context import RunContext
from mbp.experiments.params import Experiment
from mbp.spec import DataSpec


@dataclass(frozen=True)
class EvalData:
    spec: DataSpec  # what is evaluated (its key keys the evaluation cache)
    full: Any  # mbp.tasks.Examples: the whole split of this language
    subset: Any  # the evaluated examples
    encoded: Any  # mbp.tasks.Encoded: the subset, tokenised


def tokenizer(ctx: RunContext, exp: Experiment):
    """The model's tokenizer (a fine-tuned checkpoint saves the same one), loaded once."""
    from transformers import AutoTokenizer

    from mbp.models import resolve_model

    if exp.model not in ctx.models.tokenizers:
        source = resolve_model(exp.model)
        ctx.models.tokenizers[exp.model] = AutoTokenizer.from_pretrained(
            source.location, local_files_only=source.local, trust_remote_code=False
        )
    return ctx.models.tokenizers[exp.model]


def config_shape(exp: Experiment) -> tuple[int, int]:
    """(layers, heads) from the model's config alone (no weights loaded)."""
    from transformers import AutoConfig

    from mbp.engine.layout import config_shape as shape_of
    from mbp.models import resolve_model

    source = resolve_model(exp.model)
    return shape_of(AutoConfig.from_pretrained(source.location, local_files_only=source.local))


def eval_split(exp: Experiment) -> str:
    from mbp.tasks import get_task

    return exp.split or get_task(exp.task).eval_splits[0]


def eval_data(ctx: RunContext, exp: Experiment, tok) -> EvalData:
    from mbp.tasks import encode, load_examples, subsample

    split = eval_split(exp)
    full = load_examples(exp.task, split, lang=exp.lang, data_dir=ctx.data_dir)
    subset = subsample(full, exp.n_examples, exp.data_seed)
    spec = DataSpec(exp.task, exp.lang, split, len(subset.labels), exp.data_seed, exp.max_length)
    return EvalData(spec, full, subset, encode(tok, subset, exp.max_length))


def importance_data(ctx: RunContext, exp: Experiment, tok, data: EvalData) -> tuple[DataSpec, Any]:
    """(DataSpec, encoded examples) to score heads on, disjoint from the evaluated ones.

    XNLI: the same language's dev pairs that are NOT evaluated (per-language importance);
    GLUE: the training split. Falls back to the training task's train split when the dev
    complement is empty (every pair evaluated).
    """
    from mbp.tasks import complement, encode, get_task, load_examples, subsample

    task = get_task(exp.task)
    seed = exp.data_seed + 1
    source, spec = None, None
    if task.name == "xnli":
        rest = complement(data.full, data.subset)
        if len(rest.labels) > 0:
            source = rest
            spec = DataSpec(
                exp.task, exp.lang, data.full.split, 0, seed, exp.max_length, complement=True
            )
    if source is None:
        source = load_examples(task.train_task, task.train_split, data_dir=ctx.data_dir)
        spec = DataSpec(
            exp.task,
            exp.lang,
            task.train_split,
            0,
            seed,
            exp.max_length,
            source_task=task.train_task,
        )
    chosen = subsample(source, exp.importance_examples, seed)
    encoded = encode(tok, chosen, exp.max_length)
    return replace(spec, n_examples=len(encoded.labels)), encoded
