"""`mbp report` writes REPRODUCTION.md from the store with the claims page's own numbers."""

from __future__ import annotations

import pytest

from mbp.analysis.claims import evaluate_claims
from mbp.analysis.report import _fmt, build_report
from mbp.store import ResultsStore
from tests.fixtures.store_fixture import build_fixture_store


def test_report_carries_every_claim_number_and_a_figure(tmp_path):
    build_fixture_store(tmp_path / "store.duckdb")
    store = ResultsStore(tmp_path / "store.duckdb", read_only=True)
    out = build_report(store, tmp_path / "docs" / "REPRODUCTION.md")
    text = out.read_text()
    for result in evaluate_claims(store):
        assert f"### Claim {result.number}" in text
        assert f"**Verdict: {result.headline}.**" in text
        assert f"{result.statistic} = {_fmt(result.value)}" in text
        figure = [
            p
            for p in (tmp_path / "docs" / "figures").iterdir()
            if p.stem == f"claim{result.number}"
        ]
        assert figure and figure[0].stat().st_size > 1000
    assert "| e5-small | en |" in text  # XNLI per-language sanity table
    assert "every order gives the same score" in text
    assert "## How far the plan has run" in text and "| xnli-layers |" in text
    assert "English leads? yes" in text  # the fixture's English is its best language


def test_majority_baseline_is_the_most_frequent_training_label_on_the_dev_set(shared_data_dir):
    import pandas as pd

    from mbp.tasks.scoring import majority_baseline

    glue = shared_data_dir / "glue" / "SST-2"
    train = pd.read_csv(glue / "train.tsv", sep="\t", quoting=3)
    dev = pd.read_csv(glue / "dev.tsv", sep="\t", quoting=3)
    expected = float((dev["label"] == train["label"].mode()[0]).mean())
    assert majority_baseline("sst2", str(shared_data_dir)) == expected
    assert 0.45 < expected < 0.55  # SST-2 dev is balanced


def test_english_leads_names_the_best_other_language():
    import pandas as pd

    from mbp.analysis.report import english_leads

    frame = pd.DataFrame(
        {"model": ["m"] * 3, "lang": ["en", "de", "sw"], "unpruned": [0.6, 0.62, 0.4]}
    )
    (line,) = english_leads(frame)
    assert "English leads? no" in line and "best other de 0.620" in line


def _plan_runs(rows):
    """A store.runs()-like frame; each run's command is its plan step's (with this machine's
    --store and --device, which do not change what a run computed)."""
    import pandas as pd

    from mbp.experiments.plan import paper_plan

    steps = {s.name: s for s in paper_plan()}
    local = " --store /tmp/x.duckdb --device cpu"
    return pd.DataFrame(
        [(*row[:6], steps[row[6]].command + local if row[6] in steps else row[6]) for row in rows],
        columns=["kind", "model", "task", "lang", "method", "status", "command"],
    )


def test_plan_status_counts_done_unfinished_and_missing_runs():
    from mbp.experiments.plan import paper_plan, plan_status

    runs = _plan_runs(
        [
            ("sweep", "e5-small", "xnli", "en", "importance", "done", "xnli-en"),
            ("sweep", "e5-small", "xnli", "en", "reverse", "running", "xnli-en"),
            ("sweep", "e5-small", "xnli", "en", "reverse", "done", "xnli-en"),  # finished wins
            ("sweep", "e5-small", "xnli", "en", "random", "done", "xnli-en"),
            ("sweep", "e5-small", "xnli", "tr", "random", "partial", "xnli-tr"),
        ]
    )
    rows = {r["step"]: r for r in plan_status(runs, paper_plan())}
    assert rows["xnli-en"]["state"] == "done" and rows["xnli-en"]["done"] == 3
    tr = rows["xnli-tr"]
    assert (tr["state"], tr["done"], tr["unfinished"], tr["not started"]) == (
        "in progress",
        0,
        1,
        2,
    )
    assert rows["xnli-layers"]["runs"] == 15 and rows["xnli-layers"]["state"] == "not started"


def test_plan_status_counts_only_runs_made_with_the_steps_parameters():
    """A store holding the smoke plan (64 examples, 3-point grid) or any other settings for the
    same model, task, language and order does not finish the paper's steps."""
    from mbp.experiments.plan import paper_plan, plan_status, smoke_plan

    smoke = {s.name: s.command for s in smoke_plan()}
    glue = next(s for s in paper_plan() if s.name == "glue-sst2-minilm-l6").command
    runs = _plan_runs(
        [
            ("sweep", "minilm-l6", "sst2", "en", o, "done", smoke["smoke-sweep"])
            for o in ("importance", "reverse", "random")
        ]
        + [
            # the step's command with one thing changed each time
            (
                "sweep",
                "minilm-l6",
                "sst2",
                "en",
                "importance",
                "done",
                glue.replace("--examples 500", "--examples 499"),
            ),
            (
                "sweep",
                "minilm-l6",
                "sst2",
                "en",
                "reverse",
                "done",
                glue.replace("--grid 0:1:0.1", "--grid 0:1:0.2"),
            ),
            (
                "sweep",
                "minilm-l6",
                "sst2",
                "en",
                "random",
                "done",
                glue.replace("--seeds 0 1 2", "--seeds 0 1"),
            ),
        ]
    )
    rows = {r["step"]: r for r in plan_status(runs, paper_plan())}
    assert rows["glue-sst2-minilm-l6"]["done"] == 0
    assert rows["glue-sst2-minilm-l6"]["state"] == "not started"
    # a different fine-tuning recipe is a different model
    recipe = glue.replace("--epochs 2", "--epochs 3")
    runs = _plan_runs(
        [
            ("sweep", "minilm-l6", "sst2", "en", "importance", "done", recipe),
            ("sweep", "minilm-l6", "sst2", "en", "reverse", "done", glue),
            ("sweep", "minilm-l6", "sst2", "en", "random", "done", glue),
        ]
    )
    rows = {r["step"]: r for r in plan_status(runs, paper_plan())}
    assert rows["glue-sst2-minilm-l6"]["done"] == 2
    # the smoke plan's own steps are done by the smoke runs
    smoke_runs = _plan_runs(
        [
            ("sweep", "minilm-l6", "sst2", "en", o, "done", smoke["smoke-sweep"])
            for o in ("importance", "reverse", "random")
        ]
    )
    assert plan_status(smoke_runs, smoke_plan())[0]["state"] == "done"


