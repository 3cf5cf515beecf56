"""`mbp precompute --adopt STEP ... --from DIR` (mbp.experiments.adopt): a recompute's finished
steps replace their shipped runs, a fine-tune's group goes whole, and a refusal changes nothing.

Tiny synthetic exports written through ResultsStore's API (no model runs): a three-step plan,
`solo` (minilm-l6 SST-2 on its own fine-tune) and `pair-en` / `pair-de` (XNLI on one shared
e5-small fine-tune), each with the importance run its sweeps rank heads by.
"""

from __future__ import annotations

import hashlib
import json
from argparse import Namespace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbp.errors import MbpError
from mbp.experiments.adopt import adopt, adopt_command
from mbp.experiments.plan import Step
from mbp.store import ResultsStore, export_store
from mbp.store.outcomes import outcome_row
from mbp.store.schema import RUN_TABLES

FT = ("--train-examples", "32", "--epochs", "1")
PLAN = [
    Step(
        "solo",
        ("sweep", "--model", "minilm-l6", "--task", "sst2", "--examples", "40", "--grid",
         "0,0.5,1", "--order", "importance", "reverse", *FT),
        tuple(("sweep", "minilm-l6", "sst2", "en", o) for o in ("importance", "reverse")),
    ),
    *(
        Step(
            f"pair-{lang}",
            ("sweep", "--model", "e5-small", "--task", "xnli", "--lang", lang, "--examples", "40",
             "--grid", "0,0.5,1", "--order", "importance", *FT),
            (("sweep", "e5-small", "xnli", lang, "importance"),),
        )
        for lang in ("en", "de")
    ),
]  # fmt: skip
CKPT = {"solo": "ck-minilm-sst2", "pair-en": "ck-e5-mnli", "pair-de": "ck-e5-mnli"}


def _run(store: ResultsStore, run_id: str, kind: str, key, command: str, ckpt: str) -> None:
    _, model, task, lang, method = key
    store.ensure_run(
        run_id, kind, {"kind": kind, "checkpoint": ckpt, "lang": lang}, model=model,
        model_checksum=f"sha-{model}", task=task, lang=lang, split="dev", method=method,
        seeds=[0], n_examples=40, cells_total=1, device="cpu", versions_json={"mbp": "0"},
        code_commit="c0", command=command,
    )  # fmt: skip


def _write_step(
    store: ResultsStore, step: Step, value: float, *, done: bool = True, ids: str = ""
) -> None:
    """The step's runs (ids `ids` + step-method), each one cell of curve points at `value`
    (+ outcomes), done or not."""
    labels = np.array([0, 1, 0, 1])
    for key in step.runs:
        run_id = f"{ids}{step.name}-{key[4]}"
        _run(store, run_id, "sweep", key, step.command, CKPT[step.name])
        if not done:
            continue
        points = [{"order_name": key[4], "seed": 0, "fraction": f, "heads_pruned": int(f * 2),
                   "pruned_heads": "[]", "metric": "accuracy", "value": value - f / 10,
                   "n_examples": 40} for f in (0.0, 0.5, 1.0)]  # fmt: skip
        outcomes = [outcome_row(f"{key[4]}/0/0", labels, labels, regression=False)]
        store.write_cell(run_id, f"{key[4]}/0", elapsed_s=0.1, curve_points=points,
                         outcomes=outcomes)  # fmt: skip
        store.finish_run(run_id, "done", elapsed_s=0.1)


def _write_importance(store: ResultsStore, name: str, model: str, task: str, score: float):
    key = ("importance", model, task, "en", "gradient")
    _run(store, f"imp-{name}", "importance", key, f"mbp importance --model {model}", CKPT[name])
    rows = [{"layer": 0, "head": h, "score": score + h, "estimator": "gradient",
             "normalization": "none", "n_examples": 16} for h in range(2)]  # fmt: skip
    store.write_cell(f"imp-{name}", "importance", elapsed_s=0.1, head_importance=rows)
    store.finish_run(f"imp-{name}", "done", elapsed_s=0.1)


def _checkpoints(store: ResultsStore, dev: float) -> None:
    for ckpt, model, task in (("ck-minilm-sst2", "minilm-l6", "sst2"),
                              ("ck-e5-mnli", "e5-small", "mnli")):  # fmt: skip
        store.record_checkpoint(ckpt, model=model, task=task, spec_json={"model": model},
                                path="/cache/x", metric="accuracy", dev_value=dev, n_train=32)  # fmt: skip


