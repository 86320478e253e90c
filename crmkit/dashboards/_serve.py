"""Serving dashboard notebooks with Voila, on 127.0.0.1 only, with their sources stripped.

The data source reaches the dashboard's kernel through the environment of the Voila
process: ``CRMKIT_STORE`` (honoured by :func:`crmkit.config.default_store`, so the
dashboard's default source is the one the server was started with).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from crmkit.errors import CrmkitError, ParameterError, SourceError

__all__ = [
    "dashboards_dir",
    "list_dashboards",
    "notebook_path",
    "voila_command",
    "dashboard_env",
    "dashboard_url",
    "free_port",
    "DashboardServer",
    "start",
    "serve",
]

HOST = "127.0.0.1"


def dashboards_dir() -> Path:
    """The folder of dashboard notebooks: ``notebooks/dashboards`` of the project."""
    from crmkit.config import notebooks_dir

    return notebooks_dir() / "dashboards"


def list_dashboards() -> list[str]:
    """Names of the dashboards (``notebooks/dashboards/*.ipynb``), sorted.

    >>> "overview" in list_dashboards()
    True
    """
    folder = dashboards_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def notebook_path(name: str) -> Path:
    """The notebook of dashboard ``name``; a :class:`ParameterError` lists the known ones."""
    names = list_dashboards()
    if name not in names:
        known = ", ".join(names) if names else f"none (no notebooks in {dashboards_dir()})"
        raise ParameterError(f"dashboard: expected one of {known}; found {name!r}.")
    return dashboards_dir() / f"{name}.ipynb"


def _check_port(port) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ParameterError(f"port: expected a whole number between 1 and 65535, found {port!r}.")
    return port


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _check_source(source) -> None:
    if source in (None, ""):
        return
    from crmkit.io import is_url

    if is_url(source):
        return
    if not Path(source).expanduser().exists():
        raise SourceError(f"source: no data store or folder found at {Path(source).expanduser()}; run `crmkit demo` first.")


def voila_command(name: str = "overview", port: int = 8866, source=None) -> list[str]:
    """The command that serves dashboard ``name`` with Voila.

    Voila listens on 127.0.0.1 only, shows no code (``--strip_sources=True``), no
    tracebacks, and opens no browser. Run it with ``cwd`` at the notebook's folder and
    the environment from :func:`dashboard_env` (that is how ``source`` reaches the
    dashboard; here it is only checked, so a missing store fails before Voila starts).

    >>> cmd = voila_command("overview", 8866)
    >>> "--Voila.ip=127.0.0.1" in cmd and "--strip_sources=True" in cmd
    True
    """
    path = notebook_path(name)
    port = _check_port(port)
    _check_source(source)
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(path),
        "--no-browser",
        f"--port={port}",
        f"--Voila.ip={HOST}",
        "--strip_sources=True",
        "--show_tracebacks=False",
        "--theme=light",
    ]
    # Voila's preheated kernels (--preheat_kernel) cut the first render from ~17 s to ~7 s
    # but, with voila 0.5.13, the second visitor's page never connected to its kernel.
    return cmd


def dashboard_env(source=None, base: dict | None = None) -> dict[str, str]:
    """The environment for the Voila process, carrying ``source`` to the dashboard kernel."""
    from crmkit.io import is_url, mask_url

    env = dict(os.environ if base is None else base)
    if source in (None, ""):
        return env
    if is_url(source):
        # The password (if the URL has one) travels as libpq's PGPASSWORD, not in the URL.
        from urllib.parse import unquote, urlsplit

        password = urlsplit(source).password if "://" in source else None
        if password is not None:
            env["PGPASSWORD"] = unquote(password)
        env["CRMKIT_SOURCE"] = mask_url(source)
    else:
        env["CRMKIT_STORE"] = str(Path(source).expanduser().resolve())
    return env


def dashboard_url(name: str = "overview", port: int = 8866) -> str:
    """Where the dashboard is served (Voila serves one notebook at the root)."""
    notebook_path(name)
    return f"http://{HOST}:{_check_port(port)}/"


class DashboardServer:
    """A running Voila process serving one dashboard; stop it with :meth:`stop` or ``with``."""

    def __init__(self, name: str, port: int, process: subprocess.Popen, log_path: Path | None):
        self.name = name
        self.port = port
        self.process = process
        self.log_path = log_path

    @property
    def url(self) -> str:
        return dashboard_url(self.name, self.port)

    def log(self) -> str:
        """What Voila wrote so far (empty when its output goes to the terminal)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> "DashboardServer":
        """Wait until Voila answers (without running the notebook)."""
        deadline = time.monotonic() + timeout
        probe = f"http://{HOST}:{self.port}/voila/static/voila.js"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CrmkitError(
                    f"Voila stopped with exit code {self.process.returncode} before serving {self.name!r}.\n{self.log()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(probe, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise CrmkitError(f"Voila did not answer on port {self.port} within {timeout:.0f} s.\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate Voila (and so its kernels); kill it if it does not stop in ``timeout`` s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)

    def __enter__(self) -> "DashboardServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.process.poll() is None else f"stopped ({self.process.returncode})"
        return f"DashboardServer({self.name!r}, url={self.url!r}, {state})"


def start(
    name: str = "overview",
    *,
    port: int | None = None,
    source=None,
    log: str | Path | None = "temp",
    timeout: float = 60.0,
) -> DashboardServer:
    """Start Voila for dashboard ``name`` in the background and wait until it answers.

    ``log="temp"`` writes Voila's output to a temporary file (see
    :meth:`DashboardServer.log`), ``None`` lets it through to this terminal.
    """
    port = free_port() if port is None else _check_port(port)
    cmd = voila_command(name, port, source)
    log_path = None
    out = None
    if log is not None:
        log_path = Path(tempfile.mkstemp(prefix=f"crmkit-voila-{name}-", suffix=".log")[1]) if log == "temp" else Path(log)
        out = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    try:
        process = subprocess.Popen(
            cmd,
            cwd=notebook_path(name).parent,
            env=dashboard_env(source),
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            stdin=subprocess.DEVNULL,
        )
    finally:
        if out is not None:
            out.close()
    return DashboardServer(name, port, process, log_path).wait_ready(timeout)


def serve(
    name: str = "overview",
    *,
    port: int | None = None,
    source=None,
    open_browser: bool = False,
    on_ready=None,
) -> int:
    """Serve dashboard ``name`` on 127.0.0.1 until interrupted (Ctrl-C); returns Voila's exit code.

    Voila's log goes to this terminal. Once Voila answers, ``on_ready(url)`` is called
    (the CLI prints the URL with it) and ``open_browser=True`` opens the page.
    """
    server = start(name, port=port, source=source, log=None)
    if on_ready is not None:
        on_ready(server.url)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        return server.process.wait()
    except KeyboardInterrupt:
        server.stop()
        return 0
