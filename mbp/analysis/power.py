"""Sample-size guidance: how many examples (and seeds) a run needs to separate two languages.

Two languages are scored on their own test examples, so their accuracies are independent
proportions. The normal approximation for their difference (Fleiss 1981, as JMP and PASS
compute it, without continuity correction by default) says a two-sided test at level `alpha`
finds a true gap d = p1 - p2 with probability `power` when

    d = z(1 - alpha/2) * sqrt(V0) + z(power) * sqrt(V1)
    V0 = 2 pbar (1 - pbar) / n + 2 s^2 / k     (the gap's variance if the languages were equal)
    V1 = (p1 q1 + p2 q2) / n + 2 s^2 / k       (its variance at the true accuracies)

with n examples per language and each language's score the mean of k seeds whose single-seed
scores spread with standard deviation s. The seeds share the examples, so more seeds average
away s but not the examples' noise; seed effects are taken as independent per language (the
conservative case). With s = 0 this is the textbook two-proportion formula.

    examples_needed(0.08, 0.06)                                   # 2554 per language
    detectable_difference(500, accuracy=0.7)                      # ~0.08: 8 points
    seeds_needed(0.75, 0.70, n_examples=2000, seed_sd=0.01)       # seeds at that spread
"""

from __future__ import annotations

import math

from scipy.optimize import brentq
from scipy.stats import norm

from mbp.errors import MbpError

ALPHA = 0.05  # two-sided: a 95 % test
POWER = 0.80
MAX_SEEDS = 1000  # beyond this "more seeds" is no advice

ASSUMPTIONS = (
    "Normal approximation for two independent accuracies (each language its own examples), "
    "95 % two-sided test, 80 % power; accuracies centred on the level given; with seeds, each "
    "language's score is the mean over seeds that share its examples, seed effects independent "
    "per language."
)


def _proportion(value: float, name: str) -> float:
    if not 0 < value < 1:
        raise MbpError(f"{name} {value!r} is not strictly between 0 and 1: pass a proportion "
                       "(e.g. 0.7 for 70 % accuracy)")  # fmt: skip
    return float(value)


def _checked(alpha: float, power: float, seeds: float, seed_sd: float) -> tuple[float, float]:
    """(z for the test, z for the power) after checking the common arguments."""
    _proportion(alpha, "alpha")
    if not 0.5 <= power < 1:
        raise MbpError(f"power {power!r} is outside [0.5, 1): pass e.g. 0.8 for 80 %")
    if seeds < 1:
        raise MbpError(f"seeds {seeds!r} is below 1: a score needs at least one seed")
    if not seed_sd >= 0:  # also refuses NaN
        raise MbpError(f"seed_sd {seed_sd!r} is not a standard deviation >= 0: pass the "
                       "spread of one seed's score in metric units (0.01 = 1 point)")  # fmt: skip
    return float(norm.ppf(1 - alpha / 2)), float(norm.ppf(power))


def _gap(p1: float, p2: float) -> float:
    _proportion(p1, "p1")
    _proportion(p2, "p2")
    if p1 == p2:
        raise MbpError(f"p1 and p2 are both {p1!r}: no difference to detect; pass two "
                       "different accuracies")  # fmt: skip
    return abs(p1 - p2)


def power_of(
    n_examples: float,
    p1: float,
    p2: float,
    *,
    seeds: float = 1,
    seed_sd: float = 0.0,
    alpha: float = ALPHA,
) -> float:
    """The probability that a two-sided test at `alpha` separates accuracies `p1` and `p2`
    with `n_examples` per language and the mean of `seeds` seeds each."""
    if n_examples <= 0:
        raise MbpError(f"n_examples {n_examples!r} is not positive: pass examples per language")
    gap = _gap(p1, p2)
    z_test, _ = _checked(alpha, POWER, seeds, seed_sd)
    pbar = (p1 + p2) / 2
    seed_var = 2 * seed_sd**2 / seeds
    v0 = 2 * pbar * (1 - pbar) / n_examples + seed_var
    v1 = (p1 * (1 - p1) + p2 * (1 - p2)) / n_examples + seed_var
    return float(norm.cdf((gap - z_test * math.sqrt(v0)) / math.sqrt(v1)))


