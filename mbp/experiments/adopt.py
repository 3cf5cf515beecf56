"""`mbp precompute --adopt STEP ... --from DIR`: a recompute's finished plan steps replace their
shipped runs in the export at `--out` (the dashboard's `precomputed/`).

    mbp precompute --adopt glue-qnli-e5-small --from precomputed/in-progress   # --out precomputed

The rule (its one definition is `plan_adoption`), DIR being the recompute's export and OUT the
shipped one:
- Finished: every named step's runs (`plan.step_runs` on DIR) are `done`, and those that evaluate
  models (sweeps, layer-wise) have per-example outcomes. Else refused, naming what is missing.
- Group closure: a fine-tuned checkpoint (a run's `spec_json.$.checkpoint`) is shipped whole or
  not at all, so a shipped language set never mixes two fine-tunes. The checkpoints the named
  steps' runs use in DIR or OUT are "touched"; every plan step with a run on a touched checkpoint
  (in DIR or OUT) must be named, and every OUT run on one must belong to a named step or be an
  importance run (what sweeps rank heads by: recomputed with them). Else refused, naming them.
- Adopted = the named steps' DIR runs + DIR's finished importance runs on their checkpoints +
  those checkpoints' rows. Replaced = every OUT run on a touched checkpoint, the named steps' OUT
  runs, any OUT run with an adopted run's id, and OUT's rows of the touched checkpoints.

The new export is built in scratch stores with the store's own import, delete and export (the
adopted part of DIR is imported with `replace=True`, as `mbp import --replace`, which deletes OUT's
runs and checkpoints with its ids; the other replaced ones are deleted after it), checked
(runs, checkpoints and every run's row counts as planned; the named steps done) and only then
moved into OUT file by file with `os.replace` (manifest.json last). On any error OUT is untouched;
whatever else lives in OUT (e.g. `in-progress/`) stays. The manifest keeps OUT's provenance (plan,
commands, models, data files), takes DIR's per-run data files for the adopted runs, and appends a
record of the adoption to `adoptions`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mbp.errors import MbpError
from mbp.experiments.plan import EVALUATING_KINDS, Step, step_runs
from mbp.store import ResultsStore, export_store, import_into
from mbp.store.schema import RUN_TABLES
from mbp.store.transfer import EXPORT_MANIFEST_KEYS as EXPORT_KEYS
from mbp.store.transfer import MANIFEST


@dataclass(frozen=True)
class Snapshot:
    """One export as the rule reads it: its runs, the runs with outcomes, its checkpoints."""

    label: str  # the directory as given, for messages
    runs: pd.DataFrame
    with_outcomes: frozenset[str]
    checkpoints: pd.DataFrame

    @classmethod
    def of(cls, store: ResultsStore, label: str) -> Snapshot:
        return cls(label, store.runs(), frozenset(store.outcome_run_ids()), store.checkpoints())


@dataclass(frozen=True)
class Adoption:
    """What adopting `steps` does, decided before anything is written (ids, sorted)."""

    steps: tuple[str, ...]
    runs: tuple[str, ...]  # DIR's runs that go into OUT
    checkpoints: tuple[str, ...]  # DIR's checkpoint rows that go into OUT
    replaced_runs: tuple[str, ...]  # OUT's runs that go
    replaced_checkpoints: tuple[str, ...]  # OUT's checkpoint rows that go


def checkpoint_of(spec_json: Any) -> str | None:
    """The fine-tuned checkpoint a run evaluates (None: the model as it is, or no spec)."""
    try:
        return json.loads(spec_json).get("checkpoint") or None
    except (TypeError, ValueError, AttributeError):
        return None


def plan_adoption(
    names: Sequence[str], plan: list[Step], fresh: Snapshot, shipped: Snapshot
) -> Adoption:
    """The rule of the module docstring; MbpError (one line) where it refuses."""
    known = {s.name: s for s in plan}
    unknown = [n for n in dict.fromkeys(names) if n not in known]
    if unknown:
        raise MbpError(
            f"unknown plan step(s) {', '.join(unknown)}: `mbp precompute --status` lists the "
            "plan's steps"
        )
    named = [s for s in plan if s.name in set(names)]  # in plan order
    in_fresh, in_shipped = step_runs(fresh.runs, plan), step_runs(shipped.runs, plan)
    for step in named:
        _require_finished(step, in_fresh[step.name], fresh)
    ckpt = {r.run_id: checkpoint_of(r.spec_json) for r in shipped.runs.itertuples()}
    ckpt.update({r.run_id: checkpoint_of(r.spec_json) for r in fresh.runs.itertuples()})

    def used(step: Step) -> set[str]:
        runs = [*in_fresh[step.name], *in_shipped[step.name]]
        return {c for r in runs if r is not None and (c := ckpt[r.run_id])}

    new = {c for s in named for r in in_fresh[s.name] if (c := ckpt[r.run_id])}
    touched = set().union(*(used(s) for s in named))
    _require_closure(named, plan, touched, used, fresh)

    adopted = [r.run_id for s in named for r in in_fresh[s.name]]
    adopted += sorted(
        r.run_id
        for r in fresh.runs.itertuples()
        if r.kind == "importance" and r.status == "done" and ckpt[r.run_id] in new
    )
    adopted = list(dict.fromkeys(adopted))
    steps_shipped = {r.run_id for s in named for r in in_shipped[s.name] if r is not None}
    on_touched = shipped.runs[shipped.runs["run_id"].map(ckpt).isin(touched)]
    strays = on_touched[
        ~on_touched["run_id"].isin(steps_shipped | set(adopted))
        & (on_touched["kind"] != "importance")
    ]
    if len(strays):
        listed = ", ".join(_describe(r) for r in strays.head(4).itertuples())
        raise MbpError(
            f"{len(strays)} run(s) in {shipped.label} ({listed}) belong to none of the named "
            f"steps but use checkpoint(s) {', '.join(sorted(set(strays['run_id'].map(ckpt))))} "
            "that would be replaced: adopt their steps too, or `mbp delete` them from the export "
            "first"
        )
    missing_rows = sorted(new - set(fresh.checkpoints["ckpt_id"]))
    if missing_rows:
        raise MbpError(
            f"checkpoint(s) {', '.join(missing_rows)} of the adopted runs have no row in "
            f"{fresh.label}: re-export it from the store that fine-tuned them"
        )
    replaced = set(on_touched["run_id"]) | steps_shipped
    replaced |= set(shipped.runs["run_id"]) & set(adopted)
    return Adoption(
        steps=tuple(s.name for s in named),
        runs=tuple(adopted),
        checkpoints=tuple(sorted(new)),
        replaced_runs=tuple(sorted(replaced)),
        replaced_checkpoints=tuple(sorted(set(shipped.checkpoints["ckpt_id"]) & touched)),
    )


def _describe(run: Any) -> str:
    return f"{run.run_id}: {run.kind} {run.model} {run.task} {run.lang} {run.method}"


def _require_finished(step: Step, runs: list, fresh: Snapshot) -> None:
    """Every run of `step` done in DIR, the evaluating ones with per-example outcomes."""
    undone = [(key, run) for key, run in zip(step.runs, runs, strict=True)
              if run is None or run.status != "done"]  # fmt: skip
    if undone:
        listed = ", ".join(
            f"{' '.join(key)} ({'not started' if run is None else run.status})"
            for key, run in undone[:4]
        )
        raise MbpError(
            f"plan step {step.name} is not finished in {fresh.label}: {len(undone)} of "
            f"{len(runs)} runs not done ({listed}{', ...' if len(undone) > 4 else ''}): finish it "
            "there first or leave it out"
        )
    lacking = [r.run_id for r in runs
               if r.kind in EVALUATING_KINDS and r.run_id not in fresh.with_outcomes]  # fmt: skip
    if lacking:
        raise MbpError(
            f"plan step {step.name} in {fresh.label} has {len(lacking)} run(s) without "
            f"per-example outcomes ({', '.join(lacking[:4])}): `mbp precompute "
            f"--backfill-outcomes --only {step.name}` on its store, re-export, then adopt"
        )


def _require_closure(named, plan, touched, used, fresh: Snapshot) -> None:
    """Every plan step on a touched checkpoint is named (one line per refusal, joined)."""
    names = {s.name for s in named}
    labels = {
        row.ckpt_id: f"{row.ckpt_id} ({row.model} {row.task})"
        for row in fresh.checkpoints.itertuples()
    }
    problems = []
    for ckpt in sorted(touched):
        missing = [s.name for s in plan if s.name not in names and ckpt in used(s)]
        if missing:
            sharing = [s.name for s in named if ckpt in used(s)]
            problems.append(
                f"{', '.join(sharing)} share{'s' if len(sharing) == 1 else ''} checkpoint "
                f"{labels.get(ckpt, ckpt)} with {', '.join(missing)}"
            )
    if problems:
        raise MbpError("; ".join(problems) + ": adopt them together (or finish them first)")


# -- doing it ---------------------------------------------------------------------------------


def adopt(
    names: Sequence[str],
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    plan: list[Step],
    *,
    command: str = "",
) -> dict[str, Any]:
    """Adopt the plan steps `names` of the export `source` into the export `out` (see the
    module docstring); returns the manifest's record of the adoption."""
    source, out = Path(source), Path(out)
    for path in (source, out):
        if not (path / MANIFEST).is_file():
            raise MbpError(f"{path} holds no mbp export ({MANIFEST}): pass an export directory")
    with tempfile.TemporaryDirectory(prefix="mbp-adopt-") as scratch:
        fresh_store = ResultsStore(Path(scratch) / "from.duckdb")
        work = ResultsStore(Path(scratch) / "adopted.duckdb")
        import_into(fresh_store, source)
        import_into(work, out)
        fresh, shipped = Snapshot.of(fresh_store, str(source)), Snapshot.of(work, str(out))
        plan_ = plan_adoption(names, plan, fresh, shipped)
        adopted, kept = set(plan_.runs), set(shipped.runs["run_id"]) - set(plan_.replaced_runs)
        expected = {**_row_counts(work, kept), **_row_counts(fresh_store, adopted)}
        # DIR's copy keeps only what is adopted; importing it with replace deletes OUT's runs and
        # checkpoints with its ids; the rest the rule replaces (other ids) goes after it, once no
        # adopted run names those checkpoints
        _delete(fresh_store, set(fresh.runs["run_id"]) - adopted,
                set(fresh.checkpoints["ckpt_id"]) - set(plan_.checkpoints))  # fmt: skip
        import_into(work, fresh_store.path, replace=True)
        _delete(work, set(plan_.replaced_runs) - adopted,
                set(plan_.replaced_checkpoints) - set(plan_.checkpoints))  # fmt: skip
        _check(work, expected, plan_, shipped, [s for s in plan if s.name in plan_.steps])

        old, new = _manifest(out), _manifest(source)
        record = _record(plan_, source, new, fresh, shipped, command)
        extra = _manifest_extra(old, new, set(work.runs()["run_id"]), adopted, record)
        staged = out.parent / f".{out.name}.adopt-{uuid.uuid4().hex[:8]}"
        try:
            export_store(work, staged, manifest_extra=extra)
            check = ResultsStore(Path(scratch) / "check.duckdb")
            import_into(check, staged)  # the export reads back as the store it came from
            if check.counts() != work.counts():
                raise MbpError(
                    f"the new export of {out} does not read back as built ({check.counts()} vs "
                    f"{work.counts()}): nothing was changed; report this as a bug"
                )
            _move_into(staged, out)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    return record