def _export(store: ResultsStore, out: Path) -> Path:
    extra = {"plan": "tiny", "run_data_files": {r: [{"path": r}] for r in store.runs()["run_id"]}}
    return export_store(store, out, manifest_extra=extra)


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    """shipped/ (every step done, dev 0.5, values 0.6) with the recompute inside it as
    shipped/in-progress/ (solo and pair-en done with dev 0.8 and values 0.9; pair-de started,
    not done), as precomputed/ holds precomputed/in-progress/."""
    root = tmp_path_factory.mktemp("adopt")
    shipped = ResultsStore(root / "shipped.duckdb")
    fresh = ResultsStore(root / "fresh.duckdb")
    for step in PLAN:
        _write_step(shipped, step, 0.6)
        _write_step(fresh, step, 0.9, done=step.name != "pair-de")
    for store, score in ((shipped, 1.0), (fresh, 5.0)):
        _write_importance(store, "solo", "minilm-l6", "sst2", score)
        _write_importance(store, "pair-en", "e5-small", "mnli", score)
    _checkpoints(shipped, 0.5)
    _checkpoints(fresh, 0.8)
    _export(shipped, root / "shipped")
    _export(fresh, root / "shipped" / "in-progress")
    return root / "shipped"


@pytest.fixture
def out(exports, tmp_path) -> Path:
    """A fresh copy of shipped/ (with in-progress/ inside) for each test."""
    import shutil

    return Path(shutil.copytree(exports, tmp_path / "precomputed"))


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _rows(folder: Path, table: str) -> pd.DataFrame:
    frame = pd.read_parquet(folder / f"{table}.parquet")
    return frame.sort_values(list(frame.columns[:3])).reset_index(drop=True)


def test_a_finished_self_contained_step_replaces_exactly_its_runs_and_checkpoint(out):
    before = {t: _rows(out, t) for t in ("runs", *RUN_TABLES, "checkpoints")}
    progress = _digests(out / "in-progress")

    record = adopt(["solo"], out / "in-progress", out, PLAN, command="mbp precompute --adopt solo")

    solo = {"solo-importance", "solo-reverse", "imp-solo"}
    assert set(record["runs_adopted"]) == solo and set(record["runs_replaced"]) == solo
    fresh = out / "in-progress"
    for table in ("runs", *RUN_TABLES):
        after = _rows(out, table)
        mine = after["run_id"].isin(solo)
        # every other run keeps every row and value; the adopted ones are the recompute's rows
        old = before[table][~before[table]["run_id"].isin(solo)].reset_index(drop=True)
        pd.testing.assert_frame_equal(after[~mine].reset_index(drop=True), old)
        new = _rows(fresh, table)
        new = new[new["run_id"].isin(solo)].reset_index(drop=True)
        if table == "runs":  # the import recounts cells_done: identical here
            new = new.drop(columns="updated_at")
            after = after.drop(columns="updated_at")
        pd.testing.assert_frame_equal(after[mine].reset_index(drop=True), new)
    curve = _rows(out, "curve_points").set_index("run_id")["value"]
    assert curve.loc["solo-importance"].max() == pytest.approx(0.9)  # the recompute's values
    assert curve.loc["pair-en-importance"].max() == pytest.approx(0.6)  # the shipped ones
    ckpts = _rows(out, "checkpoints").set_index("ckpt_id")["dev_value"]
    assert ckpts.to_dict() == {"ck-minilm-sst2": 0.8, "ck-e5-mnli": 0.5}
    assert _digests(out / "in-progress") == progress  # the rest of --out stays as it was

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["plan"] == "tiny" and manifest["counts"]["runs"] == len(before["runs"])
    assert manifest["adoptions"][-1]["steps"] == ["solo"]
    assert manifest["adoptions"][-1]["checkpoints"] == [
        {"ckpt_id": "ck-minilm-sst2", "metric": "accuracy", "shipped_dev": 0.5, "new_dev": 0.8}
    ]
    assert set(manifest["run_data_files"]) == set(before["runs"]["run_id"])


def _refused(out: Path, names: list[str], match: str) -> str:
    before = _digests(out)
    with pytest.raises(MbpError, match=match) as err:
        adopt(names, out / "in-progress", out, PLAN)
    assert _digests(out) == before  # nothing under --out changed
    assert "\n" not in str(err.value)  # one line
    assert not list(out.parent.glob(".*adopt-*"))  # no staged export left behind
    return str(err.value)


def test_a_step_sharing_its_fine_tune_with_an_unnamed_step_is_refused(out):
    message = _refused(out, ["pair-en"], "adopt them together")
    assert message.startswith("pair-en shares checkpoint ck-e5-mnli (e5-small mnli) with pair-de")


def test_an_unfinished_step_is_refused(out):
    message = _refused(out, ["pair-en", "pair-de"], "plan step pair-de is not finished")
    assert "sweep e5-small xnli de importance (running)" in message


def test_a_step_without_outcomes_is_refused(out):
    fresh = ResultsStore(out.parent / "no-outcomes.duckdb")
    _write_step(fresh, PLAN[0], 0.9)
    with fresh.write_transaction("drop outcomes") as txn:
        txn.con.execute("DELETE FROM outcomes WHERE run_id = 'solo-reverse'")
    _checkpoints(fresh, 0.8)
    export_store(fresh, out / "in-progress")
    _refused(out, ["solo"], r"solo .* 1 run\(s\) without per-example outcomes \(solo-reverse\)")