def examples_needed(
    p1: float,
    p2: float,
    *,
    seeds: int = 1,
    seed_sd: float = 0.0,
    alpha: float = ALPHA,
    power: float = POWER,
    continuity: bool = False,
) -> int | None:
    """Examples per language to separate accuracies `p1` and `p2` (two-sided `alpha`, with
    probability `power`); None when no number of examples does it at this many seeds (the
    seeds' spread alone hides the gap: add seeds). `continuity`: Fleiss's continuity
    correction (more conservative; Zar's and some textbooks' tables)."""
    gap = _gap(p1, p2)
    _checked(alpha, power, seeds, seed_sd)

    def short(n: float) -> float:
        return power_of(n, p1, p2, seeds=seeds, seed_sd=seed_sd, alpha=alpha) - power

    if short(1e15) <= 0:
        return None
    n = brentq(short, 1e-9, 1e15, xtol=1e-9, rtol=1e-12)
    if continuity:
        n = n / 4 * (1 + math.sqrt(1 + 4 / (n * gap))) ** 2
    return math.ceil(n - 1e-9)


def seeds_needed(
    p1: float,
    p2: float,
    n_examples: int,
    seed_sd: float,
    *,
    alpha: float = ALPHA,
    power: float = POWER,
) -> int | None:
    """Seeds per language (averaged) to separate `p1` and `p2` with `n_examples` each at a
    single-seed spread `seed_sd`; None when even endless seeds would not (the examples' noise
    alone hides the gap: add examples) or it takes more than MAX_SEEDS."""
    _gap(p1, p2)
    _checked(alpha, power, 1, seed_sd)

    def short(k: float) -> float:
        return power_of(n_examples, p1, p2, seeds=k, seed_sd=seed_sd, alpha=alpha) - power

    if short(1) >= 0:
        return 1
    if short(MAX_SEEDS) < 0:
        return None
    return math.ceil(brentq(short, 1, MAX_SEEDS, xtol=1e-9) - 1e-9)


def around(accuracy: float, difference: float) -> tuple[float, float]:
    """(p1, p2) = accuracy +- difference / 2: a gap of `difference` centred on `accuracy`."""
    _proportion(accuracy, "accuracy")
    if not 0 < difference < 1:
        raise MbpError(f"difference {difference!r} is not between 0 and 1: pass it in metric "
                       "units (0.05 = 5 points)")  # fmt: skip
    p1, p2 = accuracy + difference / 2, accuracy - difference / 2
    if not (p2 > 0 and p1 < 1):
        raise MbpError(f"a gap of {difference:g} centred on accuracy {accuracy:g} leaves "
                       "[0, 1]: pass a smaller difference or an accuracy nearer 0.5")  # fmt: skip
    return p1, p2


def detectable_difference(
    n_examples: int,
    accuracy: float = 0.5,
    *,
    seeds: int = 1,
    seed_sd: float = 0.0,
    alpha: float = ALPHA,
    power: float = POWER,
) -> float | None:
    """The smallest gap (metric units, centred on `accuracy`) that `n_examples` per language
    and `seeds` seeds separate with probability `power`; None if none that fits in [0, 1]."""
    _proportion(accuracy, "accuracy")
    _checked(alpha, power, seeds, seed_sd)
    widest = 2 * min(accuracy, 1 - accuracy) * (1 - 1e-9)

    def short(d: float) -> float:
        p1, p2 = accuracy + d / 2, accuracy - d / 2
        return power_of(n_examples, p1, p2, seeds=seeds, seed_sd=seed_sd, alpha=alpha) - power

    if short(widest) < 0:
        return None
    return float(brentq(short, 1e-9, widest, xtol=1e-9))
