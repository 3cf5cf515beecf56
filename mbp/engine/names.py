"""The engine's vocabulary, torch-free so the CLI, the dashboard and the plan share it.

from mbp.engine.names import ORDERS, ESTIMATORS
"""

from __future__ import annotations

from typing import Literal

Order = Literal["importance", "reverse", "random", "iterative"]
ORDERS: tuple[str, ...] = ("importance", "reverse", "random", "iterative")
#: Orders that rank heads by importance scores (a sweep computes them first).
RANKED_ORDERS: tuple[str, ...] = ("importance", "reverse", "iterative")
Estimator = Literal["gradient", "fisher", "random"]
#: What a user may choose; the engine also has "random" (a baseline ranking).
ESTIMATORS: tuple[str, ...] = ("gradient", "fisher")
ENGINE_ESTIMATORS: tuple[str, ...] = ("gradient", "fisher", "random")
Protocol = Literal["posthoc", "retrain"]
#: posthoc: prune the fine-tuned model and evaluate (Michel et al. 2019); retrain: the paper's,
#: prune the pre-trained model, fine-tune with the heads removed, evaluate.
PROTOCOLS: tuple[str, ...] = ("posthoc", "retrain")
PAPER_PROTOCOL = "retrain"