def _manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))


def _record(
    plan_: Adoption, source: Path, new: dict, fresh: Snapshot, shipped: Snapshot, command: str
) -> dict[str, Any]:
    """The manifest's record of the adoption (`new`: DIR's manifest)."""
    from mbp.provenance import code_commit

    commits = fresh.runs.set_index("run_id").loc[list(plan_.runs), "code_commit"]
    return {
        "steps": list(plan_.steps),
        "from": str(source),
        "from_store_id": new.get("store_id"),
        "from_exported_at": new.get("exported_at"),
        "from_code_commits": sorted({str(c) for c in commits}),
        "adopted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_commit": code_commit(),
        "command": command,
        "runs_adopted": list(plan_.runs),
        "runs_replaced": list(plan_.replaced_runs),
        "checkpoints": _checkpoint_changes(plan_, fresh, shipped),
    }


def _row_counts(store: ResultsStore, run_ids: set[str]) -> dict[tuple[str, str], int]:
    """(table, run_id) -> rows, for every run table and the runs given (0 where none)."""
    rows = " UNION ALL ".join(f"SELECT '{t}' AS t, run_id FROM {t}" for t in RUN_TABLES)
    frame = store.sql(f"SELECT t, run_id, count(*) AS n FROM ({rows}) GROUP BY t, run_id")
    counts = dict.fromkeys(((t, r) for t in RUN_TABLES for r in run_ids), 0)
    counts.update({(t, r): int(n) for t, r, n in frame.itertuples(index=False) if r in run_ids})
    return counts


