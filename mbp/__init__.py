"""mbp: measure how prunable the attention heads of (multilingual) BERT models are.

The engine (no Streamlit here): models, tasks, head gating/pruning/importance, sweeps, a DuckDB
results store and the `mbp` command line. The dashboard (`app.py`, `views/`) reads the store.
"""

__version__ = "0.1.0"