def test_weak_finetunes_flags_only_models_near_the_majority_baseline():
    import pandas as pd

    from mbp.analysis.report import weak_finetunes

    frame = pd.DataFrame(
        {
            "model": ["a", "b"],
            "task": ["mrpc", "sst2"],
            "metric": ["f1", "accuracy"],
            "dev_value": [0.826, 0.856],
            "majority-class baseline": [0.812, 0.509],
        }
    )
    frame["points above baseline"] = 100 * (frame["dev_value"] - frame["majority-class baseline"])
    lines = weak_finetunes(frame)
    assert len(lines) == 1
    assert lines[0].startswith("a on mrpc: f1 0.826 is only +1.4 points above")
    assert weak_finetunes(frame, margin=1.0) == []


@pytest.mark.slow
def test_the_shipped_report_is_what_the_code_makes_of_the_shipped_results(
    tmp_path, shared_data_dir
):
    """docs/REPRODUCTION.md is generated, never hand-edited: re-importing precomputed/ into a
    fresh store and running `mbp report` gives the committed text (all but its date line)."""
    from pathlib import Path

    from mbp.store import ResultsStore, import_into

    root = Path(__file__).resolve().parents[1]
    store = ResultsStore(tmp_path / "store.duckdb")
    import_into(store, str(root / "precomputed"))
    out = build_report(
        ResultsStore(tmp_path / "store.duckdb", read_only=True),
        tmp_path / "docs" / "REPRODUCTION.md",
        data_dir=str(shared_data_dir),
    )

    def body(path: Path) -> list[str]:
        return [line for line in path.read_text().splitlines() if not line.startswith("Generated")]

    assert body(out) == body(root / "docs" / "REPRODUCTION.md")


def test_the_differences_from_the_paper_are_read_from_the_store(tmp_path):
    """Nothing in the setup table is typed by hand: it follows the stored runs and checkpoints."""
    from mbp.analysis.report import differences

    store = build_fixture_store(tmp_path / "store.duckdb")
    setup, recipes = differences(store, store.runs())
    here = dict(zip(setup[""], setup["here"], strict=True))
    assert "e5-small" in here["models"] and "minilm-l6" in here["models"]
    assert here["depth"] == "e5-small 12 x 12; minilm-l6 6 x 12"
    assert here["evaluation"] == "sst2: 500 examples; xnli: 500 examples"
    assert here["hardware"] == f"{len(store.runs())} runs on cpu"
    assert "2-core" not in " ".join(setup["here"])
    assert sorted(recipes["checkpoint"]) == ["ckpt-e5-small-sst2", "ckpt-minilm-l6-sst2"]


def test_report_and_claims_page_agree_under_both_protocols(tmp_path):
    """The report decides each claim under each stored protocol with the claims page's code:
    every verdict, statistic and number of either protocol appears in its own section."""
    from mbp.analysis.claims import evaluate_both
    from tests.fixtures.store_fixture import add_retrain_runs

    store = build_fixture_store(tmp_path / "store.duckdb")
    add_retrain_runs(store)
    out = build_report(store, tmp_path / "docs" / "REPRODUCTION.md")
    text = out.read_text()
    sections = text.split("### Claim ")[1:]
    results = evaluate_both(store)
    assert list(results) == ["retrain", "posthoc"]
    for protocol, claims in results.items():
        for result in claims:
            (section,) = [s for s in sections if s.startswith(f"{result.number} · {protocol}:")]
            assert f"**Verdict: {result.headline}.**" in section
            assert f"{result.statistic} = {_fmt(result.value)}" in section
            for key, value in result.numbers.items():
                if not isinstance(value, dict | list):
                    assert f"- {key}: {_fmt(value)}" in section
    # the paper's protocol leads, in the verdict table and in the sections
    assert sections[0].startswith("1 · retrain:")
    assert "| claim | retrain | posthoc |" in text
    assert (tmp_path / "docs" / "figures" / "claim3-retrain.png").exists()


def test_report_figures_are_png_and_fall_back_to_the_charts_json(tmp_path, monkeypatch):
    import json

    import mbp.figures
    from mbp.analysis.report import _save_figure

    chart = mbp.figures.empty_figure("no runs")
    assert _save_figure(chart, tmp_path / "a.png") == "a.png"
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"  # vl-convert, no browser

    def no_renderer(*args, **kwargs):
        raise ImportError("No module named 'vl_convert'")

    monkeypatch.setattr(mbp.figures, "chart_image", no_renderer)
    assert _save_figure(chart, tmp_path / "b.png") == "b.json"  # the report links the data
    spec = json.loads((tmp_path / "b.json").read_text())
    assert "vega-lite" in spec["$schema"] and not (tmp_path / "b.png").exists()
