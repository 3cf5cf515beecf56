"""Parquet export / import: round trips, idempotent imports, shard merges, malformed exports.

.venv/bin/python -m pytest tests/test_store_transfer.py -q
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from mbp.errors import MbpError
from mbp.store import SCHEMA_VERSION, TABLES, ResultsStore, export_store, import_into
from mbp.store import transfer as transfer_module
from mbp.store.schema import KEYS


def start_run(store: ResultsStore, run_id: str, *, lang: str = "en", cells_total: int = 4) -> None:
    store.ensure_run(
        run_id,
        "sweep",
        {"run": run_id},
        model="e5-small",
        model_checksum="abc123",
        task="xnli",
        lang=lang,
        split="dev",
        method="random",
        seeds=[0, 1],
        n_examples=100,
        cells_total=cells_total,
        device="cuda:0",
        versions_json={"torch": "2.4"},
        code_commit="deadbeef",
        command=f"mbp sweep --lang {lang}",
    )


def write(store: ResultsStore, run_id: str, cell: int) -> None:
    """Cell `cell` of a sweep run: 5 curve points of order `o<cell>` (values depend on it)."""
    rows = [
        {
            "order_name": f"o{cell}",
            "seed": 0,
            "fraction": f / 4,
            "heads_pruned": f * 36,
            "pruned_heads": [[f, 0]],
            "metric": "accuracy",
            "value": 0.9 - 0.01 * cell - 0.1 * f,
            "n_examples": 100,
        }
        for f in range(5)
    ]
    store.write_cell(run_id, f"cell-{cell}", elapsed_s=1.0 + cell, curve_points=rows)


def populated(path: Path) -> ResultsStore:
    """Two sweep runs, an importance run, a layers run and a checkpoint."""
    store = ResultsStore(path)
    for run_id, lang in (("sweep-en", "en"), ("sweep-de", "de")):
        start_run(store, run_id, lang=lang)
        for cell in range(3):
            write(store, run_id, cell)
    store.finish_run("sweep-de", "failed", error="boom")
    start_run(store, "imp", cells_total=1)
    heads = [
        {
            "layer": layer,
            "head": head,
            "score": layer + head / 10,
            "estimator": "gradient",
            "normalization": "layer",
            "n_examples": 64,
        }
        for layer in range(2)
        for head in range(4)
    ]
    store.write_cell("imp", "all", elapsed_s=2.0, head_importance=heads)
    start_run(store, "layers", cells_total=1)
    drops = [
        {
            "target": f"layer:{i}",
            "layers": [i],
            "metric": "accuracy",
            "base_value": 0.9,
            "value": 0.9 - i / 10,
            "drop": i / 10,
        }
        for i in range(3)
    ]
    store.write_cell("layers", "all", elapsed_s=2.0, layer_importance=drops)
    store.finish_run("layers", elapsed_s=30.0)
    store.record_checkpoint(
        "ck",
        model="mbert",
        task="mnli",
        spec_json="{}",
        path="/ck",
        metric="accuracy",
        dev_value=0.8,
        n_train=1000,
    )
    return store


@pytest.fixture(scope="module")
def populated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One populated store per module; tests copy the file (writes cost a DuckDB open each)."""
    path = tmp_path_factory.mktemp("populated") / "a.duckdb"
    populated(path)
    return path


@pytest.fixture
def source(populated_file: Path, tmp_path: Path) -> ResultsStore:
    """A private copy of the populated store at tmp_path / "a.duckdb"."""
    shutil.copyfile(populated_file, tmp_path / "a.duckdb")
    return ResultsStore(tmp_path / "a.duckdb")


