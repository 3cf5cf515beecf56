"""Claims over several training seeds (issue 21, items 3-4): a claim whose curves (or layer
drops) rest on runs fine-tuned with several seeds resamples the seeds, then the examples within
each (mbp.analysis.resampled.seed_mean_draws), and its point estimate is the mean over the
seeds; a line of one seed gives exactly what the examples-only path gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mbp.analysis import claims, resampled, tables
from mbp.analysis.claims import ModelPair, evaluate_claims, evaluate_claims_from
from mbp.spec import DataSpec, FinetuneSpec, RunSpec
from mbp.store import ResultsStore
from mbp.store.outcomes import UNPRUNED, outcome_row
from tests.seed_lines import write_sweep_line
from tests.test_claim_intervals import FRACTIONS, build_outcome_store, linear

PAIR = ModelPair("minilm-l6", "e5-small")
MODEL = "e5-small"


def _checkpoint(store: ResultsStore, task: str, seed: int) -> str:
    ckpt = FinetuneSpec(MODEL, f"sha-{MODEL}", "mnli" if task == "xnli" else task, 100, seed=seed)
    store.record_checkpoint(ckpt.key, model=MODEL, task=ckpt.task, spec_json=ckpt.to_json(),
                            path="/nowhere", metric="accuracy", dev_value=0.8,
                            n_train=100)  # fmt: skip
    return ckpt.key


def add_sweep_seeds(store: ResultsStore, task: str, lang: str, drops: list[float], *,
                    n: int, seed: int) -> list[str]:  # fmt: skip
    """e5-small's importance-order line on `task`/`lang`, fine-tuned with seeds 0..len(drops)-1
    on the SAME n examples: seed s right on each with probability 0.85 unpruned, a share
    drops[s] * f / 0.5 of those breaking at fraction f (nested). Its run ids by seed."""
    rng = np.random.default_rng(seed)
    classes = 3 if task == "xnli" else 2
    labels = rng.integers(0, classes, n)
    run_ids = []
    for s, at_half in enumerate(drops):
        right, fragility = rng.random(n) < 0.85, rng.random(n)
        cells = [(f, np.where(right & (fragility >= d), labels, (labels + 1) % classes))
                 for f, d in linear(at_half).items()]  # fmt: skip
        spec = RunSpec("sweep", MODEL, f"sha-{MODEL}", _checkpoint(store, task, s),
                       DataSpec(task, lang, "dev", n), "importance", grid=FRACTIONS,
                       importance=f"imp-{task}-{lang}-{s}")  # fmt: skip
        write_sweep_line(store, spec, model=MODEL, checksum=f"sha-{MODEL}", lang=lang, n=n,
                         cells=cells, labels=labels, task=task)  # fmt: skip
        store.finish_run(spec.key, "done", elapsed_s=1.0)
        run_ids.append(spec.key)
    return run_ids


def claim2_store(path, xnli: list[float], glue: list[float], n: int = 4000) -> ResultsStore:
    """e5-small on SST-2 and XNLI en with one line per language, fine-tuned with one seed per
    entry of `xnli` / `glue` (each seed's relative drop at half the heads pruned)."""
    store = ResultsStore(path)
    add_sweep_seeds(store, "sst2", "en", glue, n=n, seed=1)
    add_sweep_seeds(store, "xnli", "en", xnli, n=n, seed=2)
    return store


def examples_only(store: ResultsStore, pair: ModelPair) -> list[claims.ClaimResult]:
    """The claims as they were before training seeds reached them: the shown (seed-0) runs'
    stored values and their examples-only resamples."""
    curves = tables.curve_summary(store)
    drops = tables.layer_drops(store, model=pair.mbert, task="xnli")
    draws = resampled.curve_draws(store, protocol="posthoc", max_fraction=claims.MAX_FRACTION)
    layers = resampled.layer_draws(store, model=pair.mbert)
    return evaluate_claims_from(curves, drops, tables.language_table(), pair, "posthoc", draws,
                                layers)  # fmt: skip


def assert_same(results: list[claims.ClaimResult], before: list[claims.ClaimResult]) -> None:
    for now, then in zip(results, before, strict=True):
        assert (now.verdict, now.point_verdict, now.value) == (
            then.verdict, then.point_verdict, then.value)  # fmt: skip
        assert now.interval == then.interval and now.draws == then.draws
        assert (now.explanation, now.uncertainty, now.point_uncertainty) == (
            then.explanation, then.uncertainty, then.point_uncertainty)  # fmt: skip
        assert now.training_seeds in ((), (1,))
        pd.testing.assert_frame_equal(now.table, then.table)
        pd.testing.assert_frame_equal(now.groups, then.groups)


# ----------------------------------------------------------------------------- one seed


def test_one_training_seed_gives_exactly_the_examples_only_claims(tmp_path):
    # runs on recorded fine-tunes of one seed, and runs on no recorded fine-tune at all
    one_seed = claim2_store(tmp_path / "one.duckdb", xnli=[0.20], glue=[0.08], n=1500)
    results = evaluate_claims(one_seed, PAIR)
    assert results[1].interval is not None and results[1].verdict == "supported"
    assert_same(results, examples_only(one_seed, PAIR))
    assert "training seed" not in results[1].explanation + results[1].uncertainty
    no_checkpoints = build_outcome_store(tmp_path / "plain.duckdb")
    results = evaluate_claims(no_checkpoints, PAIR)
    assert all(r.interval is not None for r in results)
    assert_same(results, examples_only(no_checkpoints, PAIR))


# ----------------------------------------------------------------------------- several seeds


@pytest.fixture(scope="module")
def diverse(tmp_path_factory) -> ResultsStore:
    """Seed 0 (the one the charts show) costs XNLI 12 points more than GLUE at half the heads;
    seed 1 costs it 4 points less; seed 2 12 more: the gap depends on the fine-tune."""
    path = tmp_path_factory.mktemp("seeds") / "diverse.duckdb"
    return claim2_store(path, xnli=[0.20, 0.08, 0.22], glue=[0.08, 0.12, 0.10])


def test_seeds_that_disagree_make_a_claim_inconclusive_that_seed_0_alone_supports(diverse):
    alone = examples_only(diverse, PAIR)[1]
    assert alone.verdict == "supported" and alone.interval.low > claims.XNLI_MARGIN
    result = evaluate_claims(diverse, PAIR)[1]
    assert result.point_verdict == "supported" and result.value >= claims.XNLI_MARGIN
    assert result.verdict == "inconclusive"
    assert result.training_seeds == (3,) and result.draws == resampled.DRAWS
    assert result.interval.low < claims.XNLI_MARGIN <= result.interval.high
    assert result.interval.width > 3 * alone.interval.width
    assert "3 training seeds and the evaluated examples within each" in result.uncertainty
    assert "over 3 training seeds and the evaluated examples" in result.explanation
    assert "mean over 3 training seeds" in result.explanation
    assert "3 training seeds" in result.point_uncertainty
    assert result.table["relative_drop_low"].notna().all()


def test_seeds_that_agree_keep_the_verdict(tmp_path):
    store = claim2_store(tmp_path / "calm.duckdb", xnli=[0.20, 0.20, 0.20],
                         glue=[0.08, 0.08, 0.08])  # fmt: skip
    result = evaluate_claims(store, PAIR)[1]
    assert result.training_seeds == (3,)
    assert result.verdict == result.point_verdict == "supported"
    assert result.interval.low > claims.XNLI_MARGIN


def test_the_point_estimate_is_the_mean_over_the_training_seeds(diverse):
    result = evaluate_claims(diverse, PAIR)[1]
    points = diverse.curve_points(metric="accuracy")
    # every seed's stored value, averaged over the seeds (each run one order seed)
    per_seed = points.groupby(["task", "lang", "fraction"])["value"].agg(["mean", "size"])
    assert (per_seed["size"] == 3).all()
    table = result.table.set_index(["task", "lang", "fraction"])
    expected = per_seed["mean"].reindex(table.index)
    assert table["mean"].to_numpy() == pytest.approx(expected.to_numpy())
    bases = per_seed.xs(0.0, level="fraction")["mean"]
    assert table["base"].to_numpy() == pytest.approx(
        bases.reindex(table.index.droplevel("fraction")).to_numpy()
    )
    # the statistic follows from those means; seed 0's alone differs
    rel = 1 - table["mean"] / table["base"]
    gap = rel.xs("xnli", level="task").droplevel("lang") - rel.xs("sst2", level="task").droplevel(
        "lang"
    )
    assert result.value == pytest.approx(gap.mean())
    assert abs(result.value - examples_only(diverse, PAIR)[1].value) > 0.01


# ----------------------------------------------------------------------------- layer drops

LANGS = {"en": (0.05, 0.30), "fr": (0.08, 0.25), "de": (0.10, 0.20), "tr": (0.30, 0.06),
         "sw": (0.35, 0.05)}  # fmt: skip


def add_layer_seeds(store: ResultsStore, lang: str, profiles: list[tuple[float, float]],
                    n: int, rng) -> None:  # fmt: skip
    """e5-small's layer-wise XNLI run on `lang`, one per training seed (bottom and top thirds'
    shares of right examples broken), all on the same n examples, with outcomes."""
    labels = rng.integers(0, 3, n)
    for s, (bottom, top) in enumerate(profiles):
        spec = RunSpec("layers", MODEL, f"sha-{MODEL}", _checkpoint(store, "xnli", s),
                       DataSpec("xnli", lang, "test", n), "remove-layer")  # fmt: skip
        store.ensure_run(spec.key, "layers", spec.to_json(), model=MODEL,
                         model_checksum=f"sha-{MODEL}", task="xnli", lang=lang, split="test",
                         method="remove-layer", seeds=[0], n_examples=n, cells_total=1,
                         device="cpu", versions_json=None, code_commit=None,
                         command=None)  # fmt: skip
        right, fragility = rng.random(n) < 0.75, rng.random(n)
        base_preds = np.where(right, labels, (labels + 1) % 3)
        base = float((base_preds == labels).mean())
        rows, outs = [], [outcome_row(UNPRUNED, base_preds, labels, regression=False)]
        for target, drop in (("group:bottom", bottom), ("group:middle", 0.05),
                             ("group:top", top)):  # fmt: skip
            preds = np.where(right & (fragility >= drop), labels, (labels + 1) % 3)
            value = float((preds == labels).mean())
            rows.append({"target": target, "layers": "[]", "metric": "accuracy",
                         "base_value": base, "value": value, "drop": base - value})  # fmt: skip
            outs.append(outcome_row(target, preds, labels, regression=False))
        store.write_cell(spec.key, "groups", elapsed_s=0.1, layer_importance=rows, outcomes=outs)
        store.finish_run(spec.key, "done", elapsed_s=0.1)


def test_claim3_layer_drops_combine_the_training_seeds(tmp_path):
    store = ResultsStore(tmp_path / "layers.duckdb")
    rng = np.random.default_rng(7)
    for lang, (bottom, top) in LANGS.items():  # seed 1 swaps the thirds: layers seed-dependent
        add_layer_seeds(store, lang, [(bottom, top), (top, bottom), (bottom, top)], 600, rng)
    result = evaluate_claims(store, PAIR)[2]
    assert result.training_seeds == (3,) and result.draws == resampled.DRAWS
    assert "3 training seeds and the evaluated examples within each" in result.uncertainty
    assert "resample of the training seeds and examples" in result.explanation
    # each language's reliance is the mean over its seeds' stored drops, in points
    stored = store.sql("SELECT r.lang, l.target, avg(l.\"drop\") AS d FROM layer_importance l "
                       "JOIN runs r USING (run_id) GROUP BY ALL")  # fmt: skip
    wide = stored.pivot(index="lang", columns="target", values="d")
    expected = 100 * (wide["group:bottom"] - wide["group:top"])
    shown = result.table.set_index("lang")["reliance"]
    assert shown.to_numpy() == pytest.approx(expected.reindex(shown.index).to_numpy())
    # seed 0 alone puts sw far from en; over the seeds the intervals are far wider
    alone = examples_only(store, PAIR)[2].table.set_index("lang")
    width = result.table.set_index("lang").eval("reliance_high - reliance_low")
    assert (width > 2 * alone.eval("reliance_high - reliance_low")).all()


def test_the_report_says_the_intervals_cover_the_training_seeds(diverse, tmp_path):
    from mbp.analysis.report import build_report

    result = evaluate_claims(diverse, PAIR)[1]
    text = build_report(diverse, tmp_path / "docs" / "REPRODUCTION.md").read_text()
    assert f"- uncertainty: {result.uncertainty}" in text
    assert "3 training seeds and the evaluated examples within each" in text
    assert "and of the training seeds first where a run has several" in text


def test_a_one_seed_curve_beside_seeded_ones_keeps_its_own_intervals(tmp_path):
    """While the plan's seed steps run, some lines have 3 seeds and others 1 (or a seed run
    still lacks cells): the one-seed curves' points keep their examples-only intervals."""
    store = ResultsStore(tmp_path / "mixed.duckdb")
    add_sweep_seeds(store, "sst2", "en", [0.08, 0.12, 0.10], n=1500, seed=1)
    add_sweep_seeds(store, "xnli", "en", [0.20], n=1500, seed=2)
    result = evaluate_claims(store, PAIR)[1]
    assert result.training_seeds == (1, 3)
    assert "1 to 3 training seeds per curve" in result.uncertainty
    before = examples_only(store, PAIR)[1].table.set_index("series")
    table = result.table.set_index("series")
    cols = ["mean", "base", "relative_drop_low", "relative_drop_high"]
    pd.testing.assert_frame_equal(table.loc[["XNLI en"], cols], before.loc[["XNLI en"], cols])
    assert not np.allclose(table.loc["GLUE sst2", "mean"], before.loc["GLUE sst2", "mean"])


def test_a_seed_run_without_every_points_outcomes_is_left_out(tmp_path):
    store = ResultsStore(tmp_path / "partial.duckdb")
    add_sweep_seeds(store, "sst2", "en", [0.08, 0.12], n=1200, seed=1)
    add_sweep_seeds(store, "xnli", "en", [0.20, 0.10], n=1200, seed=2)
    # seed 2 of SST-2 has stored its unpruned cell only so far
    spec = RunSpec("sweep", MODEL, f"sha-{MODEL}", _checkpoint(store, "sst2", 2),
                   DataSpec("sst2", "en", "dev", 1200), "importance", grid=FRACTIONS,
                   importance="imp-sst2-en-2")  # fmt: skip
    labels = np.zeros(1200, dtype=np.int64)
    write_sweep_line(store, spec, model=MODEL, checksum=f"sha-{MODEL}", lang="en", n=1200,
                     cells=[(0.0, labels)], labels=labels)  # fmt: skip
    result = evaluate_claims(store, PAIR)[1]
    assert result.training_seeds == (2,) and result.interval is not None
    assert "2 training seeds" in result.uncertainty
