"""Two versions of one tiny export at the same folder: what a `git pull` (or `mbp precompute
--adopt`) swaps into precomputed/. The same run id, other values: version 0 evaluates 100
examples in 3 cells, version 1 200 examples in 2 cells with lower accuracies.

    write_version(tmp_path / "precomputed", 0)
"""

from __future__ import annotations

from pathlib import Path

from mbp.store import ResultsStore, export_store

RUN = "shipped-sweep-en"


def examples(version: int) -> int:
    return 100 * (version + 1)


def accuracy(version: int, fraction: float) -> float:
    return round(0.9 - 0.2 * fraction - 0.05 * version, 4)


def write_version(out: Path, version: int) -> Path:
    """Export version `version` of the shipped run to `out` (replacing an earlier export)."""
    store = ResultsStore(out.parent / f"shipped-v{version}.duckdb")
    store.ensure_run(
        RUN, "sweep", {"run": RUN}, model="e5-small", model_checksum="abc", task="xnli",
        lang="en", split="dev", method="random", seeds=[0], n_examples=examples(version),
        cells_total=3 - version, device="cpu", versions_json={}, code_commit="c0ffee",
        command="mbp sweep --lang en",
    )  # fmt: skip
    for cell in range(3 - version):
        points = [
            {
                "order_name": "random",
                "seed": cell,
                "fraction": f / 2,
                "heads_pruned": f * 72,
                "pruned_heads": [[f, 0]],
                "metric": "accuracy",
                "value": accuracy(version, f / 2),
                "n_examples": examples(version),
            }
            for f in range(3)
        ]
        store.write_cell(RUN, f"seed-{cell}", elapsed_s=1.0, curve_points=points)
    store.finish_run(RUN)
    return export_store(store, out)
