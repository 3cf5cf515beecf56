"""Deterministic, label-stratified subsampling of Examples (and its complement).

The selection depends only on (ids, labels, n, seed), never on row order or text. XNLI files
are parallel with identical labels in every language, so the same call picks the same pair ids
in all 15 languages, and results across languages compare the same sentences:

    >>> en = subsample(load_examples("xnli", "dev", "en"), 300, seed=0)
    >>> sw = subsample(load_examples("xnli", "dev", "sw"), 300, seed=0)
    >>> bool((en.ids == sw.ids).all())
    True
"""

from __future__ import annotations

import numpy as np

from mbp.errors import MbpError
from mbp.tasks.examples import Examples

_MASK64 = (1 << 64) - 1


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a fixed, platform-independent hash of uint64 values."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _keys(ids: np.ndarray, seed: int) -> np.ndarray:
    """A pseudo-random sort key per id that depends only on (id, seed)."""
    seed_hash = _splitmix64(np.array([int(seed) & _MASK64], dtype=np.uint64))
    return _splitmix64(ids.astype(np.int64).view(np.uint64) ^ seed_hash)


def strata(labels: np.ndarray) -> np.ndarray:
    """The stratum of each row: the class id, or for float scores (stsb) the integer part of the
    score with 5.0 joining [4, 5), so each stratum is a unit-wide score band."""
    if np.issubdtype(labels.dtype, np.integer):
        return labels.astype(np.int64)
    return np.clip(np.floor(labels), 0, 4).astype(np.int64)


def largest_remainder(counts: np.ndarray, n: int) -> np.ndarray:
    """Split n across strata in proportion to counts (Hamilton's largest-remainder method).

    Integer arithmetic only, so it is exact; ties go to the larger stratum, then the lower one.
    """
    total = int(counts.sum())
    quotas = counts * n // total
    remainders = counts * n % total
    leftover = n - int(quotas.sum())
    order = np.lexsort((np.arange(len(counts)), -counts, -remainders))
    quotas[order[:leftover]] += 1
    return quotas


def subsample(examples: Examples, n: int, seed: int) -> Examples:
    """n rows, stratified by label (proportional, largest remainder), rows sorted by id.

    n >= len(examples) returns every row. n <= 0 raises MbpError.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
        raise MbpError(f"subsample size n={n!r} must be a positive integer: use n >= 1")
    examples.check_unique_ids()
    total = len(examples)
    if n >= total:
        return examples.take(np.argsort(examples.ids, kind="stable"))
    groups = strata(examples.labels)
    classes, counts = np.unique(groups, return_counts=True)
    quotas = largest_remainder(counts.astype(np.int64), int(n))
    keys = _keys(examples.ids, seed)
    chosen = []
    for cls, quota in zip(classes, quotas, strict=True):
        rows = np.flatnonzero(groups == cls)
        # Smallest hash key first; the id breaks (astronomically unlikely) key ties.
        order = np.lexsort((examples.ids[rows], keys[rows]))
        chosen.append(rows[order[:quota]])
    picked = np.concatenate(chosen)
    picked = picked[np.argsort(examples.ids[picked], kind="stable")]
    prefix = f"{examples.note}; " if examples.note else ""
    return examples.take(picked, note=f"{prefix}stratified subsample {n} of {total}, seed {seed}")


def complement(examples: Examples, subset: Examples) -> Examples:
    """The rows of `examples` whose ids are not in `subset` (e.g. train minus "heldout")."""
    if subset.task != examples.task:
        raise MbpError(
            f"complement of a {subset.task!r} subset within {examples.task!r} examples: "
            f"pass a subset of the same task"
        )
    keep = np.flatnonzero(~np.isin(examples.ids, subset.ids))
    prefix = f"{examples.note}; " if examples.note else ""
    return examples.take(keep, note=f"{prefix}complement of {len(subset)} rows")
