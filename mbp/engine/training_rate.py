"""One measured line early in a long fine-tune: its examples/s so far and the training time left.

The announcement before a fine-tune is an estimate; this line is the measurement that corrects
it, said once, after `after_s` seconds of training (a fine-tune shorter than that says nothing):

    rate = TrainingRate(total_steps=313)
    for batch in batches:
        ...
        line = rate.step(len(batch.labels))  # a str once, else None
        if line:
            print(f"fine-tune e5-small on mnli: {line}", file=sys.stderr)

The rate is the TRAINING loop's, live (what `mbp.experiments.finetune_estimate` later reads
back from checkpoints as seconds per example-epoch); `bench/plan_cost.py` projects from the
results' CELL seconds instead (fine-tunes plus evaluations).
"""

from __future__ import annotations

import time

from mbp.durations import format_duration

#: Seconds of training before the measured rate is said (long enough to steady the rate).
REPORT_AFTER_S = 30.0


class TrainingRate:
    """Counts steps and examples with `time.perf_counter` only (no device sync, no extra work)."""

    def __init__(self, total_steps: int, after_s: float = REPORT_AFTER_S) -> None:
        self.total_steps = total_steps
        self.after_s = after_s
        self.steps = 0
        self.examples = 0
        self.reported = False
        self._start = time.perf_counter()

    def step(self, examples: int) -> str | None:
        """Count one finished step of `examples`; the line to say, the first time `after_s`
        has passed with steps still to go, else None."""
        self.steps += 1
        self.examples += examples
        if self.reported or self.steps >= self.total_steps:
            return None
        elapsed = time.perf_counter() - self._start
        if elapsed < self.after_s:
            return None
        self.reported = True
        left = elapsed / self.steps * (self.total_steps - self.steps)
        return (
            f"{self.examples / elapsed:.1f} examples/s measured over the first {self.steps} of "
            f"{self.total_steps} steps, ~{format_duration(left)} of training left"
        )
