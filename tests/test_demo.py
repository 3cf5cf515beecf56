"""Hosted demo mode: live runs off or capped, registry names only, and a read-only store."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mbp.errors import MbpError
from mbp.live import demo
from mbp.live.demo import (
    CAPPED,
    DemoSettings,
    LiveRunRequest,
    allowed_models,
    demo_settings,
    estimate_seconds,
    open_dashboard_store,
    parse_grid,
    stale_export_note,
    sweep_argv,
    validate_request,
)
from mbp.store import ResultsStore, export_store, import_into
from tests.export_versions import RUN, accuracy, write_version
from tests.fixtures.store_fixture import fixture_store_copy
from tests.test_store_transfer import start_run

APP = Path(__file__).resolve().parents[1] / "app.py"
CAPPED_DEMO = DemoSettings(demo=True, live_runs="capped")
LOCAL = DemoSettings()


def test_settings_from_environment_and_secrets():
    assert demo_settings({}) == DemoSettings(demo=False, live_runs="on")
    assert demo_settings({"MBP_MODE": "demo"}) == DemoSettings(demo=True, live_runs="off")
    capped = demo_settings({"MBP_MODE": "demo", "MBP_DEMO_LIVE_RUNS": "capped"})
    assert capped.live_runs == "capped" and capped.caps == CAPPED
    assert demo_settings({}, {"MBP_MODE": "demo"}).demo  # st.secrets alone turns it on
    assert demo_settings({}, None).demo is False  # no secrets file
    assert demo_settings({"MBP_DEMO_LIVE_RUNS": "capped"}).live_runs == "on"  # not a demo
    assert demo_settings({"MBP_ALLOW_TINY": "1"}).allow_tiny
    assert DemoSettings(demo=True, live_runs="off").caps is None
    assert DemoSettings(demo=True).store_read_only and not LOCAL.store_read_only


def test_live_runs_go_to_a_ray_cluster_only_when_asked_and_never_in_the_demo():
    ray = {"MBP_LIVE_EXECUTOR": "ray"}
    assert demo_settings(ray).executor_argv == ("--executor", "ray", "--ray-address", "auto")
    there = demo_settings({**ray, "MBP_RAY_ADDRESS": "ray://head:10001"})
    assert there.executor_argv[-1] == "ray://head:10001"
    assert demo_settings({**ray, "MBP_MODE": "demo"}).executor_argv == ()
    assert demo_settings({}).executor_argv == ()
    argv = sweep_argv(LiveRunRequest("minilm-l6", "sst2"), "s.duckdb", executor=there.executor_argv)
    assert argv[-4:] == ["--executor", "ray", "--ray-address", "ray://head:10001"]


def test_demo_offers_only_offline_registry_models():
    names = allowed_models(CAPPED_DEMO)
    assert set(names) == {"minilm-l6", "e5-small"}
    assert "bert-base-multilingual-cased" in allowed_models(LOCAL)
    assert demo.TINY_MODEL in allowed_models(DemoSettings(allow_tiny=True))
    assert demo.TINY_MODEL not in allowed_models(LOCAL)


def request(**changes) -> LiveRunRequest:
    base = dict(model="e5-small", task="xnli", langs=("en",), orders=("importance",),
                seeds=(0,), grid="0:1:0.2", examples=100, train_examples=1000, epochs=1.0)  # fmt: skip
    return LiveRunRequest(**{**base, **changes})


def test_live_runs_off_in_a_plain_demo():
    problems = validate_request(request(), DemoSettings(demo=True, live_runs="off"))
    assert problems == [
        "live runs are not available in this demo: the results shown are precomputed"
    ]


def test_capped_demo_accepts_a_small_run_and_refuses_big_ones():
    assert validate_request(request(), CAPPED_DEMO) == []
    too_many = validate_request(request(examples=201), CAPPED_DEMO)
    assert too_many == ["examples 201 is not available in the demo: the limit is 200"]
    grid = validate_request(request(grid="0:1:0.1"), CAPPED_DEMO)  # 11 points > 6
    assert any("grid points 11" in p for p in grid)
    busy = validate_request(request(), CAPPED_DEMO, active_jobs=1)
    assert busy == [
        "1 live run(s) already running; the demo allows 1 at a time: wait for it to finish"
    ]
    assert any(
        "training examples 0" in p for p in validate_request(request(train_examples=0), CAPPED_DEMO)
    )
    assert validate_request(request(examples=5000, grid="0:1:0.05"), LOCAL) == []


@pytest.mark.parametrize(
    "model", ["/etc/passwd", "../models/x", "org/some-model", "intfloat/multilingual-e5-small"]
)
def test_no_paths_or_hub_ids_reach_the_backend(model):
    for settings, here in ((CAPPED_DEMO, "in the demo"), (LOCAL, "on this dashboard")):
        problems = validate_request(request(model=model), settings)
        assert any(f"is not available {here}" in p for p in problems)


def test_a_missing_gpu_is_refused_up_front():
    problems = validate_request(request(device="cuda"), LOCAL, cuda_available=False)
    assert problems == [
        "device 'cuda' is not available on this server (no CUDA GPU is visible): choose cpu or auto"
    ]
    assert validate_request(request(device="cuda"), LOCAL, cuda_available=True) == []
    assert validate_request(request(device="auto"), LOCAL, cuda_available=False) == []


def test_bad_languages_orders_and_grids_are_named():
    problems = validate_request(request(task="sst2", langs=("de",)), LOCAL)
    assert any("has no language 'de'" in p for p in problems)
    assert any("unknown order" in p for p in validate_request(request(orders=("best",)), LOCAL))
    assert any("outside [0, 1]" in p for p in validate_request(request(grid="0,2"), LOCAL))
    assert validate_request(request(orders=()), LOCAL) == ["choose at least one prune order"]


def test_parse_grid_matches_the_cli_rules():
    assert parse_grid("0:1:0.25") == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert parse_grid("0.5, 0, 0.5,1") == (0.0, 0.5, 1.0)
    for bad in ("", "a,b", "0:1:0", "0:1", "1.5"):
        with pytest.raises(MbpError):
            parse_grid(bad)


def values(argv: list[str], flag: str) -> list[str]:
    """The values after `flag`, up to the next flag."""
    rest = argv[argv.index(flag) + 1 :]
    return rest[: next((i for i, a in enumerate(rest) if a.startswith("--")), len(rest))]


def test_sweep_argv_is_the_cli_with_store_and_json(tmp_path):
    argv = sweep_argv(request(orders=("importance", "random"), seeds=(0, 1), langs=("en", "sw")),
                      tmp_path / "s.duckdb", python="python")  # fmt: skip
    assert argv[:4] == ["python", "-m", "mbp", "sweep"]
    assert values(argv, "--lang") == ["en", "sw"]
    assert values(argv, "--seeds") == ["0", "1"]
    assert argv[argv.index("--grid") + 1] == "0,0.2,0.4,0.6,0.8,1"
    assert argv[argv.index("--store") + 1] == str(tmp_path / "s.duckdb") and argv[-1] == "--json"
    assert "--seeds" not in sweep_argv(request(), "s.duckdb")


def test_estimate_grows_with_the_work():
    small = estimate_seconds(request())
    assert small > 0
    assert estimate_seconds(request(examples=1000)) > small
    assert estimate_seconds(request(langs=("en", "de", "sw"))) > small
    assert estimate_seconds(request(), measured_s_per_example=1.0) > small
    assert demo.format_duration(75) == "1 min 15 s" and demo.format_duration(5) == "5 s"


# ----------------------------------------------------------------------------- the store


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("precomputed")
    store = ResultsStore(fixture_store_copy(root / "src.duckdb"), read_only=True)
    return export_store(store, root / "precomputed")


def test_demo_store_is_a_read_only_copy_of_the_export(export_dir, tmp_path):
    opened = open_dashboard_store(tmp_path / "ignored.duckdb", demo=True, precomputed=export_dir,
                                  workdir=tmp_path)  # fmt: skip
    assert opened.read_only and opened.store.read_only
    assert opened.store.counts()["runs"] == 30
    with pytest.raises(MbpError, match="read-only"):
        opened.store.finish_run("fx-sweep-e5-small-sst2-en-random", "failed")
    assert not (tmp_path / "ignored.duckdb").exists()  # the configured store is never touched
    assert opened.imported_from == str(export_dir)


def test_demo_without_an_export_is_empty_not_broken(tmp_path):
    opened = open_dashboard_store(tmp_path / "x.duckdb", demo=True, precomputed=tmp_path / "none",
                                  workdir=tmp_path)  # fmt: skip
    assert opened.read_only and opened.store.counts()["runs"] == 0 and "no export" in opened.note


def test_an_empty_local_store_is_filled_from_precomputed_once(export_dir, tmp_path):
    path = tmp_path / "local.duckdb"
    first = open_dashboard_store(path, demo=False, precomputed=export_dir)
    assert not first.read_only and first.imported_from == str(export_dir)
    assert first.store.counts()["runs"] == 30
    again = open_dashboard_store(path, demo=False, precomputed=export_dir)
    assert again.imported_from is None and again.store.counts()["runs"] == 30
    assert again.stale_from is None  # it holds the export's version


def shipped_values(store: ResultsStore) -> list[float]:
    query = "SELECT value FROM curve_points WHERE run_id = ? ORDER BY seed, fraction"
    return store.sql(query, [RUN])["value"].tolist()


def test_a_store_filled_from_an_older_export_says_so_and_changes_only_when_asked(tmp_path):
    """precomputed/ replaced by a newer export: the store keeps the old numbers (nothing is
    replaced at start-up) and says so with the fix; after the replace it is current."""
    shipped = tmp_path / "precomputed"
    write_version(shipped, 0)
    path = tmp_path / "local.duckdb"
    first = open_dashboard_store(path, demo=False, precomputed=shipped)
    assert first.imported_from == str(shipped) and first.stale_from is None
    old = shipped_values(first.store)
    assert len(old) == 9

    write_version(shipped, 1)  # git pull: same run id, other values
    start_run(first.store, "mine")  # the user's own live run
    stale = open_dashboard_store(path, demo=False, precomputed=shipped)
    assert stale.stale_from == str(shipped) and stale.imported_from is None
    assert shipped_values(stale.store) == old  # not replaced at start-up
    note = stale_export_note(stale.stale_from, stale.path)
    assert "precomputed/ changed since this store was filled" in note
    assert f"`mbp import {shipped} --replace --store {path}`" in note and "own runs stay" in note

    result = import_into(stale.store, shipped, replace=True)
    assert result["replaced"] == 1
    current = open_dashboard_store(path, demo=False, precomputed=shipped)
    assert current.stale_from is None
    assert shipped_values(current.store) == [accuracy(1, f / 2) for f in range(3)] * 2
    assert set(current.store.runs()["run_id"]) == {RUN, "mine"}


def test_a_store_filled_before_stores_recorded_their_export_is_stale(tmp_path):
    """No identity recorded: stale when the store holds runs of the export, else unrelated."""
    shipped = write_version(tmp_path / "precomputed", 0)
    legacy = ResultsStore(tmp_path / "legacy.duckdb")
    import_into(legacy, shipped)
    with legacy.write_transaction() as txn:  # what a store filled before this change lacks
        txn.con.execute("DELETE FROM meta WHERE key LIKE 'imported_export:%'")
    opened = open_dashboard_store(legacy.path, demo=False, precomputed=shipped)
    assert opened.stale_from == str(shipped)
    own = ResultsStore(tmp_path / "own.duckdb")
    start_run(own, "mine")
    assert open_dashboard_store(own.path, demo=False, precomputed=shipped).stale_from is None
    assert own.counts()["runs"] == 1  # a store with runs is never filled at start-up


# ----------------------------------------------------------------------------- the page


def live_page(monkeypatch, tmp_path, **env) -> AppTest:
    monkeypatch.setenv("MBP_STORE", str(tmp_path / "store.duckdb"))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("views/live_run.py").run()
    assert not at.exception
    return at


def test_live_run_page_is_off_in_demo_mode(monkeypatch, tmp_path):
    at = live_page(monkeypatch, tmp_path, MBP_MODE="demo")
    assert any("Live runs are off in this demo" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Launch"]
    assert any("Demo mode" in i.value for i in at.sidebar.info)


def test_live_run_page_is_capped_in_capped_demo_mode(monkeypatch, tmp_path):
    at = live_page(monkeypatch, tmp_path, MBP_MODE="demo", MBP_DEMO_LIVE_RUNS="capped")
    assert any("Demo limits" in c.value and "200" in c.value for c in at.caption)
    assert at.number_input(key="lr_examples").max == 200
    offered = {option.split()[0] for option in at.selectbox(key="lr_model").options}
    assert offered == {"minilm-l6", "e5-small"}  # registry names of offline models only
    at.text_input(key="lr_grid").set_value("0:1:0.1").run()
    assert any("grid points 11" in e.value for e in at.error)
    launch = next(b for b in at.button if b.label == "Launch")
    assert launch.disabled


def test_demo_mode_from_streamlit_secrets(monkeypatch, tmp_path):
    monkeypatch.delenv("MBP_MODE", raising=False)
    monkeypatch.setenv("MBP_STORE", str(tmp_path / "store.duckdb"))
    monkeypatch.setenv("MBP_JOBS_DIR", str(tmp_path / "jobs"))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.secrets["MBP_MODE"] = "demo"
    at.run()
    at.switch_page("views/live_run.py").run()
    assert not at.exception
    assert any("Live runs are off in this demo" in i.value for i in at.info)


def test_no_finetune_is_the_cli_flag_and_costs_no_training_time():
    plain = request(finetune=False, train_examples=0)
    argv = sweep_argv(plain, "s.duckdb")
    assert "--no-finetune" in argv and "--train-examples" not in argv
    assert "--no-finetune" not in sweep_argv(request(), "s.duckdb")
    assert estimate_seconds(plain) < estimate_seconds(request(train_examples=0))
    assert validate_request(plain, CAPPED_DEMO) == []  # 0 training examples: nothing trains
    problems = validate_request(request(finetune=False, protocol="retrain"), LOCAL)
    assert problems == ["--protocol retrain fine-tunes every cell: drop --no-finetune"]
