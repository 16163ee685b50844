"""Drive a real JupyterLab in headless Chromium (Playwright), for the ``browser`` tests.

:func:`lab_session` starts JupyterLab on a fresh copy of ``notebooks/`` (127.0.0.1, a free port, a
random token, ``DYNMASK_FAST=1 HF_HUB_OFFLINE=1``, its own Jupyter config/data dirs), launches
Debian's Chromium (``/usr/bin/chromium``, never ``playwright install``) with a fresh profile and
yields a :class:`LabSession`. Everything is stopped by PID at the end. See
/work/shared/notes/jupyterlab-browser-testing.md for the pitfalls this handles.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # hidden tabs stay in the DOM
_KERNEL_STATUS_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const ctx = w && w.sessionContext;
  if (!ctx || !ctx.session || !ctx.session.kernel) { return 'none'; }
  return ctx.isReady ? ctx.session.kernel.status : 'starting';
}"""
_COUNTS_JS = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells, out = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type === 'code') { out.push(c.executionCount || null); }
  }
  return out;
}"""


def require_chromium() -> None:
    """Skip without Chromium, except under CI (``CI`` set), where a missing browser fails."""
    if CHROMIUM.exists():
        return
    msg = (
        f"{CHROMIUM} is missing: `apt-get install -y --no-install-recommends chromium` "
        "(.ci/run does it); never `playwright install`."
    )
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"CI is set and the browser tests cannot run: {msg}", pytrace=False)
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabSession:
    """A running JupyterLab + a Chromium page. Selectors are scoped to the visible notebook.

    Attributes:
        page: The Playwright ``Page``.
        url: Base URL of the server (``http://127.0.0.1:PORT/``).
        root: The server's root dir (a copy of ``notebooks/``).
    """

    def __init__(self, page, url: str, token: str, root: Path, log: Path) -> None:
        self.page, self.url, self.token, self.root, self.log = page, url, token, root, log

    @property
    def panel(self):
        """Locator of the visible notebook panel."""
        return self.page.locator(PANEL)

    def open(self, notebook: str, timeout_s: float = 180) -> None:
        """Open ``notebook`` (relative to the root) and wait until its kernel is idle."""
        self.page.goto(f"{self.url}lab/tree/{notebook}?token={self.token}")
        self.page.wait_for_function("() => window.jupyterapp !== undefined", timeout=timeout_s * 1000)
        self.panel.first.wait_for(state="visible", timeout=timeout_s * 1000)
        self.dismiss_notifications()
        self.wait_idle(timeout_s)

    def dismiss_notifications(self) -> None:
        """Close toasts (e.g. the "news" question) that may cover the notebook."""
        for button in self.page.locator(".jp-toast-button, .Toastify__close-button").all():
            with contextlib.suppress(Exception):
                button.click(timeout=1000)

    def kernel_status(self) -> str:
        return self.page.evaluate(_KERNEL_STATUS_JS)

    def wait_idle(self, timeout_s: float = 180, settle_s: float = 0.5) -> None:
        """Wait until the kernel is ready and idle for ``settle_s`` (several redraws may queue)."""
        deadline = time.monotonic() + timeout_s
        idle_since = None
        while time.monotonic() < deadline:
            if self.kernel_status() == "idle":
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= settle_s:
                    return
            else:
                idle_since = None
            time.sleep(0.1)
        raise TimeoutError(
            f"kernel not idle after {timeout_s} s (status {self.kernel_status()!r}); server log: {self.log}"
        )

    def execution_counts(self) -> list[int | None]:
        """Execution counts of the code cells of the current notebook (None = not run yet)."""
        return self.page.evaluate(_COUNTS_JS)

    def errors(self) -> list[str]:
        """Tracebacks shown in the visible notebook (stderr outputs that hold one)."""
        stderr = self.panel.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        return [t for t in stderr.all_inner_texts() if "Traceback" in t]

    def run_all(self, timeout_s: float = 300) -> None:
        """Run all cells and wait until every code cell has an execution count and all is idle.

        "Run All" before the kernel is ready does nothing: retried once if no count appears.

        Raises:
            AssertionError: A cell raised (the traceback text is in the message).
        """
        for attempt in range(2):
            self.wait_idle(timeout_s)
            self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            deadline = time.monotonic() + (20 if attempt == 0 else timeout_s)
            while time.monotonic() < deadline and not any(self.execution_counts()):
                time.sleep(0.2)
            if any(self.execution_counts()):
                break
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self.execution_counts()) or (self.errors() and self.kernel_status() == "idle"):
                break
            time.sleep(0.3)
        errors = self.errors()
        assert not errors, "a cell raised in the browser:\n" + "\n---\n".join(errors)[-4000:]
        assert all(self.execution_counts()), (
            f"cells did not all run within {timeout_s} s: counts {self.execution_counts()}"
        )
        self.wait_idle(timeout_s)

    def cell_output(self, index: int):
        """Locator of the output area of code cell ``index`` (0-based) in the visible notebook."""
        return self.panel.locator(".jp-CodeCell").nth(index).locator(".jp-OutputArea")

    def screenshot(self, name: str, locator=None) -> Path:
        """Save a PNG to ``artifacts/browser/<name>.png`` (the page, or just ``locator``)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        (locator or self.page).screenshot(path=str(path))
        return path


def _start_lab(root: Path, home: Path, port: int, token: str, log: Path) -> subprocess.Popen:
    env = dict(
        os.environ,
        DYNMASK_FAST="1",
        HF_HUB_OFFLINE="1",
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env.pop("MPLBACKEND", None)
    settings = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    notebook = settings.parent / "notebook-extension"  # render every cell: no virtual scrolling
    notebook.mkdir()
    (notebook / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(log, "wb") as out:
        return subprocess.Popen(
            cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_ready(proc: subprocess.Popen, url: str, token: str, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    return
        time.sleep(0.3)
    raise TimeoutError(f"JupyterLab not ready after {timeout_s} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (the server and its kernels), then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: started with start_new_session
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@contextlib.contextmanager
def lab_session(viewport=(1400, 1300), timeout_s: float = 120):
    """Start JupyterLab + Chromium on a copy of ``notebooks/``; yield a :class:`LabSession`."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="dynmask-lab-"))
    root = tmp / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port, token = _free_port(), secrets.token_hex(16)
    url, log = f"http://127.0.0.1:{port}/", tmp / "lab.log"
    proc = _start_lab(root, tmp / "home", port, token, log)
    try:
        _wait_ready(proc, url, token, log, timeout_s)
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp / "profile"),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": viewport[0], "height": viewport[1]},
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(timeout_s * 1000)
                yield LabSession(page, url, token, root, log)
            finally:
                context.close()
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def wait_for_change(read, before, session, timeout_s: float = 30.0):
    """Poll ``read()`` (waiting for the kernel to go idle between reads) until it differs from
    ``before`` or ``timeout_s`` passes; returns the last value read."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        session.wait_idle()
        now = read()
        if now != before:
            return now
        time.sleep(0.2)
    return read()