def test_an_unknown_step_is_named_in_one_line(out, capsys):
    from mbp.cli import main

    before = _digests(out)
    argv = ["precompute", "--adopt", "xnli-en", "no-such-step", "--from", str(out / "in-progress"),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown plan step(s) no-such-step:") and "\n" not in err
    assert _digests(out) == before


def test_from_without_adopt_is_refused(out):
    args = Namespace(adopt=[], from_dir=str(out / "in-progress"), out=str(out), plan="paper")
    with pytest.raises(MbpError, match="--adopt and --from go together"):
        adopt_command(args, PLAN)


def test_a_shipped_run_of_no_named_step_on_a_replaced_checkpoint_is_refused(out, exports):
    import shutil

    from mbp.store import import_into

    store = ResultsStore(out.parent / "with-stray.duckdb")
    import_into(store, exports)
    command = "mbp sweep --model minilm-l6 --task sst2 --order random"
    _run(store, "stray", "sweep", ("sweep", "minilm-l6", "sst2", "en", "random"), command,
         CKPT["solo"])  # fmt: skip
    export_store(store, out)  # replaces the whole export, in-progress/ included
    shutil.copytree(exports / "in-progress", out / "in-progress")
    _refused(out, ["solo"], r"^1 run\(s\) in .* \(stray: sweep minilm-l6 sst2 en random\) belong "
             r"to none of the named steps but use checkpoint\(s\) ck-minilm-sst2")  # fmt: skip


def test_a_recompute_on_a_new_fine_tune_drops_the_old_checkpoint_and_its_other_runs(
    out, monkeypatch
):
    """DIR's solo runs use a new fine-tune, so their ids differ from the shipped ones (a run's id
    hashes its spec): none is replaced by id, so every shipped run of the old fine-tune and its
    checkpoint row are deleted besides the import."""
    from mbp.experiments.adopt import summary_lines

    monkeypatch.setitem(CKPT, "solo", "ck-minilm-sst2-b")  # DIR's runs only
    monkeypatch.setitem(CKPT, "solo-b", "ck-minilm-sst2-b")
    fresh = ResultsStore(out.parent / "new-fine-tune.duckdb")
    _write_step(fresh, PLAN[0], 0.9, ids="b-")
    _write_importance(fresh, "solo-b", "minilm-l6", "sst2", 5.0)
    _checkpoints(fresh, 0.8)  # the old fine-tune's row too: not adopted, no adopted run uses it
    fresh.record_checkpoint("ck-minilm-sst2-b", model="minilm-l6", task="sst2",
                            spec_json={"model": "minilm-l6"}, path="/cache/y", metric="accuracy",
                            dev_value=0.85, n_train=32)  # fmt: skip
    _export(fresh, out / "in-progress")
    shipped_runs = set(_rows(out, "runs")["run_id"])

    record = adopt(["solo"], out / "in-progress", out, PLAN)

    assert record["runs_adopted"] == ["b-solo-importance", "b-solo-reverse", "imp-solo-b"]
    assert record["runs_replaced"] == ["imp-solo", "solo-importance", "solo-reverse"]
    new = set(record["runs_adopted"])
    assert set(_rows(out, "runs")["run_id"]) == shipped_runs - set(record["runs_replaced"]) | new
    assert set(_rows(out, "head_importance")["run_id"]) == {"imp-solo-b", "imp-pair-en"}
    specs = _rows(out, "runs").set_index("run_id")["spec_json"].map(json.loads)
    assert {specs.loc[r]["checkpoint"] for r in new} == {"ck-minilm-sst2-b"}
    curve = _rows(out, "curve_points").set_index("run_id")["value"]
    assert curve.loc["b-solo-reverse"].max() == pytest.approx(0.9)
    ckpts = _rows(out, "checkpoints").set_index("ckpt_id")["dev_value"]
    assert ckpts.to_dict() == {"ck-minilm-sst2-b": 0.85, "ck-e5-mnli": 0.5}
    assert record["checkpoints"] == [
        {"ckpt_id": "ck-minilm-sst2", "metric": "accuracy", "shipped_dev": 0.5, "new_dev": None},
        {"ckpt_id": "ck-minilm-sst2-b", "metric": "accuracy", "shipped_dev": None,
         "new_dev": 0.85},
    ]  # fmt: skip
    lines = summary_lines(record, out)
    assert (
        lines[1]
        == "runs: 0 replaced, 3 added, 3 shipped run(s) removed (other ids on the same checkpoints)"
    )
    assert "checkpoint ck-minilm-sst2 removed: accuracy 0.5000 shipped -> - new" in lines
