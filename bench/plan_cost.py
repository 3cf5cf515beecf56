"""What the paper-protocol plan costs: each retrain step's measured minutes, and a PROJECTION of
the same steps at the paper's recipe (the task's whole training set, 3 epochs).

    python -m bench.plan_cost                       # from the shipped results (precomputed/)
    python -m bench.plan_cost --results DIR         # another export

Measured: a step's minutes are its cells' own times on the device its runs name (a retrained
cell's time is its fine-tune plus its evaluations; `mbp precompute --status` shows the same).
Projected: minutes x (full training examples x 3 epochs) / (the step's training examples x its
epochs), i.e. the step's measured seconds per training example-epoch carried to the paper's
size on the same device, cells unchanged. It overstates a little, as evaluation time does not
grow with training. A GPU projection needs a rate measured on a GPU; where the results hold
none, it says so rather than guess.

The rate here is CELL seconds from the results (whole plan steps: fine-tunes, evaluations,
loading). Not to be confused with `mbp.experiments.finetune_estimate`, which predicts one
fine-tune from the TRAINING-loop seconds per example-epoch its checkpoints record.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from bench.common import ROOT

PAPER_EPOCHS = 3.0


#: The training sets' published sizes (GLUE, Wang et al. 2019; the GLUE files' row counts):
#: the shared data holds only slices of MNLI and QNLI train, so the projection uses these.
FULL_TRAINING_EXAMPLES = {"sst2": 67_349, "mnli": 392_702, "qnli": 104_743, "mrpc": 3_668}


def full_training_examples(task: str) -> int:
    """The whole training set `task`'s model is fine-tuned on (XNLI: MNLI's)."""
    from mbp.tasks import get_task

    return FULL_TRAINING_EXAMPLES[get_task(task).train_task]


def measured_runs(results: Path) -> pd.DataFrame:
    """An export's runs with each run's summed cell seconds."""
    from mbp.experiments.plan import runs_with_cell_seconds

    cells = pd.read_parquet(results / "cells.parquet", columns=["run_id", "elapsed_s"])
    return runs_with_cell_seconds(pd.read_parquet(results / "runs.parquet"), cells)


def project(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per retrain step of the paper plan: measured minutes and the projection."""
    from mbp.experiments.plan import paper_plan, plan_status

    steps = [s for s in paper_plan() if s.params().protocol == "retrain"]
    status = {row["step"]: row for row in plan_status(runs, steps)}
    rows = []
    for step in steps:
        params, row = step.params(), status[step.name]
        full = full_training_examples(params.task)
        used = params.finetune.train_examples or full
        scale = full * PAPER_EPOCHS / (used * params.finetune.epochs)
        done = row["state"] == "done"
        rows.append(
            {
                "step": step.name,
                "state": row["state"],
                "device": row["device"] or "-",
                "recipe": f"{used:,} ex x {params.finetune.epochs:g} ep",
                "measured min": row["minutes"] if done else None,
                "paper recipe": f"{full:,} ex x {PAPER_EPOCHS:g} ep",
                "scale": round(scale, 1),
                "projected h": round(row["minutes"] * scale / 60, 1) if done else None,
            }
        )
    return pd.DataFrame(rows)


def gpu_note(runs: pd.DataFrame) -> str:
    gpu = runs[runs["device"].fillna("").str.startswith("cuda") & (runs["protocol"] == "retrain")]
    if gpu.empty:
        return ("GPU: not projected. These results hold no retrain run measured on a GPU (none "
                "was lent to this project's sessions); run a plan step with `--device cuda` "
                "and this projects from its rate.")  # fmt: skip
    return f"GPU: {len(gpu)} retrain run(s) measured on a GPU; see their minutes above."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "precomputed",
                        help="an export directory (runs.parquet, cells.parquet)")  # fmt: skip
    args = parser.parse_args(argv)
    runs = measured_runs(args.results)
    table = project(runs)
    print(table.to_string(index=False))
    done = table.dropna(subset=["projected h"])
    print(f"finished steps: measured {done['measured min'].sum() / 60:.1f} h on "
          f"{', '.join(sorted(set(done['device']))) or '-'}; PROJECTED at the paper's recipe "
          f"{done['projected h'].sum():,.0f} h on the same device (one thread per step)")  # fmt: skip
    print(gpu_note(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
