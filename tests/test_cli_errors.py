"""Every bad CLI input exits 2 with one line naming the value and the fix; the store is untouched."""

from __future__ import annotations

import hashlib

import duckdb
import pytest

from mbp.cli import main
from mbp.store import ResultsStore
from tests.tiny_project import make_tiny_sst2


@pytest.fixture
def store_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    make_tiny_sst2(tmp_path / "data")
    monkeypatch.setenv("MBP_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "store.duckdb"
    store = ResultsStore(path)
    store.ensure_run(
        "r1", "sweep", "{}", model="m", model_checksum="c", task="sst2", lang="en", split="dev",
        method="random", seeds=[0], n_examples=1, cells_total=1, device="cpu", versions_json="{}",
        code_commit="x", command="mbp sweep",
    )  # fmt: skip
    store.ensure_run(
        "r2", "sweep", '{"checkpoint": "ck1"}', model="m", model_checksum="c", task="sst2",
        lang="en", split="dev", method="importance", seeds=[0], n_examples=1, cells_total=1,
        device="cpu", versions_json="{}", code_commit="x", command="mbp sweep",
    )  # fmt: skip
    store.record_checkpoint(
        "ck1", model="m", task="sst2", spec_json="{}", path="/x", metric="accuracy",
        dev_value=0.9, n_train=1,
    )  # fmt: skip
    return path


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SWEEP = ["sweep", "--model", "minilm-l6", "--task", "sst2", "--quiet"]
CASES = [
    (["sweep", "--model", "no-such-model", "--task", "sst2"], "unknown model 'no-such-model'"),
    (["sweep", "--model", "minilm-l6", "--task", "sst3"], "did you mean 'sst2'"),
    (
        ["sweep", "--model", "e5-small", "--task", "xnli", "--lang", "xx"],
        "XNLI has no language 'xx'",
    ),
    ([*SWEEP, "--order", "best"], "unknown order 'best'"),
    ([*SWEEP, "--estimator", "magic"], "unknown estimator 'magic'"),
    ([*SWEEP, "--grid", "0,1.5"], "grid value 1.5 is outside [0, 1]"),
    ([*SWEEP, "--grid", "a,b"], "grid value 'a' is not a number"),
    ([*SWEEP, "--examples", "0"], "--examples 0 must be at least 1"),
    ([*SWEEP, "--examples", "-5"], "--examples -5 must be at least 1"),
    ([*SWEEP, "--seeds", "-1"], "--seeds value -1 is negative"),
    ([*SWEEP, "--shard", "3/2"], "--shard 3/2 needs 0 <= i < n"),
    ([*SWEEP, "--device", "tpu"], "unknown device 'tpu'"),
    (["nonsense"], "invalid choice"),
    # every run parameter is checked by RunParams, from whichever flag it came
    ([*SWEEP, "--floor", "-1"], "--floor -1 must be at least 0"),
    ([*SWEEP, "--floor", "12"], "--floor 12 keeps every head of minilm-l6's 12-head layers"),
    ([*SWEEP, "--floor", "1.5"], "--floor '1.5' is not an integer"),
    ([*SWEEP, "--seeds", "0,x"], "--seeds value 'x' is not an integer"),
    ([*SWEEP, "--grid", "0:1:-0.1"], "grid step -0.1 must be positive"),
    ([*SWEEP, "--grid", "1:0:0.1"], "stops before it starts"),
    ([*SWEEP, "--grid", "0:1:1e-9"], "points: use a larger step"),
    ([*SWEEP, "--importance-examples", "0"], "--importance-examples 0 must be at least 1"),
    ([*SWEEP, "--data-seed", "-2"], "--data-seed -2 must be at least 0"),
    ([*SWEEP, "--batch-size", "0"], "--batch-size 0 must be at least 1"),
    ([*SWEEP, "--split", "nope"], "--split 'nope' is not a split of sst2"),
    ([*SWEEP, "--precision", "fp8"], "unknown precision 'fp8'"),
    ([*SWEEP, "--train-examples", "-3"], "--train-examples -3 must be at least 0"),
    ([*SWEEP, "--epochs", "0"], "--epochs 0.0 must be positive"),
    ([*SWEEP, "--max-length", "1000"], "--max-length 1000 is over BERT's 512 positions"),
    ([*SWEEP, "--checkpoint", "latest"], "--checkpoint 'latest' is not a checkpoint id"),
    ([*SWEEP, "--checkpoint", "0123456789abcdef"], "--checkpoint '0123456789abcdef' is not in"),
    ([*SWEEP, "--checkpoint", "0123456789abcdef", "--no-finetune"], "exclude each other"),
    (["finetune", "--model", "minilm-l6", "--task", "sst2", "--lr", "-1"], "--lr -1.0 must be"),
    (["finetune", "--model", "minilm-l6", "--task", "sst2", "--lr", "x"], "--lr 'x' is not a"),
    (["finetune", "--model", "minilm-l6", "--task", "sst2", "--epochs", "nan"], "--epochs nan"),
    (["layers", "--model", "minilm-l6", "--task", "sst2", "--examples", "x"], "'x' is not an"),
    (
        ["importance", "--model", "minilm-l6", "--task", "sst2", "--estimator", "random"],
        "unknown estimator 'random'",
    ),
    (["precompute", "--plan", "huge"], "unknown plan 'huge'"),
    (["precompute", "--only", "no-step"], "unknown plan step(s) ['no-step']"),
    (["delete", "no-such-id"], "no run or checkpoint 'no-such-id'"),
    (["delete", "r1", "no-such-id"], "no run or checkpoint 'no-such-id'"),
    (["delete", "ck1"], "checkpoint 'ck1' is used by run(s) r2"),
]


@pytest.mark.parametrize(("args", "message"), CASES)
def test_bad_input_exits_2_with_one_line(store_file, capsys, args, message):
    before = _digest(store_file)
    assert main([*args, "--store", str(store_file)] if args[0] != "nonsense" else args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err, err
    assert _digest(store_file) == before


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "is not a JSON object"),
        ('{"num_hidden_layers": 2}', "gives no valid number of attention heads"),
        ('{"num_hidden_layers": 2, "num_attention_heads": "x"}', "attention heads ('x')"),
    ],
)
def test_a_model_folder_with_a_bad_config_is_refused_in_one_line(
    store_file, tmp_path, capsys, config, message
):
    folder = tmp_path / "broken-model"
    folder.mkdir()
    (folder / "config.json").write_text(config)
    before = _digest(store_file)
    assert (
        main(["sweep", "--model", str(folder), "--task", "sst2", "--store", str(store_file)]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err, err
    assert _digest(store_file) == before


def test_foreign_text_and_newer_stores_are_refused_unchanged(tmp_path, capsys):
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database")
    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("CREATE TABLE t (x INT)")
    newer = tmp_path / "newer.duckdb"
    ResultsStore(newer).record_checkpoint(
        "k",
        model="m",
        task="t",
        spec_json="{}",
        path="p",
        metric="accuracy",
        dev_value=0.5,
        n_train=1,
    )
    with duckdb.connect(str(newer)) as con:
        con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    for path, message in ((text, "not"), (foreign, "not an mbp results store"), (newer, "newer")):
        before = _digest(path)
        assert main(["runs", "--store", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and str(path) in err, err
        assert message in err.lower() or message in err
        assert _digest(path) == before


def test_delete_removes_runs_and_their_checkpoint_together(store_file, capsys):
    assert main(["delete", "r2", "ck1", "--store", str(store_file), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"deleted": "r2"' in out and '"deleted": "ck1"' in out
    store = ResultsStore(store_file, read_only=True)
    assert store.runs()["run_id"].tolist() == ["r1"]
    assert len(store.checkpoints()) == 0
