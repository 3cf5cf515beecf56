"""Sample-size guidance (mbp.analysis.power) against textbook values and a simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from mbp.analysis import power
from mbp.errors import MbpError


def test_two_proportions_match_textbook_sample_sizes():
    # JMP's two-sample proportions example: 0.08 vs 0.06, two-sided 5 %, 80 % power -> 2554
    assert power.examples_needed(0.08, 0.06) == 2554
    # Zar (1999) example 24.26: 0.45 vs 0.25, power 0.90, with continuity correction: 127.23
    assert power.examples_needed(0.45, 0.25, power=0.9, continuity=True) == 128
    assert power.examples_needed(0.45, 0.25, power=0.9) == 118  # Fleiss without it: 117.4
    assert power.examples_needed(0.25, 0.45, power=0.9) == 118  # the order does not matter


def test_the_returned_count_is_the_smallest_that_reaches_the_power():
    for p1, p2 in ((0.75, 0.70), (0.55, 0.45), (0.9, 0.8)):
        n = power.examples_needed(p1, p2)
        assert power.power_of(n, p1, p2) >= 0.8 > power.power_of(n - 1, p1, p2)


def test_a_simulated_z_test_reaches_the_promised_power():
    p1, p2 = 0.75, 0.70
    n = power.examples_needed(p1, p2)
    rng = np.random.default_rng(0)
    a, b = rng.binomial(n, p1, 4000) / n, rng.binomial(n, p2, 4000) / n
    pooled = (a + b) / 2
    z = (a - b) / np.sqrt(2 * pooled * (1 - pooled) / n)
    assert np.mean(np.abs(z) > norm.ppf(0.975)) == pytest.approx(0.80, abs=0.025)


def test_detectable_difference_inverts_examples_needed():
    gap = power.detectable_difference(500, accuracy=0.7)
    assert 0.07 < gap < 0.09  # ~8 points at 500 examples per language
    p1, p2 = power.around(0.7, gap)
    assert power.power_of(500, p1, p2) == pytest.approx(0.8, abs=1e-6)
    assert power.examples_needed(p1, p2) in (500, 501)  # 500 up to the root finder's tolerance
    assert power.detectable_difference(1, accuracy=0.5) is None  # nothing fits in [0, 1]


def test_seeds_average_away_their_spread_but_not_the_examples_noise():
    p1, p2 = 0.75, 0.70
    alone = power.examples_needed(p1, p2)
    assert power.examples_needed(p1, p2, seeds=3, seed_sd=0.01) > alone  # seeds add noise
    assert power.examples_needed(p1, p2, seeds=12, seed_sd=0.01) < power.examples_needed(
        p1, p2, seeds=3, seed_sd=0.01
    )
    # one seed spreading 5 points hides a 5-point gap however many examples: add seeds
    assert power.examples_needed(p1, p2, seed_sd=0.05) is None
    # with examples to spare only the seeds count: k = 2 (z_a + z_b)^2 s^2 / d^2 = 2.51 -> 3
    assert power.seeds_needed(p1, p2, 10**9, seed_sd=0.02) == 3
    assert power.seeds_needed(p1, p2, 10**6, seed_sd=0.0) == 1
    assert power.seeds_needed(p1, p2, 200, seed_sd=0.01) is None  # 200 examples are too few


def test_bad_values_are_refused_in_one_line_naming_them():
    with pytest.raises(MbpError, match=r"accuracy 1\.2 is not strictly between 0 and 1"):
        power.detectable_difference(100, accuracy=1.2)
    with pytest.raises(MbpError, match=r"power 0\.3 is outside \[0\.5, 1\)"):
        power.examples_needed(0.7, 0.6, power=0.3)
    with pytest.raises(MbpError, match=r"p1 and p2 are both 0\.7: no difference"):
        power.examples_needed(0.7, 0.7)
    with pytest.raises(MbpError, match=r"seed_sd -0\.1 is not a standard deviation"):
        power.examples_needed(0.7, 0.6, seed_sd=-0.1)
    with pytest.raises(MbpError, match="seeds 0 is below 1"):
        power.examples_needed(0.7, 0.6, seeds=0)
    with pytest.raises(MbpError, match="leaves"):
        power.around(0.95, 0.2)
    with pytest.raises(MbpError, match="n_examples 0 is not positive"):
        power.power_of(0, 0.7, 0.6)
