"""ResultsStore basics on tmp_path stores: create/reopen, cells, queries, reset/delete, tokens.

.venv/bin/python -m pytest tests/test_store.py -q
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from mbp.errors import MbpError
from mbp.store import SCHEMA_VERSION, TABLES, ResultsStore
from mbp.store.schema import COLUMNS, KEYS, MIGRATIONS


def start_run(store: ResultsStore, run_id: str = "run-a", **overrides: object) -> None:
    """ensure_run with plausible provenance (overrides replace any keyword)."""
    kwargs: dict[str, object] = {
        "model": "e5-small",
        "model_checksum": "abc123",
        "task": "xnli",
        "lang": "en",
        "split": "dev",
        "method": "random",
        "seeds": [0, 1],
        "n_examples": 100,
        "cells_total": 3,
        "device": "cpu",
        "versions_json": {"torch": "2.4", "mbp": "0.1.0"},
        "code_commit": "deadbeef",
        "command": f"mbp sweep --run {run_id}",
    }
    kind = overrides.pop("kind", "sweep")
    kwargs.update(overrides)
    store.ensure_run(run_id, kind, {"run": run_id}, **kwargs)  # type: ignore[arg-type]


def curve(order: str, seed: int = 0, value: float = 0.8, n: int = 5) -> list[dict[str, object]]:
    """n curve points of one order/seed (accuracy at fractions 0, 1/(n-1), ..., 1)."""
    return [
        {
            "order_name": order,
            "seed": seed,
            "fraction": i / (n - 1),
            "heads_pruned": i * 3,
            "pruned_heads": [[0, h] for h in range(i)],
            "metric": "accuracy",
            "value": value - 0.1 * i,
            "n_examples": 100,
        }
        for i in range(n)
    ]


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return ResultsStore(tmp_path / "results.duckdb")


def test_file_created_by_first_write_and_reopened(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "results.duckdb"
    store = ResultsStore(path)
    assert not path.exists()
    assert store.counts() == dict.fromkeys(TABLES, 0)
    assert store.version_token() == "absent"
    start_run(store)
    assert path.is_file()

    again = ResultsStore(path)
    runs = again.runs()
    assert list(runs["run_id"]) == ["run-a"]
    row = runs.iloc[0]
    assert (row["kind"], row["status"], row["cells_done"], row["cells_total"]) == (
        "sweep",
        "running",
        0,
        3,
    )
    assert row["seeds"] == "[0, 1]"
    assert row["versions_json"] == '{"mbp": "0.1.0", "torch": "2.4"}'
    meta = dict(again.sql("SELECT key, value FROM meta").values.tolist())
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert meta["created_by"].startswith("mbp")


def test_ensure_run_twice_resumes_and_keeps_created_at(store: ResultsStore) -> None:
    start_run(store)
    first = store.runs().iloc[0]
    store.finish_run("run-a", "failed", error="CUDA out of memory", elapsed_s=12.5)
    failed = store.runs().iloc[0]
    assert (failed["status"], failed["error"], failed["elapsed_s"]) == (
        "failed",
        "CUDA out of memory",
        12.5,
    )
    start_run(store)
    resumed = store.runs().iloc[0]
    assert resumed["status"] == "running"
    assert resumed["error"] is None
    assert resumed["created_at"] == first["created_at"]
    assert resumed["updated_at"] > first["updated_at"]
    assert len(store.runs()) == 1


def test_write_cell_is_idempotent(store: ResultsStore) -> None:
    start_run(store)
    assert store.write_cell("run-a", "random/0", elapsed_s=1.5, curve_points=curve("random"))
    counts, token = store.counts(), store.version_token()
    assert counts["cells"] == 1 and counts["curve_points"] == 5

    assert not store.write_cell("run-a", "random/0", elapsed_s=9.0, curve_points=curve("random"))
    assert store.counts() == counts
    assert store.version_token() == token  # a skipped write changes nothing
    assert store.finished_cells("run-a") == {"random/0"}
    assert store.runs().iloc[0]["cells_done"] == 1


def test_write_cell_replace_overwrites_rows(store: ResultsStore) -> None:
    start_run(store)
    store.write_cell("run-a", "random/0", elapsed_s=1.0, curve_points=curve("random", value=0.8))
    assert store.write_cell(
        "run-a", "random/0", elapsed_s=2.0, curve_points=curve("random", value=0.6), replace=True
    )
    points = store.curve_points("run-a")
    assert len(points) == 5
    assert points["value"].iloc[0] == pytest.approx(0.6)
    assert store.sql("SELECT elapsed_s FROM cells")["elapsed_s"].tolist() == [2.0]
    assert store.runs().iloc[0]["cells_done"] == 1


def test_write_cell_all_row_kinds_and_queries(store: ResultsStore) -> None:
    start_run(store, "sweep-en")
    start_run(store, "sweep-de", lang="de")
    start_run(store, "imp-en", kind="importance", method="gradient", model="mbert")
    start_run(store, "layers-en", kind="layers", method="layer-drop")
    store.write_cell("sweep-en", "random/0", elapsed_s=1.0, curve_points=curve("random"))
    store.write_cell("sweep-en", "random/1", elapsed_s=1.0, curve_points=curve("random", seed=1))
    store.write_cell("sweep-de", "random/0", elapsed_s=1.0, curve_points=curve("random"))
    heads = pd.DataFrame(
        {
            "layer": [layer for layer in range(2) for _ in range(3)],
            "head": [h for _ in range(2) for h in range(3)],
            "score": [0.1 * i for i in range(6)],
            "estimator": "gradient",
            "normalization": "layer",
            "n_examples": 64,
        }
    )
    store.write_cell("imp-en", "all", elapsed_s=3.0, head_importance=heads)
    layers = [
        {
            "target": f"layer:{i}",
            "layers": [i],
            "metric": m,
            "base_value": 0.8,
            "value": 0.8 - 0.1 * i,
            "drop": 0.1 * i,
        }
        for i in range(3)
        for m in ("accuracy", "f1")
    ]
    store.write_cell("layers-en", "singles", elapsed_s=2.0, layer_importance=layers)

    en = store.curve_points(model="e5-small", lang="en", metric="accuracy")
    assert set(en["run_id"]) == {"sweep-en"} and len(en) == 10
    assert list(en.columns[:5]) == ["run_id", "model", "task", "lang", "method"]
    assert en["pruned_heads"].iloc[2] == "[[0,0],[0,1]]"
    assert len(store.curve_points(lang=["en", "de"])) == 15
    assert len(store.curve_points(["sweep-de"])) == 5
    assert store.curve_points(metric="f1").empty

    imp = store.head_importance(model="mbert")
    assert len(imp) == 6 and imp["method"].unique().tolist() == ["gradient"]
    assert store.head_importance(model="e5-small").empty
    drops = store.layer_importance(metric="f1")
    assert drops["target"].tolist() == ["layer:0", "layer:1", "layer:2"]
    assert drops["layers"].tolist() == ["[0]", "[1]", "[2]"]
    assert drops["drop"].tolist() == pytest.approx([0.0, 0.1, 0.2])

    assert len(store.runs(lang="en")) == 3
    assert set(store.runs(kind=["importance", "layers"])["run_id"]) == {"imp-en", "layers-en"}
    assert store.runs(status="done").empty
    with pytest.raises(MbpError, match="'colour' is not a runs column"):
        store.runs(colour="red")
    assert store.counts() == {
        "runs": 4,
        "cells": 5,
        "curve_points": 15,
        "head_importance": 6,
        "layer_importance": 6,
        "latency": 0,
        "run_jobs": 0,
        "outcomes": 0,
        "checkpoints": 0,
    }


def test_docs_example_query_runs(store: ResultsStore) -> None:
    start_run(store, "layers-en", kind="layers")
    rows = [
        {
            "target": t,
            "layers": [i],
            "metric": "accuracy",
            "base_value": 0.8,
            "value": v,
            "drop": 0.8 - v,
        }
        for i, (t, v) in enumerate([("layer:0", 0.7), ("layer:1", 0.5), ("group:bottom", 0.4)])
    ]
    store.write_cell("layers-en", "all", elapsed_s=1.0, layer_importance=rows)
    result = store.sql(
        "SELECT r.lang, arg_max(l.target, l.drop) AS most_important_layer, max(l.drop) AS drop "
        "FROM layer_importance l JOIN runs r USING (run_id) "
        "WHERE l.target LIKE 'layer:%' GROUP BY r.lang ORDER BY r.lang"
    )
    assert result.to_dict("records") == [
        {"lang": "en", "most_important_layer": "layer:1", "drop": pytest.approx(0.3)}
    ]


def test_write_cell_errors(store: ResultsStore) -> None:
    with pytest.raises(MbpError, match="run 'nope' is not in the store"):
        store.write_cell("nope", "c", elapsed_s=1.0, curve_points=curve("random"))
    start_run(store)
    bad = [{k: v for k, v in row.items() if k != "metric"} for row in curve("random")]
    with pytest.raises(MbpError, match=r"missing columns \['metric'\]"):
        store.write_cell("run-a", "c", elapsed_s=1.0, curve_points=bad)
    with pytest.raises(MbpError, match="already in the store or repeated"):
        store.write_cell("run-a", "c", elapsed_s=1.0, curve_points=curve("random") * 2)
    with pytest.raises(MbpError, match="run kind 'sweeep' is unknown"):
        start_run(store, "x", kind="sweeep")
    with pytest.raises(MbpError, match="run status 'finished' is unknown"):
        store.finish_run("run-a", "finished")  # type: ignore[arg-type]
    assert store.counts()["cells"] == 0 and store.counts()["curve_points"] == 0


def test_reset_run_keeps_run_and_delete_run_removes_all(store: ResultsStore) -> None:
    start_run(store)
    start_run(store, "run-b")
    for run in ("run-a", "run-b"):
        store.write_cell(run, "random/0", elapsed_s=1.0, curve_points=curve("random"))
        store.write_cell(run, "random/1", elapsed_s=1.0, curve_points=curve("random", seed=1))
    assert store.reset_run("run-a")
    assert store.finished_cells("run-a") == set()
    assert store.runs(run_id="run-a").iloc[0]["cells_done"] == 0
    assert set(store.curve_points()["run_id"]) == {"run-b"}
    assert store.write_cell("run-a", "random/0", elapsed_s=1.0, curve_points=curve("random"))

    assert store.delete_run("run-a")
    assert not store.delete_run("run-a")
    assert not store.reset_run("missing")
    assert store.runs()["run_id"].tolist() == ["run-b"]
    assert store.counts() == {
        "runs": 1,
        "cells": 2,
        "curve_points": 10,
        "head_importance": 0,
        "layer_importance": 0,
        "latency": 0,
        "run_jobs": 0,
        "outcomes": 0,
        "checkpoints": 0,
    }


def test_checkpoints(store: ResultsStore) -> None:
    assert store.find_checkpoint("ck1") is None
    store.record_checkpoint(
        "ck1",
        model="mbert",
        task="mnli",
        spec_json={"lr": 2e-5},
        path=Path("/cache/ck1"),
        metric="accuracy",
        dev_value=0.82,
        n_train=392702,
    )
    found = store.find_checkpoint("ck1")
    assert found is not None
    assert (found["path"], found["dev_value"], found["spec_json"]) == (
        "/cache/ck1",
        0.82,
        '{"lr": 2e-05}',
    )
    store.record_checkpoint(
        "ck1",
        model="mbert",
        task="mnli",
        spec_json="{}",
        path="/cache/ck1b",
        metric="accuracy",
        dev_value=0.83,
        n_train=10,
    )
    assert store.checkpoints()["path"].tolist() == ["/cache/ck1b"]


def test_delete_checkpoint_refused_while_a_run_uses_it(store: ResultsStore) -> None:
    store.record_checkpoint(
        "ck1", model="m", task="mrpc", spec_json="{}", path="/c", metric="f1", dev_value=0.8,
        n_train=1,
    )  # fmt: skip
    store.ensure_run(
        "r1", "sweep", {"checkpoint": "ck1"}, model="m", model_checksum="c", task="mrpc",
        lang="en", split="dev", method="random", seeds=[0], n_examples=1, cells_total=1,
        device="cpu", versions_json="{}", code_commit="x", command="mbp sweep",
    )  # fmt: skip
    with pytest.raises(MbpError, match="checkpoint 'ck1' is used by 1 stored run"):
        store.delete_checkpoint("ck1")
    assert len(store.checkpoints()) == 1
    assert store.delete_run("r1")
    assert store.delete_checkpoint("ck1")
    assert len(store.checkpoints()) == 0
    assert not store.delete_checkpoint("ck1")


def test_version_token_changes_on_every_write(store: ResultsStore) -> None:
    tokens = [store.version_token()]

    def changed() -> bool:
        tokens.append(store.version_token())
        return tokens[-1] != tokens[-2]

    start_run(store)
    assert changed()
    store.write_cell("run-a", "c0", elapsed_s=1.0, curve_points=curve("random"))
    assert changed()
    store.finish_run("run-a")
    assert changed()
    store.record_checkpoint(
        "ck",
        model="m",
        task="t",
        spec_json="{}",
        path="p",
        metric=None,
        dev_value=None,
        n_train=None,
    )
    assert changed()
    store.counts()
    store.runs()
    assert not changed()
    store.reset_run("run-a")
    assert changed()
    store.delete_run("run-a")
    assert changed()
    assert len(set(tokens)) == len(tokens) - 1


def test_sql_is_read_only(store: ResultsStore) -> None:
    start_run(store)
    assert store.sql("SELECT run_id FROM runs WHERE lang = ?", ["en"])["run_id"].tolist() == [
        "run-a"
    ]
    with pytest.raises(MbpError, match="query failed"):
        store.sql("DELETE FROM runs")
    with pytest.raises(MbpError, match="query failed"):
        store.sql("COPY runs TO 'stolen.csv'")
    with pytest.raises(MbpError, match="query failed"):
        store.sql("SELEKT 1")
    assert store.counts()["runs"] == 1


def test_outcome_run_ids_lists_runs_with_outcomes(store: ResultsStore) -> None:
    """Only a run with an outcome row counts; `run_ids` restricts (an empty list: none)."""
    import numpy as np

    from mbp.store.outcomes import outcome_row

    for run_id in ("with", "without", "other"):
        start_run(store, run_id)
    labels = np.array([0, 1, 1])
    row = outcome_row("random/0/0.5", labels, labels, regression=False)
    store.add_outcomes("with", [row])
    store.add_outcomes("other", [row])
    assert store.outcome_run_ids() == {"with", "other"}
    assert store.outcome_run_ids(["with", "without"]) == {"with"}
    assert store.outcome_run_ids(["without", "absent"]) == set()
    assert store.outcome_run_ids([]) == set()


def test_empty_store_queries_have_columns(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "none.duckdb", read_only=True)
    points = store.curve_points(model="x")
    assert points.empty and {"run_id", "model", "fraction", "value"} <= set(points.columns)
    assert list(store.runs().columns) == list(COLUMNS["runs"])
    assert store.finished_cells("r") == set()
    with pytest.raises(MbpError, match="query failed"):
        store.sql("COPY runs TO 'stolen.csv'")
    assert list(tmp_path.iterdir()) == []  # read-only: no file, no lock file


def test_schema_tables_match_columns_and_keys() -> None:
    con = duckdb.connect(":memory:")
    for version in sorted(MIGRATIONS):
        con.execute(MIGRATIONS[version])
    for table, columns in COLUMNS.items():
        described = con.execute(f"DESCRIBE {table}").fetchall()
        assert {name: kind for name, kind, *_ in described} == columns, table
        keys = {name for name, _, _, key, *_ in described if key == "PRI"}
        assert keys == set(KEYS[table]), table
    con.close()


def test_a_version_1_store_and_export_upgrade_with_defaults(tmp_path: Path) -> None:
    """Stores and exports written before schema 2 keep every row; their runs are posthoc and
    their checkpoints have no weights hash yet."""
    from mbp.store import export_store, import_into

    old = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(old))
    con.execute(MIGRATIONS[1])
    con.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [["schema_version", "1"], ["created_by", "mbp 0.1.0"], ["store_id", "abc"],
         ["write_count", "0"]],
    )  # fmt: skip
    con.execute(
        "INSERT INTO runs (run_id, kind, status, created_at, updated_at) "
        "VALUES ('r', 'sweep', 'done', now(), now())"
    )
    con.close()
    store = ResultsStore(old)  # migrates in place
    assert store.runs()["protocol"].tolist() == ["posthoc"]
    # an export written by schema 1 (no protocol column) imports with the default
    out = export_store(store, tmp_path / "export")
    import pyarrow.parquet as pq

    runs = pq.read_table(out / "runs.parquet").drop_columns(["protocol"])
    pq.write_table(runs, out / "runs.parquet")
    fresh = ResultsStore(tmp_path / "fresh.duckdb")
    assert import_into(fresh, out)["runs"] == 1
    assert fresh.runs()["protocol"].tolist() == ["posthoc"]
