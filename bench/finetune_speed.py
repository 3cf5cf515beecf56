"""Fine-tuning throughput: mbp against the Hugging Face `Trainer`, the same recipe (figure 11).

    .venv/bin/python -m bench.finetune_speed                  # minilm-l6, 512 SST-2, 3 repeats
    .venv/bin/python -m bench.finetune_speed --train 1000 --dev 872 --repeats 3
    .venv/bin/python -m bench.finetune_speed --quick          # a smoke test: a few steps
    .venv/bin/python -m bench.finetune_speed --train 384 --epochs 2 --lr 1e-4 --batch 16 \
        --repeats 1 --seeds 0 1 2 --only trainer-pad,mbp-default   # dev over 3 seeds

One recipe (model, training examples, epochs, lr, batch, max length, warm-up, weight decay)
trained side by side, repeats interleaved (A B C, C B A, ...), once per training seed; for a
seed every variant starts from the same initial weights (mbp's seeded classifier) on the same
examples (mbp's seeded subsample):

- the anchor: `transformers.Trainer`, every example padded to max length (as the paper's
  `run_glue.py`), with its default optimiser; also the `Trainer` with dynamic padding
  (`DataCollatorWithPadding`);
- mbp's default recipe (random batches padded per batch, AdamW);
- mbp with the levers: length-grouped batches (`batching="grouped"`, Hugging Face's
  megabatch rule), then also fused AdamW
  (`optimizer="adamw-fused"`). Frozen parameters are never in mbp's optimiser; bf16 autocast
  is a lever only where the CPU has native bf16.

On `FINETUNE_THREADS` (1) and, for the anchor and mbp with the levers, on all cores; each mbp
variant is compared with the anchor on as many threads.

Throughput = training examples x epochs / seconds of the training loop (no loading, no dev
score), median over repeats and seeds. Every model is scored by mbp's `evaluate` on the same dev
examples; the dev verdict compares the variants' mean dev score over the seeds, and calls itself
weak where one seed's score moves more than the 1-point band (sd over seeds) or where only one
seed ran; where the anchor's mean dev does not beat the best constant answer (the majority
class) by `LEARNED_MARGIN`, the models are at chance and the dev half is not established. Where
the target is missed, a torch.profiler profile of mbp's fastest variant says
where the time goes.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from bench.common import DATA_DIR, Row, Section, cores, load_average, median, met
from bench.report import markdown_table

TARGET_RATIO = 3.0  # mbp with the levers / the Trainer padded to max length, examples/s
MAX_DEV_DIFF = 0.01  # |dev score difference| to the anchor, as a fraction (1 point)
# The anchor must beat the best constant answer by this much for the dev half to mean anything:
# at 128-512 examples and lr 2e-5 every model stays on the majority class (0.50-0.52 on SST-2,
# majority 0.509), where "within 1 pt" is met by collapse, not by quality
LEARNED_MARGIN = 0.05
ANCHOR = "trainer-pad"  # the anchor on 1 thread; "trainer-pad-all" on all cores


@dataclass(frozen=True)
class Recipe:
    """What every variant trains: one FinetuneSpec's recipe (the Trainer gets the same)."""

    model: str = "minilm-l6"
    task: str = "sst2"
    train: int = 512
    epochs: float = 1.0
    lr: float = 2e-5
    batch: int = 32
    max_length: int = 128
    seeds: tuple[int, ...] = (0,)  # training seeds: every variant trains once per seed
    dev: int = 872  # dev examples every model is scored on (SST-2 dev has 872)

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds {list(self.seeds)}: give distinct non-negative training "
                             "seeds, e.g. --seeds 0 1 2")  # fmt: skip

    @property
    def seed(self) -> int:
        """The first seed: the one the padded widths and the profile use."""
        return self.seeds[0]

    def spec(self, seed: int | None = None, **levers):
        from mbp.models import model_checksum
        from mbp.spec import FinetuneSpec

        return FinetuneSpec(self.model, model_checksum(self.model), self.task,
                            train_examples=self.train, epochs=self.epochs, lr=self.lr,
                            batch_size=self.batch, max_length=self.max_length,
                            seed=self.seed if seed is None else seed, **levers)  # fmt: skip

    def describe(self) -> str:
        return (
            f"{self.model} on {self.train} {self.task.upper()} training examples, "
            f"{self.epochs:g} epoch(s), lr {self.lr:g}, batch {self.batch}, max length "
            f"{self.max_length}, linear schedule with 10% warm-up, weight decay 0.01, "
            f"gradient clipping 1.0, {_seeds_text(self.seeds)}; dev score on {self.dev} dev "
            "examples"
        )


