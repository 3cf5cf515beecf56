"""A tiny model directory and a tiny SST-2-style data root, for fast end-to-end CLI tests.

The labels follow a word ("good" -> 1, "bad" -> 0), so even a tiny model can learn something,
but the tests only rely on determinism and bookkeeping, never on accuracy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from mbp.models import tiny_bert
from mbp.models.tiny import WORDS

REPO = Path(__file__).resolve().parents[1]


def make_tiny_model_dir(path: Path, *, layers: int = 2, heads: int = 4) -> Path:
    model, tokenizer = tiny_bert(layers=layers, heads=heads, hidden=16)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(str(path))
    return path


def make_tiny_sst2(root: Path, n_train: int = 64, n_dev: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    words = [w for w in WORDS if w not in ("good", "bad")]
    for split, n in (("train", n_train), ("dev", n_dev)):
        rows = ["sentence\tlabel"]
        for i in range(n):
            label = i % 2
            body = " ".join(rng.choice(words, size=int(rng.integers(3, 10))))
            rows.append(f"{body} {'good' if label else 'bad'} {body[:10]}\t{label}")
        folder = root / "glue" / "SST-2"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return root


def mbp_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MBP_CACHE=str(tmp / "cache"),
        MBP_DATA_DIR=str(tmp / "data"),
        MBP_STORE=str(tmp / "store.duckdb"),
        OMP_NUM_THREADS="1",
    )
    return env


def run_mbp(args: list[str], env: dict[str, str], check: bool = True, timeout: int = 300):
    result = subprocess.run(
        [sys.executable, "-m", "mbp", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"mbp {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    return result


TINY_SWEEP = [
    "--task", "sst2", "--examples", "40", "--train-examples", "32", "--epochs", "1",
    "--importance-examples", "16", "--grid", "0,0.25,0.5,0.75,1", "--quiet", "--device", "cpu",
]  # fmt: skip
# the fine-tune of a tiny run (a layer-wise run, a retrain sweep): 32 examples, one epoch
TINY_FINETUNE = ["--train-examples", "32", "--epochs", "1", "--quiet", "--device", "cpu"]


def wait_for_cells(proc: subprocess.Popen, store: Path, cells: int, timeout: float) -> None:
    """Wait until the running `proc` has stored at least `cells` cells in `store`, so a test can
    kill it mid-run; fails if it ends first."""
    import time

    from mbp.store import ResultsStore

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if store.exists():
            try:
                if ResultsStore(store, read_only=True).counts()["cells"] >= cells:
                    break
            except Exception:  # the writer holds the file for a moment: look again
                pass
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed: make it longer"
