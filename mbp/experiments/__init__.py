"""Running experiments: run parameters, specs and keys, the plan, the runner and its executors.

Data flow: CLI or page -> `RunParams` -> `RunSpec` (key) -> cells -> executor -> store.
"""