def _delete(store: ResultsStore, runs: set[str], checkpoints: set[str]) -> None:
    """Delete these runs (with all their rows), then these checkpoint rows, from a scratch store."""
    for run_id in sorted(runs):
        store.delete_run(run_id)
    for ckpt_id in sorted(checkpoints):
        store.delete_checkpoint(ckpt_id)


def _check(
    work: ResultsStore,
    expected: dict[tuple[str, str], int],
    plan_: Adoption,
    shipped: Snapshot,
    steps: list[Step],
) -> None:
    """The built store holds exactly what `plan_` says, each run with its source's rows."""
    runs = work.runs()
    want_runs = (set(shipped.runs["run_id"]) - set(plan_.replaced_runs)) | set(plan_.runs)
    want_ckpts = set(shipped.checkpoints["ckpt_id"]) - set(plan_.replaced_checkpoints)
    want_ckpts |= set(plan_.checkpoints)
    problems = []
    if set(runs["run_id"]) != want_runs:
        problems.append("runs differ from the plan")
    if set(work.checkpoints()["ckpt_id"]) != want_ckpts:
        problems.append("checkpoints differ from the plan")
    if _row_counts(work, want_runs) != expected:
        problems.append("rows per run differ from their sources")
    chosen = step_runs(runs, steps)
    if any(r is None or r.status != "done" for s in steps for r in chosen[s.name]):
        problems.append("an adopted step is not done after the import")
    if problems:
        raise MbpError(
            f"the adopted export failed its check ({'; '.join(problems)}): nothing was "
            "changed; report this as a bug"
        )


