"""`python -m bench` (`make bench`): run every benchmark, print the table, write
docs/BENCHMARKS.md.

    python -m bench                 # everything (about 10-15 minutes on a 2-core CPU)
    python -m bench --only 1,3      # some figures (1 and 2 are measured together)
    python -m bench --no-doc        # do not rewrite docs/BENCHMARKS.md

Figures: 1 sweep throughput vs an anchor-style baseline, 2 useful FLOP rate vs dense matmul,
3 importance in one backward per batch vs a batch-1 loop, 4 structural pruning latency vs
FLOPs, 5 peak memory, 6 the dashboard (bench/bench_dashboard.py, if present), 7 a GPU
paper-scale sweep (only where a GPU is visible), 8 the Ray executor's per-cell overhead and
scaling (bench/ray_bench.py), 9 the dashboard in Chromium: first charts and a widget change per
page (bench/browser_timing.py), 10 bf16 vs fp32 on CPU: agreement and speed
(bench/bf16.py), 11 fine-tuning throughput vs the Hugging Face Trainer (bench/finetune_speed.py), 12 the
paper-protocol plan's measured cost and its projection to the paper's recipe (bench/plan_cost.py),
13 the iterative order: mbp's runner path vs the anchor's re-score-every-step loop
(bench/iterative.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import warnings

from bench.common import Row, Section, load_average, machine_info

ALL = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(map(str, sorted(ALL))), help="figures to run, e.g. 1,3,6"
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (>= 3)")
    parser.add_argument("--mbert-per-lang", type=int, default=2, help="sweep pairs per language")
    parser.add_argument("--e5-per-lang", type=int, default=2, help="sweep pairs per language")
    parser.add_argument(
        "--limit-per-lang", type=int, default=32, help="figure 2 sweep pairs per language"
    )
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/BENCHMARKS.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    only = {int(x) for x in args.only.split(",") if x.strip()}
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    start = time.perf_counter()

    import torch
    from transformers.utils import logging as hf_logging

    from bench import sections
    from bench.report import table, write_doc
    from mbp.engine.device import use_all_cores

    hf_logging.set_verbosity_error()
    use_all_cores()  # mbp's default on CPU; the baseline runs on the same threads
    info = machine_info()
    settings = sections.Settings(
        repeats=args.repeats,
        mbert_per_lang=args.mbert_per_lang,
        e5_per_lang=args.e5_per_lang,
        limit_per_lang=args.limit_per_lang,
    )
    print(f"mbp benchmarks on {info['cpu']} ({info['cores']} cores), torch {torch.__version__}")

    tokenizer = e5_model = None
    if only & {1, 2, 3, 4, 5, 7, 13}:
        from bench.common import e5_small

        e5_model, tokenizer = e5_small()

    plan = [
        ({1, 2}, "figures 1-2: sweeps", lambda: sections.sweeps(tokenizer, e5_model, settings)),
        ({3}, "figure 3: importance", lambda: sections.importance(tokenizer, e5_model, settings)),
        ({4}, "figure 4: structural pruning", lambda: sections.pruning(tokenizer, settings)),
        ({5}, "figure 5: memory", lambda: sections.memory(tokenizer, settings)),
        ({6}, "figure 6: dashboard", sections.dashboard),
        ({7}, "figure 7: GPU", lambda: sections.gpu(tokenizer)),
        ({8}, "figure 8: Ray executor", lambda: _ray(settings.repeats)),
        ({9}, "figure 9: dashboard in a browser", lambda: sections.browser(settings.repeats)),
        ({10}, "figure 10: bf16 on CPU", lambda: sections.bf16(settings.repeats)),
        (
            {11},
            "figure 11: fine-tuning vs the Trainer",
            lambda: sections.finetune_speed(settings.repeats),
        ),
        ({12}, "figure 12: the plan's cost", sections.plan_cost),
        (
            {13},
            "figure 13: the iterative order vs the anchor loop",
            lambda: sections.iterative(tokenizer, e5_model, settings),
        ),
    ]
    done: list[Section] = []
    for figures, title, fn in plan:
        if not figures & only:
            continue
        t0 = time.perf_counter()
        print(f"{title} (load average {load_average()}) ...", flush=True)
        try:
            out = fn()
        except Exception as exc:  # report the failure in the table, run the other figures
            traceback.print_exc()
            out = Section(title, [Row(str(min(figures)), title, f"FAILED: {exc!r}"[:200])])
        for sec in out if isinstance(out, tuple) else (out,):
            sec.seconds = time.perf_counter() - t0
            if figures == {6}:
                for row in sec.rows:
                    print(f"  dashboard: {row.figure}: {row.value}")
            done.append(sec)
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)

    rows = [row for sec in done for row in sec.rows]
    total = time.perf_counter() - start
    print()
    print(table(rows))
    print(f"\ntotal {total / 60:.1f} min; load average at the end {load_average()}")
    if not args.no_doc and only == ALL:
        info["load average at end (1/5/15 min)"] = load_average()
        path = write_doc(info, settings.describe(), rows, done, total)
        print(f"wrote {path}")
    elif not args.no_doc:
        print("docs/BENCHMARKS.md not rewritten: only a full run writes it")
    if only != ALL:  # a partial run: its sections' Markdown, to read
        for sec in done:
            print("\n".join(sec.details))
    return 0


def _ray(repeats: int):
    from bench.ray_bench import ray_executor

    return ray_executor(repeats)


if __name__ == "__main__":
    sys.exit(main())