def table(store: ResultsStore, name: str, *, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    keys = ", ".join(f'"{k}"' for k in KEYS[name])
    frame = store.sql(f"SELECT * FROM {name} ORDER BY {keys}")
    return frame.drop(columns=[c for c in drop if c in frame.columns])


def test_export_writes_parquet_and_manifest(tmp_path: Path, source: ResultsStore) -> None:
    store = source
    extra = {"data_sha256": {"xnli/dev.tsv": "f00d"}}
    out = export_store(store, tmp_path / "export", manifest_extra=extra)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{t}.parquet" for t in TABLES] + ["manifest.json"]
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["counts"] == store.counts()
    assert manifest["data_sha256"] == {"xnli/dev.tsv": "f00d"}
    assert "exported_at" in manifest
    run = {r["run_id"]: r for r in manifest["runs"]}["sweep-en"]
    assert run == {
        "run_id": "sweep-en",
        "kind": "sweep",
        "command": "mbp sweep --lang en",
        "model": "e5-small",
        "model_checksum": "abc123",
        "task": "xnli",
        "lang": "en",
        "split": "dev",
        "method": "random",
        "protocol": "posthoc",
        "n_examples": 100,
        "seeds": [0, 1],
        "device": "cuda:0",
        "versions": {"torch": "2.4"},
        "code_commit": "deadbeef",
        "status": "running",
    }
    assert pq.read_table(out / "curve_points.parquet").num_rows == 30
    sparse = ResultsStore(tmp_path / "sparse.duckdb")  # NULL provenance -> JSON null
    sparse.ensure_run(
        "r",
        "layers",
        "{}",
        model="m",
        model_checksum=None,
        task="t",
        lang=None,
        split=None,
        method=None,
        seeds=None,
        n_examples=None,
        cells_total=None,
        device=None,
        versions_json=None,
        code_commit=None,
        command=None,
    )
    (entry,) = json.loads((export_store(sparse, tmp_path / "e0") / "manifest.json").read_text())[
        "runs"
    ]
    assert entry["n_examples"] is None and entry["seeds"] is None and entry["versions"] is None

    export_store(store, out)  # an earlier export is replaced
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(MbpError, match="already exists and is not an earlier mbp export"):
        export_store(store, tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
    with pytest.raises(MbpError, match="manifest_extra key 'counts' is reserved"):
        export_store(store, tmp_path / "e2", manifest_extra={"counts": 1})
    export_store(store, out, overwrite=True)
    assert json.loads((out / "manifest.json").read_text())["counts"] == store.counts()


def test_failed_export_leaves_nothing(
    tmp_path: Path, source: ResultsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def flaky(table: object, where: Path) -> None:
        calls.append(where)
        if len(calls) == 3:
            raise OSError("disk full")
        pq.write_table(table, where)

    monkeypatch.setattr(transfer_module.pq, "write_table", flaky)
    with pytest.raises(OSError, match="disk full"):
        export_store(source, tmp_path / "export")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.duckdb", "a.duckdb.lock"]


def test_export_then_import_into_empty_store_is_equal(tmp_path: Path, source: ResultsStore) -> None:
    out = export_store(source, tmp_path / "export")
    target = ResultsStore(tmp_path / "b.duckdb")
    result = import_into(target, out)
    assert result == {**source.counts(), "skipped": 0, "sources": 1}
    for name in TABLES:
        pd.testing.assert_frame_equal(table(target, name), table(source, name), check_dtype=False)

    token = target.version_token()
    again = import_into(target, out)
    total = sum(source.counts().values())
    assert again == {**dict.fromkeys(TABLES, 0), "skipped": total, "sources": 1}
    assert target.version_token() == token  # nothing was written
    assert target.counts() == source.counts()


def test_import_from_a_duckdb_file_and_into_itself(tmp_path: Path, source: ResultsStore) -> None:
    target = ResultsStore(tmp_path / "b.duckdb")
    assert import_into(target, tmp_path / "a.duckdb")["cells"] == source.counts()["cells"]
    assert import_into(source, tmp_path / "a.duckdb")["skipped"] == sum(source.counts().values())
    assert target.counts() == source.counts()


def test_merging_shards_equals_one_store_with_all_cells(tmp_path: Path) -> None:
    everything = ResultsStore(tmp_path / "all.duckdb")
    shards = tmp_path / "shards"
    shard_stores = [ResultsStore(shards / f"shard-{i}.duckdb") for i in range(2)]
    for store in (everything, *shard_stores):
        start_run(store, "sweep-en", cells_total=4)
    for cell in range(4):
        write(everything, "sweep-en", cell)
        write(shard_stores[cell % 2], "sweep-en", cell)  # cells 0, 2 and 1, 3
    everything.finish_run("sweep-en")
    for store in shard_stores:  # what `--shard i/n` does once its share is done
        store.finish_run("sweep-en", "partial")
    # One shard as a Parquet export, the other as its .duckdb file: both are merged.
    export_store(shard_stores[1], shards / "shard-1-export")
    (shards / "shard-1.duckdb").unlink()

    merged = ResultsStore(tmp_path / "merged.duckdb")
    result = import_into(merged, shards)
    assert result["sources"] == 2
    assert (result["runs"], result["cells"], result["curve_points"]) == (1, 4, 20)
    assert result["skipped"] == 1  # the second shard's runs row
    timestamps = ("created_at", "updated_at", "finished_at")
    for name in ("cells", "curve_points"):
        pd.testing.assert_frame_equal(
            table(merged, name, drop=timestamps), table(everything, name, drop=timestamps)
        )
    run = merged.runs().iloc[0]
    assert (run["cells_done"], run["cells_total"], run["status"]) == (4, 4, "done")
    assert merged.finished_cells("sweep-en") == {f"cell-{i}" for i in range(4)}


def test_merging_partial_shards_keeps_the_run_running(tmp_path: Path) -> None:
    first = ResultsStore(tmp_path / "shards" / "a.duckdb")
    start_run(first, "sweep-en", cells_total=4)
    write(first, "sweep-en", 0)
    first.finish_run("sweep-en")
    merged = ResultsStore(tmp_path / "merged.duckdb")
    start_run(merged, "sweep-en", cells_total=4)
    import_into(merged, tmp_path / "shards")
    run = merged.runs().iloc[0]
    assert (run["cells_done"], run["status"]) == (1, "running")


def break_export(out: Path, how: str) -> None:
    if how == "missing table":
        (out / "cells.parquet").unlink()
    elif how == "truncated parquet":
        data = (out / "curve_points.parquet").read_bytes()
        (out / "curve_points.parquet").write_bytes(data[: len(data) // 2])
    elif how == "count mismatch":
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["counts"]["curve_points"] += 1
        (out / "manifest.json").write_text(json.dumps(manifest))
    elif how == "newer schema":
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["schema_version"] = 7
        (out / "manifest.json").write_text(json.dumps(manifest))
    elif how == "bad manifest":
        (out / "manifest.json").write_text("{not json")
    elif how == "missing column":
        frame = pq.read_table(out / "cells.parquet").drop(["elapsed_s"])
        pq.write_table(frame, out / "cells.parquet")
    elif how == "orphan rows":  # cells of a run that the export does not contain
        runs = pq.read_table(out / "runs.parquet")
        pq.write_table(runs.slice(0, 0), out / "runs.parquet")
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["counts"]["runs"] = 0
        (out / "manifest.json").write_text(json.dumps(manifest))
    elif how == "null key":
        frame = pq.read_table(out / "curve_points.parquet").to_pandas()
        frame.loc[3, "metric"] = None
        frame.to_parquet(out / "curve_points.parquet")


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("missing table", "cells.parquet is missing"),
        ("truncated parquet", "curve_points.parquet is not readable Parquet"),
        ("count mismatch", "curve_points.parquet has 30 rows, the manifest says 31"),
        ("newer schema", rf"written by a newer mbp \(schema 7 > {SCHEMA_VERSION}\): upgrade mbp"),
        ("bad manifest", "unreadable manifest.json"),
        ("missing column", r"cells.parquet lacks columns \['elapsed_s'\]"),
        ("orphan rows", "cells rows of run 'imp' have no runs row"),
        ("null key", "curve_points: Constraint Error"),
    ],
)
def test_malformed_export_changes_nothing(
    tmp_path: Path, source: ResultsStore, how: str, message: str
) -> None:
    out = export_store(source, tmp_path / "export")
    target = ResultsStore(tmp_path / "b.duckdb")
    start_run(target, "existing")
    counts, token = target.counts(), target.version_token()
    break_export(out, how)
    with pytest.raises(MbpError, match=message) as info:
        import_into(target, out)
    assert "\n" not in str(info.value)
    assert (target.counts(), target.version_token()) == (counts, token)


def test_import_source_errors(tmp_path: Path) -> None:
    target = ResultsStore(tmp_path / "b.duckdb")
    with pytest.raises(MbpError, match="does not exist"):
        import_into(target, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MbpError, match="holds no mbp export"):
        import_into(target, tmp_path / "empty")
    (tmp_path / "notes.duckdb").write_text("not a database")
    with pytest.raises(MbpError, match="is not a DuckDB file"):
        import_into(target, tmp_path / "notes.duckdb")
    shutil.rmtree(tmp_path / "empty")
    assert not (tmp_path / "b.duckdb").exists()


def test_an_export_names_no_machine_local_path(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "deep" / "private" / "results.duckdb")
    store.ensure_run(
        "r", "sweep", "{}", model="m", model_checksum=None, task="sst2", lang="en", split="dev",
        method="random", seeds=[0], n_examples=1, cells_total=1, device="cpu",
        versions_json="{}", code_commit="x",
        command=f"mbp sweep --model m --store {tmp_path}/deep/private/results.duckdb "
        f"--data-dir={tmp_path}/data --grid 0,1",
    )  # fmt: skip
    out = export_store(store, tmp_path / "export")
    text = (out / "manifest.json").read_text()
    runs = pd.read_parquet(out / "runs.parquet")
    assert str(tmp_path) not in text and not runs["command"].str.contains(str(tmp_path)).any()
    assert runs["command"].tolist() == ["mbp sweep --model m --grid 0,1"]


# -- replace: the export's version of its runs wins -------------------------------------------


def newer_version(source: ResultsStore) -> None:
    """What a recompute swaps into an export: sweep-en with other cells and values (cells 5, 6
    instead of 0-2), the checkpoint with another dev score, a new run."""
    source.reset_run("sweep-en")
    for cell in (5, 6):
        write(source, "sweep-en", cell)
    source.record_checkpoint("ck", model="mbert", task="mnli", spec_json="{}", path="/ck",
                             metric="accuracy", dev_value=0.85, n_train=2000)  # fmt: skip
    start_run(source, "sweep-fr", lang="fr")


def with_own_run(target: ResultsStore) -> None:
    """A user's own live run, which no export holds."""
    start_run(target, "mine", lang="sw")
    write(target, "mine", 9)


def test_replace_takes_the_exports_version_and_keeps_the_stores_own_runs(
    tmp_path: Path, source: ResultsStore
) -> None:
    old = export_store(source, tmp_path / "old")
    target = ResultsStore(tmp_path / "b.duckdb")
    import_into(target, old)
    with_own_run(target)
    mine = {name: table(target, name).query("run_id == 'mine'") for name in ("runs", "cells",
            "curve_points")}  # fmt: skip
    newer_version(source)
    new = export_store(source, tmp_path / "new")

    mixed = ResultsStore(tmp_path / "mixed.duckdb")  # the problem: a plain import mixes
    shutil.copyfile(tmp_path / "b.duckdb", mixed.path)
    import_into(mixed, new)
    assert mixed.finished_cells("sweep-en") == {f"cell-{i}" for i in (0, 1, 2, 5, 6)}

    result = import_into(target, new, replace=True)
    assert result["replaced"] == 4  # sweep-en, sweep-de, imp, layers (sweep-fr is new)
    assert target.finished_cells("sweep-en") == {"cell-5", "cell-6"}
    assert target.checkpoints()["dev_value"].tolist() == [0.85]
    stamps = ("created_at", "updated_at", "finished_at")
    for name in TABLES:  # every shipped run's rows are exactly the new export's
        got = table(target, name, drop=stamps)
        if "run_id" in got.columns:
            got = got[got["run_id"] != "mine"].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, table(source, name, drop=stamps), check_dtype=False)
    for name, rows in mine.items():  # the own run is untouched
        pd.testing.assert_frame_equal(table(target, name).query("run_id == 'mine'"), rows)
    assert "replaced" not in import_into(target, new)  # without replace: the plain result


@pytest.mark.parametrize("how", ["null key", "orphan rows", "count mismatch"])
def test_replace_from_a_malformed_export_changes_nothing(
    tmp_path: Path, source: ResultsStore, how: str
) -> None:
    target = ResultsStore(tmp_path / "b.duckdb")
    import_into(target, export_store(source, tmp_path / "old"))
    with_own_run(target)
    before = {name: table(target, name) for name in TABLES}
    token = target.version_token()
    newer_version(source)
    new = export_store(source, tmp_path / "new")
    break_export(new, how)  # "null key" fails inside the transaction, after the deletes
    with pytest.raises(MbpError, match="not a valid mbp export"):
        import_into(target, new, replace=True)
    assert target.version_token() == token
    for name, frame in before.items():
        pd.testing.assert_frame_equal(table(target, name), frame)


def test_the_store_records_which_version_of_an_export_it_holds(
    tmp_path: Path, source: ResultsStore
) -> None:
    old = export_store(source, tmp_path / "export")
    target = ResultsStore(tmp_path / "b.duckdb")
    assert transfer_module.recorded_export(target, old) is None
    import_into(target, old)
    first = transfer_module.export_identity(old)
    assert transfer_module.recorded_export(target, old) == first
    assert first["exported_at"] == json.loads((old / "manifest.json").read_text())["exported_at"]
    assert target.meta_value(f"imported_export:{old.resolve()}") is not None

    newer_version(source)
    new = export_store(source, tmp_path / "export")  # the same folder, a newer export
    assert transfer_module.export_identity(new) != first
    import_into(target, new)  # skips the runs it holds: it does not hold this version
    assert transfer_module.recorded_export(target, new) == first
    import_into(target, new, replace=True)
    assert transfer_module.recorded_export(target, new) == transfer_module.export_identity(new)
    shard = ResultsStore(tmp_path / "shards" / "s.duckdb")  # a .duckdb shard: nothing recorded
    start_run(shard, "shard-run")
    import_into(target, shard.path)
    assert transfer_module.recorded_export(target, shard.path) is None
