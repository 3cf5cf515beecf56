"""`mbp report`: docs/REPRODUCTION.md and its figures, generated from the results store.

Every number in the report comes from the store through the same functions the dashboard's
Paper claims page uses (`mbp.analysis.claims.evaluate_claims`, `mbp.analysis.tables`), so the two agree
number for number; every figure is drawn by `mbp.figures`.

    mbp report --store precomputed-store.duckdb --out docs/REPRODUCTION.md
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mbp.analysis import tables as data
from mbp.analysis.claims import ClaimResult, drops_table, evaluate_both, groups_table
from mbp.analysis.resampled import DRAWS
from mbp.experiments.plan import GLUE_SPLIT
from mbp.tasks.scoring import majority_baseline

#: What the paper did (its text, not a result) and whether a difference could matter; what mbp
#: did is computed from the store and the registry by `differences`.
PAPER_SETUP = {
    "models": "bert-base-cased, bert-base-multilingual-cased (raw masked-LM checkpoints)",
    "depth": "12 layers x 12 heads for both",
    "GLUE tasks": "MNLI, QQP, QNLI, SST-2",
    "fine-tuning": "3 epochs on full training sets, all weights, lr 2e-5, batch 32",
    "evaluation": "full dev sets",
    "importance": "gradient importance (Michel et al. 2019)",
    "hardware": "GPU",
}
MATTERS = {
    "models": "yes: contrastive sentence-embedding training reshapes which heads matter",
    "depth": "yes for layer-wise comparisons across models; fractions of heads are compared "
    "instead of counts",
    "GLUE tasks": "yes: other tasks, smaller training sets",
    "fine-tuning": "yes: absolute scores are lower; relative drops are what the claims compare",
    "evaluation": "adds sampling noise: see the example counts",
    "importance": "no",
    "hardware": "only in how much could be run",
}


def differences(store, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the paper's setup vs this store's, the fine-tuning recipes of the stored checkpoints):
    every "here" entry is read from the stored runs, their checkpoints and the model registry."""
    from mbp.models.registry import find_model

    models = sorted(runs["model"].unique()) if len(runs) else []
    infos = {m: find_model(m) for m in models}
    model_text = "; ".join(
        f"{m} ({i.hub_id}): {i.description}" if i else m for m, i in infos.items()
    )
    depth = "; ".join(f"{m} {i.layers} x {i.heads}" for m, i in infos.items() if i)
    glue = sorted(t for t in runs["task"].unique() if t != "xnli") if len(runs) else []
    sizes = runs[runs["kind"] != "importance"].groupby("task")["n_examples"].agg(["min", "max"])
    evaluation = "; ".join(
        f"{task}: {lo}" + (f"-{hi}" if hi != lo else "") + " examples"
        for task, (lo, hi) in sizes.iterrows()
    )
    estimators = runs[runs["kind"] == "importance"]["method"].unique() if len(runs) else []
    importance = (
        f"{', '.join(sorted(estimators))} importance, exact per example, on held-out data "
        "disjoint from the evaluated examples"
    )
    recipes = finetune_recipes(store)
    finetuning = "; ".join(
        sorted(
            {
                f"{r.task}: {r.epochs:g} epoch(s) x {r.train_examples:,} examples, lr {r.lr:g}, "
                f"batch {r.batch_size}" + (", embeddings frozen" if r.frozen else "")
                for r in recipes.itertuples()
            }
        )
    )
    devices = runs["device"].value_counts() if len(runs) else pd.Series(dtype=int)
    hardware = ", ".join(f"{n} runs on {d}" for d, n in devices.items())
    here = {
        "models": model_text,
        "depth": depth,
        "GLUE tasks": ", ".join(glue),
        "fine-tuning": finetuning,
        "evaluation": evaluation,
        "importance": importance,
        "hardware": hardware,
    }
    table = pd.DataFrame(
        [
            {
                "": name,
                "the paper": PAPER_SETUP[name],
                "here": here[name] or "n/a",
                "could it matter?": MATTERS[name],
            }
            for name in PAPER_SETUP
        ]
    )
    return table, recipes


