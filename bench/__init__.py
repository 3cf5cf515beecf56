"""mbp's benchmarks: `python -m bench` (`make bench`) prints the table and writes
docs/BENCHMARKS.md. See bench/__main__.py for the figures and bench/common.py for how timing
and FLOP counting work."""
