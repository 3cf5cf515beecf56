"""Analysing stored results: derived tables, the paper's claims and the report (no torch)."""