def finetune_recipes(store) -> pd.DataFrame:
    """One row per stored checkpoint: its recipe (from its spec) and its optimizer steps."""
    import math

    rows = []
    for ckpt in store.checkpoints().itertuples():
        try:
            spec = json.loads(ckpt.spec_json)
        except (TypeError, json.JSONDecodeError):
            continue
        n_train = int(ckpt.n_train or 0)
        batch = int(spec.get("batch_size", 32))
        epochs = float(spec.get("epochs", 0))
        rows.append(
            {
                "model": ckpt.model,
                "task": ckpt.task,
                "train_examples": n_train,
                "epochs": epochs,
                "lr": float(spec.get("lr", 0)),
                "batch_size": batch,
                "steps": math.ceil(math.ceil(n_train / batch) * epochs) if batch else 0,
                "frozen": bool(spec.get("freeze_embeddings", False)),
                "checkpoint": ckpt.ckpt_id,
            }
        )
    columns = ["model", "task", "train_examples", "epochs", "lr", "batch_size", "steps",
               "frozen", "checkpoint"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).sort_values(["task", "model"], ignore_index=True)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    if frame.empty:
        return "_(no data)_\n"
    frame = frame.copy()
    for column in frame.columns:
        if pd.api.types.is_float_dtype(frame[column]):
            frame[column] = frame[column].map(
                lambda v: "n/a" if pd.isna(v) else format(v, floatfmt)
            )
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)

    def cell(value) -> str:  # a "|" inside a cell would end it
        return str(value).replace("|", "\\|")

    rows = ["| " + " | ".join(map(cell, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def _save_figure(fig, path: Path) -> str:
    """PNG through vl-convert (no browser needed); the chart's Vega-Lite JSON when it cannot
    render (vl-convert-python not installed, or a conversion error), so the report still
    links the figure as data."""
    from mbp.figures import chart_image

    try:
        path.write_bytes(chart_image(fig, "png", scale=1.5))
        return path.name
    except Exception:  # keep the chart as data; the report links the JSON instead
        json_path = path.with_suffix(".json")
        json_path.write_text(fig.to_json())
        return json_path.name


def xnli_unpruned(store, summary: pd.DataFrame) -> pd.DataFrame:
    """Unpruned XNLI accuracy per (model, language): from the sweeps' 0 % point (`summary`:
    `curve_summary(store)`), else from the layer-wise runs' base score (the same pairs)."""
    rows = []
    if len(summary):
        start = summary[(summary["task"] == "xnli") & (summary["fraction"] == 0)]
        for (model, lang), group in start.groupby(["model", "lang"]):
            n = int(group["n_examples"].max())
            rows.append((model, lang, float(group["mean"].mean()), n, "sweep"))
    have = {(r[0], r[1]) for r in rows}
    layers = data.layer_models(store)
    models = layers[layers["task"] == "xnli"]["model"].unique() if len(layers) else []
    for model in models:
        drops = data.layer_drops(store, model=model, task="xnli")
        for lang, group in drops.groupby("lang"):
            if (model, lang) not in have:
                n = int(group["n_examples"].max())
                rows.append((model, lang, float(group["base_value"].iloc[0]), n, "layers"))
    frame = pd.DataFrame(rows, columns=["model", "lang", "unpruned", "n_examples", "from"])
    return frame.sort_values(["model", "unpruned"], ascending=[True, False]).reset_index(drop=True)


def english_leads(per_lang: pd.DataFrame) -> list[str]:
    """One line per model: is English's unpruned XNLI accuracy the highest of its languages?"""
    lines = []
    for model, group in per_lang.groupby("model"):
        if "en" not in set(group["lang"]) or len(group) < 2:
            continue
        en = float(group.loc[group["lang"] == "en", "unpruned"].iloc[0])
        others = group[group["lang"] != "en"]
        best = others.loc[others["unpruned"].idxmax()]
        verdict = "yes" if en > best["unpruned"] else "no"
        lines.append(
            f"{model}: English leads? {verdict} (en {en:.3f}; best other {best['lang']} "
            f"{best['unpruned']:.3f}; mean of the other {len(others)} languages "
            f"{others['unpruned'].mean():.3f})"
        )
    return lines


WEAK_MARGIN_POINTS = 5.0


def weak_finetunes(finetuned: pd.DataFrame, margin: float = WEAK_MARGIN_POINTS) -> list[str]:
    """One line per fine-tuned model that beats the majority-class baseline by less than
    `margin` points: its pruning curves say little, since a near-constant model barely moves."""
    if finetuned.empty or "points above baseline" not in finetuned:
        return []
    weak = finetuned[finetuned["points above baseline"] < margin]
    return [
        f"{row['model']} on {row['task']}: {row['metric']} {row['dev_value']:.3f} is only "
        f"{row['points above baseline']:+.1f} points above the majority-class baseline "
        f"({row['majority-class baseline']:.3f}), under the {margin:g}-point margin: treat its "
        "curves, and any claim using them, with caution"
        for row in weak.to_dict("records")
    ]


def sanity_checks(store, data_dir: str | None = None) -> dict[str, pd.DataFrame | list[str]]:
    """What a reviewer checks first: fine-tuned scores beside chance, XNLI per language, shared
    endpoints."""
    ckpts = store.checkpoints()
    finetuned = pd.DataFrame()
    if len(ckpts):
        finetuned = ckpts[["model", "task", "metric", "dev_value", "n_train"]].copy()
        # which model each number rests on: the checkpoint id and its weights' sha256 prefix
        finetuned["checkpoint"] = ckpts["ckpt_id"]
        finetuned["weights sha256"] = ckpts["weights_sha256"].map(
            lambda v: v[:12] if isinstance(v, str) else "n/a (before hashes)"
        )
        baselines = {t: majority_baseline(t, data_dir) for t in finetuned["task"].unique()}
        finetuned["majority-class baseline"] = finetuned["task"].map(baselines).astype(float)
        finetuned["points above baseline"] = 100 * (
            finetuned["dev_value"] - finetuned["majority-class baseline"]
        )
        finetuned = finetuned.sort_values(["task", "model"])
    summary = data.curve_summary(store)
    per_lang = xnli_unpruned(store, summary)
    notes: list[str] = []
    if len(summary):
        for fraction in (0.0, 1.0):
            ends = summary[summary["fraction"] == fraction]
            spread = ends.groupby(["model", "task", "lang"])["mean"].agg(
                lambda v: v.max() - v.min()
            )
            same = spread.max() < 1e-9  # means over order seeds differ by rounding only
            notes.append(
                f"at {fraction:.0%} pruned, the largest difference between orders of one "
                f"model/task/language is {0 if same else spread.max():.2g} over {len(spread)} "
                "curves" + (" (every order gives the same score)" if same else "")
            )
    both = data.curve_summary(store, protocol=None, orders=["random"])
    rand = both[both["fraction"].between(0.05, 0.95)] if len(both) else both
    spread = (
        rand.groupby(["protocol", "model", "task", "lang"], as_index=False).agg(
            seeds=("n_seeds", "max"),
            mean_std=("std", "mean"),
            max_std=("std", "max"),
            n_examples=("n_examples", "max"),
        )
        if len(rand)
        else pd.DataFrame()
    )
    return {
        "finetuned": finetuned,
        "weak_finetunes": weak_finetunes(finetuned),
        "xnli_unpruned": per_lang,
        "english": english_leads(per_lang),
        "endpoints": notes,
        "spread": spread,
    }


#: The GLUE tasks of the plan: the paper's four, with MRPC for QQP.
PLANNED_GLUE = tuple(GLUE_SPLIT)


PROTOCOL_NAMES = {
    "retrain": "the paper's protocol (heads removed from the pre-trained model, then fine-tuned)",
    "posthoc": "posthoc (heads removed from the fine-tuned model, no retraining; Michel et al.)",
}


def verdicts_table(by_protocol: dict[str, list[ClaimResult]]) -> pd.DataFrame:
    """One row per claim, one verdict (and statistic) column per protocol, the paper's first."""
    rows = []
    for number in (1, 2, 3):
        row: dict[str, Any] = {"claim": number}
        for protocol, results in by_protocol.items():
            result = next(r for r in results if r.number == number)
            row[protocol] = (
                f"{result.verdict} ({result.statistic} = {_fmt(result.value)}; "
                f"{result.interval_short})"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def survives_resampling(by_protocol: dict[str, list[ClaimResult]]) -> list[str]:
    """One line per protocol: which verdicts hold over their interval, which only on the point
    estimate (inconclusive under resampling), and which have no interval (no outcomes)."""
    lines = []
    for protocol, results in by_protocol.items():
        holds = [r for r in results if r.interval is not None and r.verdict == r.point_verdict]
        falls = [r for r in results if r.interval is not None and r.verdict != r.point_verdict]
        bare = [r for r in results if r.interval is None and r.value is not None]

        def names(group: list[ClaimResult]) -> str:
            return ", ".join(f"claim {r.number} ({r.verdict})" for r in group) or "none"

        lines.append(
            f"{protocol}: survive resampling of the evaluated examples: {names(holds)}; "
            f"{', '.join(f'claim {r.number} ({r.point_verdict})' for r in falls) or 'none'} "
            f"only on all examples (inconclusive under resampling); no interval (runs without "
            f"stored per-example outcomes): {names(bare)}"
        )
    return lines


def claim_section(result: ClaimResult, figure_name: str) -> str:
    lines = [
        f"### Claim {result.number} · {result.protocol}: {result.claim}",
        "",
        f"_Protocol: {PROTOCOL_NAMES.get(result.protocol, result.protocol)}._",
        "",
        f"**Verdict: {result.headline}.** {result.explanation}",
        "",
        f"- statistic: {result.statistic} = {_fmt(result.value)} (threshold: {result.threshold})",
        f"- uncertainty: {result.uncertainty}",
    ]
    if result.point_uncertainty:  # the chart's points: their intervals, or why none
        lines.append(f"- per-point intervals: {result.point_uncertainty}")
    for key, value in result.numbers.items():
        lines.append(
            f"- {key}: {_fmt(value) if not isinstance(value, dict | list) else json.dumps(value, default=str)}"
        )
    if result.used:
        lines.append(f"- data used: {json.dumps(result.used, default=str)}")
    used = result.used if isinstance(result.used, dict) else {}
    if result.number == 1:  # a GLUE claim: how many of the planned tasks it rests on
        tasks = used.get("tasks") or []
        if tasks and len(tasks) < len(PLANNED_GLUE):
            lines.append(
                f"- caution: this verdict rests on {len(tasks)} of the {len(PLANNED_GLUE)} planned "
                f"GLUE tasks ({', '.join(PLANNED_GLUE)}); the rest are not computed yet"
            )
    elif used.get("languages") and len(used["languages"]) < 15:
        lines.append(
            f"- caution: this verdict rests on {len(used['languages'])} of the 15 XNLI languages "
            "computed so far"
        )
    for test in result.tests:
        lines.append(
            f"- test '{test.name}': {test.outcome} (effect {_fmt(test.effect)} {test.unit}; {test.detail})"
        )
    if result.number in (1, 2) and not result.table.empty:  # the points the chart draws
        lines += [
            "",
            "Relative drop at each pruned fraction (with its 95 % interval where the runs "
            "stored per-example outcomes):",
            "",
            _table(drops_table(result)).rstrip("\n"),
        ]
    if not result.groups.empty:  # claim 3 under resampling, instead of one ranking
        lines += [
            "",
            f"How often each language is among the most bottom- or top-reliant over "
            f"{result.draws:,} resamples of the evaluated examples:",
            "",
            _table(groups_table(result.groups)).rstrip("\n"),
        ]
    lines += ["", f"![claim {result.number}](figures/{figure_name})", ""]
    return "\n".join(lines)


def english_vs_others(summary: pd.DataFrame) -> pd.DataFrame:
    """One model's XNLI curve summary as two series: English, and the mean over every other
    language (scores, bases, bands and savings averaged per protocol, order and fraction)."""
    english = summary[summary["lang"] == "en"]
    others = summary[summary["lang"] != "en"]
    if others.empty:
        return english
    numeric = ["heads_pruned", "n_seeds", "mean", "std", "min", "max", "base", "flops_saved",
               "params_saved", "speedup", "n_examples"]  # fmt: skip
    keys = ["model", "task", "protocol", "order_name", "fraction", "metric"]
    mean = others.groupby(keys, as_index=False)[numeric].mean()
    mean["lang"] = f"mean of {others['lang'].nunique()} others"
    return pd.concat([english, mean[english.columns]], ignore_index=True)


def training_seed_section(store) -> list[str]:
    """The fine-tuned dev scores' spread per recipe over training seeds and, for curve lines
    fine-tuned with several seeds, each pruned point's relative drop with its hierarchical
    interval (training seeds, then examples: mbp.analysis.training_seeds)."""
    from mbp.analysis.training_seeds import (
        dev_score_spread,
        multi_seed_sweeps,
        relative_seed_drops,
        seed_line_intervals,
    )

    checkpoints = store.checkpoints()
    head = [
        "## Training seeds",
        "",
        "Another training seed of the same fine-tuning recipe gives another model. The plan "
        "fine-tunes the claims' models with seeds 0, 1 and 2 (`mbp precompute --status`); the "
        "charts and claims use seed 0 unless a run is picked. Dev scores per recipe over its "
        "seeds (`sd`: sample standard deviation, n/a for one seed):",
        "",
        _table(dev_score_spread(checkpoints).drop(columns=["metric"]), ".4f"),
    ]
    by_task = multi_seed_sweeps(store.runs(kind="sweep"), checkpoints)
    if not by_task:
        return [*head, "One training seed so far: every stored curve rests on one fine-tune, so "
                "its intervals cover the evaluated examples only.", ""]  # fmt: skip
    metrics = data.primary_metrics()
    frames = [seed_line_intervals(store, ids, metric=metrics.get(task, "accuracy"))
              for task, ids in by_task.items()]  # fmt: skip
    drops = relative_seed_drops(pd.concat(frames, ignore_index=True))
    return [
        *head,
        "Relative drop of the lines fine-tuned with several seeds (% of the seed-mean unpruned "
        "score), with its 95 % interval from hierarchical resamples: training seeds first, then "
        "the evaluated examples, the same examples for the pruned and unpruned model (lines "
        "without stored outcomes have no row):",
        "",
        _table(drops.rename(columns={"order_name": "order", "seed": "order seed"}), ".1f"),
    ]


def cost_section(store, figures: Path) -> list[str]:
    """Accuracy against what pruning saves: e5-small on XNLI, English vs the other languages."""
    from mbp.figures import pruning_curves

    summary = data.curve_summary(store, models=["e5-small"], task="xnli", protocol=None)
    head = ["## Accuracy against cost", ""]
    if summary.empty or summary["flops_saved"].isna().all():
        return [*head, "_No e5-small XNLI curves with cost counts stored (`mbp costs`)._", ""]
    two = english_vs_others(summary)
    fig = pruning_curves(
        two, metric="accuracy", relative=True, x="flops", pareto=True,
        title="e5-small · XNLI · accuracy (% of unpruned) vs encoder FLOPs saved",
    )  # fmt: skip
    name = _save_figure(fig, figures / "cost-xnli-e5-small.png")
    all_heads = two[two["fraction"] == 1.0]
    everything = (
        f"{all_heads['flops_saved'].mean():.1f} % of the encoder FLOPs and "
        f"{all_heads['params_saved'].mean():.1f} % of the parameters (e5-small's 250k-token "
        "embedding matrix is most of them)."
        if len(all_heads)
        else "less than all of the cost (no 100 % point stored)."
    )
    at_half = (
        two[(two["fraction"] == 0.5)]
        .assign(
            relative=lambda f: 100 * f["mean"] / f["base"],
            heads_pruned=lambda f: f["heads_pruned"].round().astype(int),
        )[
            [
                "lang",
                "protocol",
                "order_name",
                "heads_pruned",
                "flops_saved",
                "params_saved",
                "relative",
            ]
        ]
        .rename(
            columns={
                "order_name": "order",
                "flops_saved": "FLOPs saved %",
                "params_saved": "params saved %",
                "relative": "% of unpruned accuracy",
            }
        )
    )
    return [
        *head,
        "What each pruned model saves, on the same chart as what it loses: encoder FLOPs per "
        "example (on the evaluated pairs' real lengths) and parameters are counted from the "
        "pruned structure (`mbp.engine.cost`, checked against a direct count); the feed-forward "
        f"blocks and the embeddings stay, so removing every head saves {everything} The "
        "outlined staircase is the Pareto front over every order and protocol shown.",
        "",
        f"![accuracy against FLOPs saved](figures/{name})",
        "",
        "At 50 % of heads pruned:",
        "",
        _table(at_half.sort_values(["protocol", "order", "lang"]), ".1f"),
    ]


def build_report(
    store, out: str | Path = "docs/REPRODUCTION.md", data_dir: str | None = None
) -> Path:
    from mbp.analysis.claims import PARITY_TOLERANCE
    from mbp.figures import claim1_figure, claim2_figure, claim3_figure

    out = Path(out)
    figures = out.parent / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    by_protocol = evaluate_both(store)
    seeded = any(max(r.training_seeds, default=1) > 1 for rs in by_protocol.values() for r in rs)
    builders = {
        1: lambda t: claim1_figure(t, tolerance=PARITY_TOLERANCE),
        2: claim2_figure,
        3: claim3_figure,
    }
    sections = []
    for protocol, results in by_protocol.items():
        suffix = "" if protocol == "posthoc" else f"-{protocol}"
        for result in results:
            name = _save_figure(
                builders[result.number](result.table),
                figures / f"claim{result.number}{suffix}.png",
            )
            sections.append(claim_section(result, name))
    sanity = sanity_checks(store, data_dir)
    counts = store.counts()
    runs = store.runs()
    progress = data.plan_progress(store)
    setup, recipes = differences(store, runs)
    steps_done = int((progress["state"] == "done").sum())
    text = [
        "# Reproducing Budhraja et al. 2021 with mbp",
        "",
        "_Generated by `mbp report` from the results store; do not edit by hand. The dashboard's "
        "Paper claims page computes the same numbers with the same code._",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from {len(runs)} runs "
        f"({counts.get('curve_points', 0)} curve points, {counts.get('head_importance', 0)} head "
        f"scores, {counts.get('layer_importance', 0)} layer rows). The exact command, model "
        "checksum, data-file sha256, seeds, device, package versions and commit of every run are "
        "in `precomputed/manifest.json`.",
        "",
        "## Setup",
        "",
        "`make precompute` (`mbp precompute --plan paper`) runs the plan below with the project's "
        "own CLI, cell by cell and resumable, then exports the store to `precomputed/`; "
        "`mbp report` writes this page. Stand-ins: **e5-small for mBERT, minilm-l6 for BERT**.",
        "",
        "## How far the plan has run",
        "",
        f"{steps_done} of {len(progress)} plan steps are finished. Each step is one `mbp` "
        "command; `mbp precompute` resumes the rest (it first merges `precomputed/` into the "
        "store, so a new machine continues where the last one stopped), and "
        "`mbp precompute --status` prints this table (`minutes`: the summed time of the "
        "step's cells on `device`: evaluations, and under the retrain protocol each cell's own "
        "fine-tune; the one fine-tune a run starts from is not counted). Claims whose data is missing "
        "say so below rather than guess.",
        "",
        _table(progress, floatfmt=".1f"),
        "## Differences from the paper's setup",
        "",
        "The paper's column is its text; ours is read from the stored runs, their checkpoints "
        "and the model registry.",
        "",
        _table(setup),
        "Fine-tuning recipes of the stored checkpoints (`steps`: optimizer steps; the plan's "
        "recipes are in `mbp/experiments/plan.py`, with why each differs from the paper's):",
        "",
        _table(
            recipes.drop(columns=["frozen"]).assign(
                epochs=recipes["epochs"].map("{:g}".format), lr=recipes["lr"].map("{:g}".format)
            )
        ),
        "## Sanity checks",
        "",
        "Fine-tuned dev scores (each model on each training task; MNLI on the held-out 10 % of "
        "its train slice), beside the score of always predicting the most frequent training "
        "label on the same examples:",
        "",
        _table(sanity["finetuned"]),
        *[f"- **weak fine-tune:** {line}" for line in sanity["weak_finetunes"]],
        "",
        "XNLI accuracy before pruning, per language (English should lead), on the evaluated "
        "pairs (`from`: the sweep's 0 % point, or the layer-wise run's unpruned score):",
        "",
        _table(sanity["xnli_unpruned"]),
        *[f"- {line}" for line in sanity["english"]],
        *[f"- {note}" for note in sanity["endpoints"]],
        "",
        "How much the random order varies between seeds under each protocol (standard deviation "
        "of the metric over seeds, at the fractions strictly between 0 % and 100 %; under retrain "
        "each seed is another fine-tuned model), and how many examples each "
        "point rests on:",
        "",
        _table(sanity["spread"], ".4f"),
        "## The paper's claims against our data",
        "",
        "Each claim is decided under each protocol with stored runs, by the same code as the "
        "Paper claims page; the paper's own protocol leads. "
        + "; ".join(f"**{p}**: {PROTOCOL_NAMES.get(p, p)}" for p in by_protocol)
        + ".",
        "",
        _table(verdicts_table(by_protocol)),
        f"Each statistic's 95 % interval comes from {DRAWS:,} paired resamples of the evaluated "
        "examples (the same examples for the pruned and unpruned models)"
        + (", and of the training seeds first where a run has several" if seeded else "")
        + ", recomputed from the stored per-example outcomes; a verdict stands only if its "
        "interval clears the threshold, else it is inconclusive. Which conclusions survive "
        "resampling:",
        "",
        *[f"- {line}" for line in survives_resampling(by_protocol)],
        "",
        *sections,
        *training_seed_section(store),
        *cost_section(store, figures),
        "## What is stored",
        "",
        _table(data.store_inventory(store)),
    ]
    out.write_text("\n".join(text) + "\n")
    return out