def _seeds_text(seeds: tuple[int, ...]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(map(str, seeds))


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    trainer_padding: str = ""  # "max_length" | "longest": a Trainer run; "": an mbp run
    batching: str = "random"
    optimizer: str = "adamw"
    threads: int = 0  # 0: FINETUNE_THREADS (mbp) / all cores (the Trainer)

    @property
    def is_trainer(self) -> bool:
        return bool(self.trainer_padding)


def variants(all_cores: int) -> list[Variant]:
    from mbp.engine.finetune import FINETUNE_THREADS

    one = FINETUNE_THREADS
    # each mbp variant is compared with the Trainer on as many threads: on a loaded 2-core
    # machine the thread count alone moves the time several-fold
    return [
        Variant(ANCHOR, "HF Trainer, padded to max length (anchor)", "max_length", threads=one),
        Variant("trainer-dynamic", "HF Trainer, dynamic padding", "longest", threads=one),
        Variant("mbp-default", "mbp default (random batches, AdamW)", threads=one),
        Variant("mbp-grouped", "mbp grouped batches, AdamW", batching="grouped", threads=one),
        Variant("mbp-levers", "mbp grouped + fused AdamW", batching="grouped",
                optimizer="adamw-fused", threads=one),
        Variant("trainer-pad-all", "HF Trainer, padded to max length (anchor)", "max_length",
                threads=all_cores),
        Variant("mbp-levers-all", "mbp grouped + fused AdamW", batching="grouped",
                optimizer="adamw-fused", threads=all_cores),
    ]  # fmt: skip


@dataclass
class Outcome:
    variant: Variant
    seconds: list[float] = field(default_factory=list)  # every repeat of every seed
    devs: dict[int, float] = field(default_factory=dict)  # training seed -> dev score
    n_train: int = 0
    optimizer: str = ""  # what actually ran (the Trainer's default optimiser)

    @property
    def rate(self) -> float:
        return self.n_train / median(self.seconds) if self.seconds else float("nan")

    @property
    def dev(self) -> float:
        """Mean dev score over the seeds."""
        return float(np.mean(list(self.devs.values()))) if self.devs else float("nan")

    @property
    def dev_sd(self) -> float:
        """Sample standard deviation of the dev score over the seeds (nan for one seed)."""
        return float(np.std(list(self.devs.values()), ddof=1)) if len(self.devs) > 1 else math.nan


@dataclass(frozen=True)
class DevVerdict:
    """Two variants' mean dev scores over the same seeds, and how far one seed moves them."""

    diff: float  # |mean dev - anchor's mean dev|, a fraction
    spread: float  # the larger sd over seeds of the two (nan: one seed, spread unknown)
    seeds: int
    anchor_dev: float = math.nan  # the anchor's mean dev score
    chance: float = math.nan  # the best constant answer's score (nan: not known)

    @property
    def established(self) -> bool:
        """False when the anchor has not learned the task (within the margin of chance)."""
        return not self.anchor_dev - self.chance < LEARNED_MARGIN

    @property
    def within(self) -> bool:
        return self.established and self.diff <= MAX_DEV_DIFF

    @property
    def weak(self) -> bool:
        """Seed-to-seed noise as large as the band (or unmeasured): the verdict may flip."""
        return self.seeds < 2 or not self.spread <= MAX_DEV_DIFF

    def text(self) -> str:
        pt = f"{100 * MAX_DEV_DIFF:g} pt"
        band = f"{pt} band"
        if self.seeds < 2:
            noise = "one seed: spread unmeasured, weak verdict"
        elif self.weak:
            noise = f"seed sd up to {100 * self.spread:.1f} pt > the {band}: weak verdict"
        else:
            noise = f"seed sd up to {100 * self.spread:.1f} pt, within the {band}"
        if not self.established:
            return (f"mean dev {100 * self.diff:.1f} pt apart, dev half NOT ESTABLISHED: the "
                    f"anchor's mean dev {self.anchor_dev:.3f} is within "
                    f"{100 * LEARNED_MARGIN:g} pt of the best constant answer's "
                    f"{self.chance:.3f} (models at chance: train longer, e.g. --train 384 "
                    "--epochs 2 --lr 1e-4 --batch 16 --seeds 0 1 2)")  # fmt: skip
        return (f"mean dev {100 * self.diff:.1f} pt apart over {self.seeds} seed(s), "
                f"dev within {pt} {'met' if self.within else 'not met'} ({noise})")  # fmt: skip


def dev_verdict(anchor: Outcome, other: Outcome, chance: float = math.nan) -> DevVerdict:
    """The dev half of the target, from both variants' mean over the seeds they share; not
    established where the anchor scores within `LEARNED_MARGIN` of `chance`."""
    if set(anchor.devs) != set(other.devs):
        raise ValueError(f"dev scores for seeds {sorted(anchor.devs)} vs {sorted(other.devs)}: "
                         "compare variants trained on the same seeds")  # fmt: skip
    spreads = [o.dev_sd for o in (anchor, other)]
    spread = math.nan if any(math.isnan(x) for x in spreads) else max(spreads)
    return DevVerdict(abs(other.dev - anchor.dev), spread, len(other.devs), anchor.dev, chance)


def chance_score(task: str, labels: np.ndarray) -> float:
    """The task's primary metric for the best constant answer (every example one class) on
    `labels`; 0 for a regression task (a constant has no correlation)."""
    from mbp.tasks.metrics import compute_metrics
    from mbp.tasks.registry import get_task

    info = get_task(task)
    if info.is_regression:
        return 0.0
    return max(compute_metrics(info, np.full(len(labels), c), labels)[info.primary_metric]
               for c in np.unique(labels))  # fmt: skip


@dataclass
class Result:
    recipe: Recipe
    outcomes: dict[str, Outcome]
    widths: dict[str, float]  # batching -> mean padded tokens per example
    mean_length: float
    native_bf16: bool
    flags: tuple[str, ...]
    load_start: str
    load_end: str = ""
    seconds: float = 0.0
    profile: list[tuple[str, float]] = field(default_factory=list)
    profile_note: str = ""
    chance: float = math.nan  # the best constant answer's dev score (chance_score)

    def anchor(self, name: str, padding: str = "max_length") -> str | None:
        """The Trainer variant (padded to max length, or dynamic) on `name`'s threads."""
        threads = self.outcomes[name].variant.threads
        return next((n for n, o in self.outcomes.items() if o.variant.trainer_padding == padding
                     and o.variant.threads == threads and o.seconds), None)  # fmt: skip

    def ratio(self, name: str, anchor: str | None = None) -> float:
        anchor = anchor or self.anchor(name)
        return self.outcomes[name].rate / self.outcomes[anchor].rate if anchor else float("nan")

    def verdict(self, name: str, anchor: str | None = None) -> DevVerdict | None:
        anchor = anchor or self.anchor(name)
        if not anchor:
            return None
        return dev_verdict(self.outcomes[anchor], self.outcomes[name], self.chance)

    def dev_diff(self, name: str, anchor: str | None = None) -> float:
        verdict = self.verdict(name, anchor)
        return verdict.diff if verdict else float("nan")

    def met(self, name: str) -> bool:
        verdict = self.verdict(name)
        return self.ratio(name) >= TARGET_RATIO and verdict is not None and verdict.within


# ---------------------------------------------------------------- the runs


def _trainer_run(recipe: Recipe, v: Variant, data_dir: str, seed: int):
    """(train seconds, trained model, optimiser name): the HF `Trainer` on mbp's examples,
    from mbp's initial model (the same seeded classifier)."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from mbp.engine.finetune import finetune_threads, initial_model, training_data

    cpu = torch.device("cpu")
    spec = recipe.spec(seed)
    model, tokenizer = initial_model(spec, cpu)
    encoded = training_data(spec, tokenizer, data_dir)
    rows = []
    for i, ids in enumerate(encoded.input_ids):
        row = {"input_ids": ids.tolist(), "labels": int(encoded.labels[i])}
        if encoded.token_type_ids is not None:
            row["token_type_ids"] = encoded.token_type_ids[i].tolist()
        rows.append(row)
    padding = v.trainer_padding
    collator = DataCollatorWithPadding(
        tokenizer,
        padding=padding,
        max_length=recipe.max_length if padding == "max_length" else None,
    )
    total = max(1, math.ceil(math.ceil(len(rows) / recipe.batch) * recipe.epochs))
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=recipe.batch, learning_rate=recipe.lr,
            num_train_epochs=recipe.epochs, warmup_steps=int(spec.warmup_ratio * total),
            weight_decay=spec.weight_decay, max_grad_norm=1.0, lr_scheduler_type="linear",
            seed=seed, data_seed=seed, use_cpu=True, report_to="none",
            save_strategy="no", logging_strategy="no", disable_tqdm=True,
            dataloader_num_workers=0,
        )  # fmt: skip
        trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator)
        with finetune_threads(cpu, v.threads):
            t0 = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - t0
    return seconds, model.eval(), str(getattr(args.optim, "value", args.optim)), len(rows)


def _mbp_run(recipe: Recipe, v: Variant, data_dir: str, seed: int):
    from mbp.engine.finetune import finetune_threads, train

    cpu = torch.device("cpu")
    spec = recipe.spec(seed, batching=v.batching, optimizer=v.optimizer)
    with finetune_threads(cpu, v.threads):
        trained = train(spec, cpu, data_dir=data_dir)
    return trained.train_seconds, trained.model, v.optimizer, trained.n_train


def _dev_score(model, dev, task, pad_id: int) -> float:
    """The task's primary metric on the dev examples (mbp's `evaluate`, fp32, for every model)."""
    from mbp.engine.evaluate import evaluate

    scores = evaluate(model, dev, task, pad_id=pad_id, device="cpu", precision="fp32")
    return float(scores[task.primary_metric])


def padded_widths(lengths: np.ndarray, batch: int, seed: int) -> dict[str, float]:
    """Mean padded tokens per example for one epoch of each batching (what the model computes
    on): random batches (mbp's default and the Trainer's dynamic padding), grouped, and pad
    to max length is the max length itself."""
    from mbp.engine.batching import grouped_order

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    shuffled = [order[i : i + batch] for i in range(0, len(order), batch)]
    grouped = grouped_order(lengths, batch, np.random.default_rng(seed))  # batching="grouped"

    def width(batches):
        return sum(int(lengths[b].max()) * len(b) for b in batches) / len(lengths)

    return {"random": width(shuffled), "grouped": width(grouped)}


def measure(recipe: Recipe = Recipe(), repeats: int = 3, data_dir: str = DATA_DIR,
            profile: bool = True, names: tuple[str, ...] = ()) -> Result:  # fmt: skip
    from mbp.engine.device import cpu_bf16_flags
    from mbp.engine.finetune import finetune_threads, initial_model, training_data
    from mbp.tasks import encode, get_task
    from mbp.tasks.scoring import scoring_examples

    t0 = time.perf_counter()
    all_cores = cores()
    chosen = [v for v in variants(all_cores) if not names or v.name in names]
    flags = cpu_bf16_flags()
    result = Result(recipe, {v.name: Outcome(v) for v in chosen}, {}, 0.0, bool(flags), flags,
                    load_average())  # fmt: skip
    task = get_task(recipe.task)
    _, tokenizer = initial_model(recipe.spec(), torch.device("cpu"))
    pad_id = tokenizer.pad_token_id or 0
    dev = encode(
        tokenizer, scoring_examples(recipe.task, data_dir, recipe.dev)[1], recipe.max_length
    )
    train = training_data(recipe.spec(), tokenizer, data_dir)
    lengths = np.array([len(x) for x in train.input_ids])
    result.mean_length = float(lengths.mean())
    result.chance = chance_score(recipe.task, dev.labels)
    result.widths = padded_widths(lengths, recipe.batch, recipe.seed)
    if repeats < 1:
        raise ValueError(f"repeats {repeats}: give at least 1 (3 for a stable median)")
    turn = 0  # the order alternates per (seed, repeat) turn: A B C, C B A, ...
    for r in range(repeats):
        for seed in recipe.seeds:
            order = chosen if turn % 2 == 0 else chosen[::-1]
            turn += 1
            for v in order:
                run: Callable = _trainer_run if v.is_trainer else _mbp_run
                seconds, model, optimizer, n = run(recipe, v, data_dir, seed)
                out = result.outcomes[v.name]
                out.seconds.append(seconds)
                out.n_train, out.optimizer = int(n * recipe.epochs), optimizer
                if r == 0:  # a seed trains the same model every repeat: score it once
                    with finetune_threads(torch.device("cpu"), all_cores):
                        out.devs[seed] = _dev_score(model, dev, task, pad_id)
                print(f"    repeat {r + 1} seed {seed} {v.name}: {seconds:.1f} s "
                      f"({n * recipe.epochs / seconds:.1f} examples/s), "
                      f"dev {out.devs[seed]:.3f}", flush=True)  # fmt: skip
                del model
    best = _best_mbp(result)
    if profile and best and result.anchor(best) and not result.met(best):
        result.profile, result.profile_note = _profile(recipe, result.outcomes[best].variant,
                                                       data_dir)  # fmt: skip
    result.load_end = load_average()
    result.seconds = time.perf_counter() - t0
    return result


def _best_mbp(result: Result) -> str | None:
    names = [n for n, o in result.outcomes.items() if not o.variant.is_trainer and o.seconds]
    return max(names, key=lambda n: result.outcomes[n].rate) if names else None


def _profile(recipe: Recipe, v: Variant, data_dir: str) -> tuple[list[tuple[str, float]], str]:
    """Top ops by self CPU time (%) of `v` training on 4 batches, and the optimiser's share."""
    from torch.profiler import ProfilerActivity, profile

    from mbp.engine.finetune import finetune_threads, train

    cpu = torch.device("cpu")
    small = replace(recipe, train=min(recipe.train, 4 * recipe.batch))
    spec = small.spec(batching=v.batching, optimizer=v.optimizer)  # the first seed
    with finetune_threads(cpu, v.threads), profile(activities=[ProfilerActivity.CPU]) as prof:
        trained = train(spec, cpu, data_dir=data_dir)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
    ops = [(e.key, 100 * e.self_cpu_time_total / total) for e in top]
    step = sum(e.cpu_time_total for e in events if e.key.startswith("Optimizer.step#"))
    backward = sum(e.cpu_time_total for e in events
                   if e.key.startswith("autograd::engine::evaluate_function"))  # fmt: skip
    note = (
        f"{v.label} on {v.threads} thread(s), {small.train} examples "
        f"({trained.train_seconds:.1f} s): of the ops' CPU time, the optimiser step takes "
        f"{100 * step / total:.0f}%, the backward pass {100 * backward / total:.0f}%, the forward "
        f"pass and the rest {100 * max(0.0, 1 - (step + backward) / total):.0f}%"
    )
    return ops, note


