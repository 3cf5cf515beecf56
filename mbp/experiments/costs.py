"""The cost columns of curve points (parameters, encoder FLOPs per example; mbp.engine.cost):
written with every new point, and filled in for stored points that lack them (`mbp costs`)
from their stored head sets, without running any model.

    cost = point_cost(exp.model, exp.task, data.encoded)   # PointCost
    fill_costs(store, data_dir)                              # -> points filled
"""

from __future__ import annotations

import functools
import json

from mbp.engine.cost import Architecture, PointCost, parse_heads


@functools.lru_cache(maxsize=16)
def model_architecture(model: str, task: str) -> tuple[Architecture, int]:
    """(architecture, parameter count) of `model` with `task`'s classifier, from its config
    alone: the model is built on the meta device, so no weights are read or allocated."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from mbp.models import resolve_model
    from mbp.tasks import get_task

    source = resolve_model(model)
    labels = get_task(task).labels
    config = AutoConfig.from_pretrained(
        source.location,
        local_files_only=source.local,
        num_labels=1 if labels is None else len(labels),
    )
    with torch.device("meta"):
        built = AutoModelForSequenceClassification.from_config(config)
    return Architecture.of(config), sum(p.numel() for p in built.parameters())


def point_cost(model: str, task: str, encoded) -> PointCost:
    arch, params = model_architecture(model, task)
    return PointCost(arch, params, tuple(len(ids) for ids in encoded.input_ids))


def fill_costs(store, data_dir: str | None = None, progress: bool = False) -> int:
    """Fill the cost columns of every stored curve point that lacks them; returns how many
    points (rows) were filled. Only the run's evaluated examples are tokenised (their lengths)."""
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer

    from mbp.models import resolve_model
    from mbp.spec import RunSpec
    from mbp.tasks import encode, load_examples, subsample

    todo = store.sql(
        "SELECT DISTINCT p.run_id, r.spec_json FROM curve_points p JOIN runs r USING (run_id) "
        "WHERE p.flops IS NULL ORDER BY p.run_id"
    )
    filled = 0
    tokenizers: dict[str, object] = {}
    for row in tqdm(list(todo.itertuples()), desc="costs", disable=not progress):
        spec = RunSpec.from_dict(json.loads(row.spec_json))
        data = spec.data
        if spec.model not in tokenizers:
            source = resolve_model(spec.model)
            tokenizers[spec.model] = AutoTokenizer.from_pretrained(
                source.location, local_files_only=source.local
            )
        full = load_examples(data.task, data.split, lang=data.lang, data_dir=data_dir)
        subset = subsample(full, data.n_examples, data.seed)
        cost = point_cost(
            spec.model, data.task, encode(tokenizers[spec.model], subset, data.max_length)
        )
        sets = store.sql(
            "SELECT DISTINCT pruned_heads FROM curve_points WHERE run_id = ? AND flops IS NULL",
            [row.run_id],
        )["pruned_heads"]
        filled += store.set_point_costs(
            row.run_id, {text: cost.of(parse_heads(text)) for text in sets}
        )
    return filled
