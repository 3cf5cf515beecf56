"""Live runs: CLI commands in child processes, with a log file, progress, a time limit and cancel.

The dashboard never trains or evaluates in its script thread: it launches
`python -m mbp sweep ... --store PATH --json` here, and the child writes finished cells to the
store, where every page sees them. Each job lives in `<root>/<job_id>/` (`job.json` + `log.txt`),
so a job id in the URL finds its job again after a reload, a closed tab or a server restart.

    registry = JobRegistry(Path("/tmp/mbp-jobs"))
    job = registry.launch([sys.executable, "-c", "print('hi')"], meta={"what": "demo"})
    registry.wait(job.job_id); print(registry.get(job.job_id).status, registry.log_tail(job.job_id))

A child runs in its own process group (`start_new_session`), so cancelling terminates the whole
group (SIGTERM, then SIGKILL after a grace period); a watcher thread records the exit status and
enforces `wall_time_s`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

JobStatus = Literal["running", "done", "failed", "cancelled", "timed out", "lost"]
FINAL: tuple[str, ...] = ("done", "failed", "cancelled", "timed out", "lost")
_TQDM = re.compile(r"(?P<desc>[^\r\n|]*?):?\s*\d+%\|[^|]*\|\s*(?P<done>\d+)/(?P<total>\d+)")


@dataclass
class Job:
    """One launched command and what became of it."""

    job_id: str
    argv: list[str]
    log_path: str
    started_at: float  # epoch seconds
    pid: int | None = None
    status: JobStatus = "running"
    returncode: int | None = None
    finished_at: float | None = None
    wall_time_s: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    @property
    def elapsed_s(self) -> float:
        end = self.finished_at if self.finished_at is not None else time.time()
        return max(0.0, end - self.started_at)

    @property
    def started_utc(self) -> datetime:
        """Start time as a naive UTC datetime (the store's timestamps are naive UTC)."""
        return datetime.fromtimestamp(self.started_at, UTC).replace(tzinfo=None)

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def clean_log(text: str) -> str:
    """Log text as a terminal shows it: a carriage return (tqdm) overwrites its line."""
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        parts = [p for p in line.split("\r") if p.strip()]
        lines.append(parts[-1] if parts else "")
    return "\n".join(lines)


def tqdm_progress(text: str) -> dict[str, tuple[int, int]]:
    """The last `done/total` of every tqdm bar in a log, by bar description."""
    bars: dict[str, tuple[int, int]] = {}
    for match in _TQDM.finditer(text):
        bars[match.group("desc").strip()] = (int(match.group("done")), int(match.group("total")))
    return bars


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(os.getpgid(pid), sig)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as finished
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class JobRegistry:
    """Jobs under `root`: launch, look up, tail, cancel. Safe to share between threads."""

    def __init__(self, root: str | os.PathLike[str], grace_s: float = 5.0) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.grace_s = grace_s
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._cancelled: set[str] = set()
        self._threads: dict[str, threading.Thread] = {}
        self._load()

    # -- persistence ----------------------------------------------------------------------------

    def _job_file(self, job_id: str) -> Path:
        return self.root / job_id / "job.json"

    def _save(self, job: Job) -> None:
        path = self._job_file(job.job_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(job.to_json())
        os.replace(tmp, path)

    def _load(self) -> None:
        for path in sorted(self.root.glob("*/job.json")):
            try:
                job = Job.from_json(path.read_text())
            except (OSError, ValueError, TypeError):
                continue
            if not job.finished and not _pid_alive(job.pid):
                job.status, job.finished_at = "lost", job.finished_at or time.time()
                self._save(job)
            self._jobs[job.job_id] = job

    # -- launching --------------------------------------------------------------------------------

    def launch(
        self,
        argv: Sequence[str] | Sequence[Sequence[str]],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        wall_time_s: float | None = None,
        meta: Mapping[str, Any] | None = None,
        job_id: str | None = None,
    ) -> Job:
        """Start `argv` (or several commands, run in turn and stopping at the first failure)
        in a new process group, stdout and stderr to the job's log file."""
        commands = [list(argv)] if argv and isinstance(argv[0], str) else [list(a) for a in argv]
        if not commands or not commands[0]:
            raise ValueError("launch needs a non-empty command")
        if len(commands) == 1:
            command = commands[0]
        else:  # a shell chain keeps every step in the job's process group
            command = ["/bin/sh", "-c", " && ".join(shlex.join(c) for c in commands[:-1])
                       + " && exec " + shlex.join(commands[-1])]  # fmt: skip
        job_id = job_id or new_job_id()
        folder = self.root / job_id
        folder.mkdir(parents=True)
        log_path = folder / "log.txt"
        child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        job = Job(
            job_id=job_id,
            argv=command,
            log_path=str(log_path),
            started_at=time.time(),
            wall_time_s=wall_time_s,
            meta=dict(meta or {}),
        )
        with open(log_path, "ab") as log:
            log.write(f"$ {job.command}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=child_env,
                start_new_session=True,
            )
        job.pid = proc.pid
        with self._lock:
            self._jobs[job_id] = job
            self._procs[job_id] = proc
            self._save(job)
        watcher = threading.Thread(target=self._watch, args=(job_id,), daemon=True)
        self._threads[job_id] = watcher
        watcher.start()
        return job

    def _watch(self, job_id: str) -> None:
        proc = self._procs[job_id]
        job = self._jobs[job_id]
        timed_out = False
        try:
            proc.wait(timeout=job.wall_time_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._stop(proc.pid, proc)
        code = proc.returncode if proc.returncode is not None else proc.wait()
        with self._lock:
            job.returncode = code
            job.finished_at = time.time()
            if timed_out:
                job.status = "timed out"
            elif job_id in self._cancelled:
                job.status = "cancelled"
            else:
                job.status = "done" if code == 0 else "failed"
            self._save(job)
        if timed_out:
            self._append_log(
                job, f"\n[stopped: over the wall-time limit of {job.wall_time_s:g} s]\n"
            )

    def _stop(self, pid: int, proc: subprocess.Popen[bytes] | None) -> None:
        """SIGTERM the process group, SIGKILL it after the grace period."""
        _kill_group(pid, signal.SIGTERM)
        deadline = time.time() + self.grace_s
        while time.time() < deadline:
            if (proc.poll() is not None) if proc is not None else not _pid_alive(pid):
                break
            time.sleep(0.05)
        _kill_group(pid, signal.SIGKILL)

    @staticmethod
    def _append_log(job: Job, text: str) -> None:
        with contextlib.suppress(OSError), open(job.log_path, "a") as log:
            log.write(text)

    # -- queries ----------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None and re.fullmatch(r"[\w-]+", job_id or ""):
                path = self._job_file(job_id)
                if path.is_file():  # written by another process sharing the folder
                    with contextlib.suppress(OSError, ValueError, TypeError):
                        job = Job.from_json(path.read_text())
                        self._jobs[job_id] = job
            orphan = job is not None and not job.finished and job_id not in self._procs
            if orphan and not _pid_alive(job.pid):  # launched by an earlier server process
                job.status, job.finished_at = "lost", time.time()
                self._save(job)
            return job

    def jobs(self) -> list[Job]:
        """Every known job, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)

    def active(self) -> list[Job]:
        return [j for j in self.jobs() if not j.finished]

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job finished (tests and scripts; never from a page)."""
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
        job = self.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def log_tail(self, job_id: str, lines: int = 40, max_bytes: int = 64_000) -> str:
        """The last `lines` lines of the job's log, as a terminal would show them."""
        job = self.get(job_id)
        if job is None:
            return ""
        try:
            with open(job.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - max_bytes))
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(clean_log(text).rstrip("\n").split("\n")[-lines:])

    def progress_from_log(self, job_id: str) -> dict[str, tuple[int, int]]:
        """tqdm bars in the log tail: description -> (done, total)."""
        return tqdm_progress(self.log_tail(job_id, lines=400))

    # -- cancelling -------------------------------------------------------------------------------

    def cancel(self, job_id: str) -> Job:
        """Terminate the job's process group (SIGTERM, then SIGKILL); returns the job."""
        job = self.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id!r}")
        if job.finished or job.pid is None:
            return job
        with self._lock:
            self._cancelled.add(job_id)
        proc = self._procs.get(job_id)
        self._append_log(job, "\n[cancelled from the dashboard]\n")
        self._stop(job.pid, proc)
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(self.grace_s + 5)
        else:  # a job of an earlier server process: nobody watches it
            with self._lock:
                job.status, job.finished_at = "cancelled", time.time()
                self._save(job)
        return self.get(job_id) or job


def new_job_id() -> str:
    """A job id: when it started, and 12 random hex digits (not guessable)."""
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:12]


def mark_interrupted_runs(store: Any, job: Job, reason: str) -> list[str]:
    """Mark the store runs this job (and only this job: the runs tagged with its id) left
    `running`: `cancelled` after a cancel, else `failed`. Their cells stay stored."""
    frame = store.job_runs(job.job_id)
    stopped = frame[frame["status"] == "running"]["run_id"].tolist()
    status = "cancelled" if job.status == "cancelled" else "failed"
    for run_id in stopped:
        store.finish_run(run_id, status=status, error=reason)
    return stopped


TINY_MODEL_SCRIPT = (
    "import sys; from pathlib import Path; from mbp.models import tiny_bert; "
    "out = Path(sys.argv[1]); "
    "done = (out / 'model.safetensors').exists(); "
    "model, tok = (None, None) if done else tiny_bert(num_labels=2); "
    "done or (model.bert.save_pretrained(out), tok.save_pretrained(out)); "
    "print('tiny model at', out)"
)


def tiny_model_command(folder: str | os.PathLike[str], python: str) -> list[str]:
    """A command that writes the tiny random BERT encoder (no classifier head) to `folder`."""
    return [python, "-c", TINY_MODEL_SCRIPT, str(folder)]
