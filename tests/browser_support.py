"""The real dashboard in Chromium: start `streamlit run app.py`, wait for a page to settle.

    with StreamlitApp(env, log_path) as base:     # http://127.0.0.1:<free port>
        tab.goto(f"{base}/curves"); settle(tab, charts=1)

Shared by the browser tests (tests/test_browser.py) and the browser timing benchmark
(bench/browser_timing.py), so both start the server and judge "drawn" the same way.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
#: a chart element on the page, and one whose Vega view has drawn (an svg or canvas of marks)
CHART = '[data-testid="stVegaLiteChart"]'
CHART_DRAWN = f"{CHART} .marks"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


class ServerDidNotStart(RuntimeError):
    """`streamlit run` did not answer its health check in time (the log's tail says why)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StreamlitApp:
    """`streamlit run app.py` (or `script`) headless on a free local port with `env`, its output
    in `log_path`; in its own process group, so stopping it stops whatever it started."""

    def __init__(self, env: dict[str, str], log_path: Path, script: Path = ROOT / "app.py") -> None:
        self.env, self.log_path, self.script = env, Path(log_path), Path(script)
        self.proc: subprocess.Popen | None = None
        self.base = ""

    def start(self, timeout: float = 90) -> str:
        """Start the server and wait for its health check; the base URL."""
        port = free_port()
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed by stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(self.script), "--server.port",
             str(port), "--server.headless", "true", "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return self.base
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise ServerDidNotStart(
            f"streamlit did not start in {timeout:.0f} s: {self.log_path.read_text()[-2000:]}"
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None
        self._log.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def settle(
    tab, charts: int = 0, timeout: float = 90, quiet_s: float = 1.5, poll_s: float = 0.2
) -> float | None:
    """Wait until `charts` charts (Vega-Lite) are drawn and Streamlit has not been running the
    script for `quiet_s` in a row (a rerun that starts late, on a loaded machine, is waited for
    rather than raced). Returns the time.time() at which that quiet stretch began (None on
    timeout)."""
    tab.wait_for_selector("h1", timeout=timeout * 1000)
    deadline = time.time() + timeout
    idle_since = None
    while time.time() < deadline:
        running = tab.locator('[data-testid="stStatusWidget"]').count()
        drawn = tab.locator(CHART_DRAWN).count()
        if running or drawn < charts:
            idle_since = None
        elif idle_since is None:
            idle_since = time.time()
        elif time.time() - idle_since >= quiet_s:
            return idle_since
        time.sleep(poll_s)
    return None


def select_option(tab, label: str, option: str, *, main: bool = False) -> None:
    """Pick the option whose text contains `option` in the selectbox labelled `label` (with
    `main`, the page's own, not the sidebar's of the same label)."""
    scope = '[data-testid="stMain"] ' if main else ""
    box = tab.locator(f'{scope}[data-testid="stSelectbox"]').filter(has_text=label).first
    box.click()
    tab.get_by_role("option", name=re.compile(re.escape(option))).first.click()