def _checkpoint_changes(plan_: Adoption, fresh: Snapshot, shipped: Snapshot) -> list[dict]:
    """Per touched checkpoint: its dev score shipped and new (None where it has no row)."""
    adopted = fresh.checkpoints[fresh.checkpoints["ckpt_id"].isin(plan_.checkpoints)]
    before, after = _dev_scores(shipped.checkpoints), _dev_scores(adopted)
    out = []
    for ckpt_id in sorted(set(plan_.checkpoints) | set(plan_.replaced_checkpoints)):
        metric, shipped_dev = before.get(ckpt_id, (None, None))
        new_metric, new_dev = after.get(ckpt_id, (None, None))
        out.append({"ckpt_id": ckpt_id, "metric": new_metric or metric,
                    "shipped_dev": shipped_dev, "new_dev": new_dev})  # fmt: skip
    return out


def _dev_scores(checkpoints: pd.DataFrame) -> dict[str, tuple[str | None, float | None]]:
    """ckpt_id -> (metric, dev value; None where missing)."""
    return {
        row.ckpt_id: (row.metric, None if pd.isna(row.dev_value) else float(row.dev_value))
        for row in checkpoints.itertuples()
    }


def _manifest_extra(
    old: dict, new: dict, runs: set[str], adopted: set[str], record: dict
) -> dict[str, Any]:
    """OUT's own manifest keys, with the adopted runs' data files and models from DIR's, and
    the adoption appended to `adoptions`."""
    extra = {k: v for k, v in old.items() if k not in EXPORT_KEYS}
    files = {k: v for k, v in (old.get("run_data_files") or {}).items() if k in runs - adopted}
    files.update({k: v for k, v in (new.get("run_data_files") or {}).items() if k in adopted})
    if files or "run_data_files" in old:
        extra["run_data_files"] = files
    models = list(old.get("models") or [])
    models += [m for m in new.get("models") or [] if m not in models]
    if models:
        extra["models"] = models
    if new.get("data_files") and new.get("data_files") != old.get("data_files"):
        record = {**record, "data_files": new["data_files"]}  # the data DIR was computed from
    extra["adoptions"] = [*(old.get("adoptions") or []), record]
    return extra


def _move_into(staged: Path, out: Path) -> None:
    """Replace OUT's files by the staged export's, each atomically, manifest.json last."""
    names = sorted(p.name for p in staged.iterdir() if p.is_file() and p.name != MANIFEST)
    for name in [*names, MANIFEST]:
        os.replace(staged / name, out / name)


def summary_lines(record: dict[str, Any], out: str | os.PathLike[str]) -> list[str]:
    """What `mbp precompute --adopt` prints: the steps, the runs, each checkpoint's dev score."""
    adopted, replaced = set(record["runs_adopted"]), set(record["runs_replaced"])
    lines = [
        f"adopted {len(record['steps'])} step(s) from {record['from']}: "
        + ", ".join(record["steps"]),
        f"runs: {len(adopted & replaced)} replaced, {len(adopted - replaced)} added, "
        f"{len(replaced - adopted)} shipped run(s) removed (other ids on the same checkpoints)",
    ]
    for c in record["checkpoints"]:
        state = ("replaced" if c["shipped_dev"] is not None and c["new_dev"] is not None
                 else "added" if c["new_dev"] is not None else "removed")  # fmt: skip

        def show(value: float | None) -> str:
            return "-" if value is None else f"{value:.4f}"

        lines.append(
            f"checkpoint {c['ckpt_id']} {state}: {c['metric'] or 'dev'} "
            f"{show(c['shipped_dev'])} shipped -> {show(c['new_dev'])} new"
        )
    lines.append(f"wrote {out}/ (manifest.json records the adoption under 'adoptions')")
    return lines


def adopt_command(args, plan: list[Step]) -> dict[str, Any]:
    """`mbp precompute --adopt STEP ... --from DIR [--out OUT]`."""
    if not args.adopt or not args.from_dir:
        raise MbpError(
            "--adopt and --from go together: mbp precompute --adopt STEP ... --from DIR "
            "(the recompute's export, e.g. precomputed/in-progress)"
        )
    command = f"mbp precompute --adopt {' '.join(args.adopt)} --from {args.from_dir}"
    if args.plan != "paper":
        command += f" --plan {args.plan}"
    record = adopt(args.adopt, args.from_dir, args.out, plan, command=command)
    print("\n".join(summary_lines(record, args.out)), flush=True)
    return record