# ---------------------------------------------------------------- the report


def section(r: Result) -> Section:
    sec = Section("11. Fine-tuning throughput vs the Hugging Face Trainer")
    anchor = any(o.variant.is_trainer for o in r.outcomes.values())
    for o in r.outcomes.values():
        v = o.variant
        sec.rows.append(Row("11", f"fine-tune {v.label}, {v.threads} thread(s)",
                            f"{o.rate:.1f} examples/s (dev {_dev_text(o)})"))  # fmt: skip
    if not anchor:
        return sec
    for name, o in r.outcomes.items():
        if o.variant.is_trainer or not r.anchor(name):
            continue
        ratio, verdict = r.ratio(name), r.verdict(name)
        dyn = r.anchor(name, "longest")
        dynamic = f"; {r.ratio(name, dyn):.2f}x the dynamic-padding Trainer" if dyn else ""
        sec.rows.append(Row("11", f"{o.variant.label}, {o.variant.threads} thread(s) / Trainer "
                            "padded to max length, as many threads",
                            f"{ratio:.2f}x, {verdict.text()}{dynamic}",
                            f">= {TARGET_RATIO:g}x, mean dev within {100 * MAX_DEV_DIFF:.0f} pt",
                            met(r.met(name))))  # fmt: skip
    sec.details += details(r)
    return sec


def _dev_text(o: Outcome) -> str:
    """'0.760' for one seed; 'mean 0.758, sd 1.5 pt, 0.742-0.771' for several."""
    if len(o.devs) < 2:
        return f"{o.dev:.3f}"
    devs = list(o.devs.values())
    return (f"mean {o.dev:.3f}, sd {100 * o.dev_sd:.1f} pt, "
            f"{min(devs):.3f}-{max(devs):.3f}")  # fmt: skip


def details(r: Result) -> list[str]:
    flags = ", ".join(r.flags) or "none"
    bf16 = (
        "This CPU has native bf16 (" + flags + "): bf16 autocast is a lever here (not measured "
        "by this figure)."
        if r.native_bf16
        else "**No native bf16 on this CPU** (no avx512_bf16 / amx_bf16), so bf16 autocast is "
        "not a lever here: mbp refuses it, and torch's emulation is slower than fp32 (figure 10)."
    )
    out = [
        f"Recipe: {r.recipe.describe()}. Load average (1/5/15 min) {r.load_start} at the start, "
        f"{r.load_end} at the end; {r.seconds / 60:.1f} min in all; {cores()} cores. {bf16}",
        "",
        f"The best constant answer scores {r.chance:.3f} on these dev examples; the dev half "
        f"of the target counts only where the anchor's mean dev beats it by "
        f"{100 * LEARNED_MARGIN:g} pt or more.",
        "",
        f"Mean tokens per training example {r.mean_length:.1f}; padded tokens per example the "
        f"model computes on: {r.recipe.max_length} padded to max length, "
        f"{r.widths.get('random', float('nan')):.1f} random batches padded per batch (mbp's "
        "default, the Trainer's dynamic padding), "
        f"{r.widths.get('grouped', float('nan')):.1f} grouped"
        + (f" (seed {r.recipe.seed}'s sample)." if len(r.recipe.seeds) > 1 else "."),
        "",
    ]
    rows = []
    for name, o in r.outcomes.items():
        v = o.variant
        has = r.anchor(name) is not None
        ratio = f"{r.ratio(name):.2f}x" if has else "-"
        diff = f"{100 * r.dev_diff(name):.1f}" if has else "-"
        per_seed = " / ".join(f"{o.devs[s]:.3f}" for s in r.recipe.seeds if s in o.devs)
        sd = "-" if math.isnan(o.dev_sd) else f"{100 * o.dev_sd:.1f}"
        rows.append((v.label, v.threads, o.optimizer, " / ".join(f"{s:.1f}" for s in o.seconds),
                     f"{o.rate:.1f}", ratio, per_seed, f"{o.dev:.3f}", sd, diff))  # fmt: skip
    out += [
        markdown_table(
            (
                "variant",
                "threads",
                "optimiser",
                "train s per run",
                "examples/s",
                "vs anchor",
                "dev per seed",
                "mean dev",
                "dev sd pt",
                "abs mean dev diff pt",
            ),
            rows,
        ),
        "",
    ]
    if r.profile:
        out += [
            f"**Where the time goes** (target missed; torch.profiler, {r.profile_note}):",
            "",
            markdown_table(("op", "self CPU %"), [(k, f"{p:.1f}") for k, p in r.profile]),
            "",
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.finetune_speed",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("--model", default="minilm-l6", help="registry name or model folder")
    parser.add_argument("--train", type=int, default=512, help="training examples")
    parser.add_argument("--dev", type=int, default=872, help="dev examples scored")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (>= 3)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="training seeds, each variant trained once per seed (e.g. 0 1 2); "
                        "the dev verdict compares the means")  # fmt: skip
    parser.add_argument("--data-dir", default=DATA_DIR, help="data root (glue/SST-2/...)")
    parser.add_argument("--only", default="", help="variants, e.g. trainer-pad,mbp-levers")
    parser.add_argument("--no-profile", action="store_true", help="skip the profile of a miss")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 64 examples, batch 16, 32 dev, 1 repeat, no profile")  # fmt: skip
    args = parser.parse_args(argv)
    import warnings

    from transformers.utils import logging as hf_logging

    from mbp.engine.device import use_all_cores

    warnings.filterwarnings("ignore")
    hf_logging.set_verbosity_error()
    use_all_cores()
    try:
        recipe = Recipe(model=args.model, train=args.train, dev=args.dev, epochs=args.epochs,
                        lr=args.lr, batch=args.batch, max_length=args.max_length,
                        seeds=tuple(args.seeds))  # fmt: skip
    except ValueError as err:
        parser.error(str(err))
    repeats, profile = args.repeats, not args.no_profile
    if args.quick:
        recipe = replace(recipe, train=64, batch=16, dev=32)
        repeats, profile = 1, False
    names = tuple(x.strip() for x in args.only.split(",") if x.strip())
    result = measure(recipe, repeats, args.data_dir, profile, names)
    from bench.report import print_section

    print_section(section(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
