"""Real database servers for tests and benchmarks: a throw-away PostgreSQL and a local Spark.

Nothing here is mocked. :func:`postgres_server` runs Debian's PostgreSQL binaries
(``initdb`` into a temporary folder, ``pg_ctl start`` on a free loopback port, stopped
and deleted afterwards); :func:`spark_master` is the master string of a local Spark
session. Both skip the calling test with the reason when the machine lacks the
software, except under CI (``CI=true``), where a missing server is a failure:
``scripts/test.sh`` installs what they need.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(reason: str):
    import pytest

    if IN_CI:
        pytest.fail(f"{reason} (CI must install it: see scripts/test.sh)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    """The folder with Debian's PostgreSQL server binaries (newest version), if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextlib.contextmanager
def postgres_server(*, user: str = "crmkit", database: str = "crm", password: str = "crmkit-test"):
    """A fresh PostgreSQL server on 127.0.0.1; yields its URL without the password.

    The password is set for ``user`` and must come from ``PGPASSWORD`` (as a client's
    would), so the URL can be printed. PostgreSQL refuses to run as root, so under root
    the server runs as Debian's ``postgres`` user.
    """
    bindir = postgres_bin()
    if bindir is None:
        _missing("PostgreSQL server binaries (Debian package postgresql) are not installed")
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _missing("running as root, and there is no 'postgres' user to run the server as")
        run_as = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="crmkit-pg-"))
    datadir, sockdir = base / "data", base / "sock"
    sockdir.mkdir()
    pwfile = base / "pw"
    pwfile.write_text(password + "\n")
    if owner is not None:
        for p in (base, sockdir, pwfile):
            os.chown(p, owner.pw_uid, owner.pw_gid)
    port = free_port()
    log = base / "server.log"

    def run(*cmd: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([*run_as, *cmd], check=True, capture_output=True, text=True, **kw)

    try:
        run(
            str(bindir / "initdb"), "-D", str(datadir), "-U", user, "--pwfile", str(pwfile),
            "-A", "scram-sha-256", "-E", "UTF8", "--locale", "C",
        )
        opts = f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        run(str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(log), "-o", opts, "-w", "-t", "60", "start")
        env = {**os.environ, "PGPASSWORD": password}
        deadline = time.monotonic() + 30
        while True:
            done = subprocess.run(
                [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", "postgres",
                 "-c", f"CREATE DATABASE {database}"],
                env=env, capture_output=True, text=True,
            )
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not accept connections: {done.stderr}\n{log.read_text()}")
            time.sleep(0.3)
        yield {"url": f"postgresql://{user}@127.0.0.1:{port}/{database}", "password": password, "port": port}
    finally:
        if (datadir / "postmaster.pid").exists():
            subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"],
                           capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def java_available() -> bool:
    return shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


def require_spark() -> str:
    """The Spark master for tests (``local[2]``), after checking pyspark and Java are there."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        _missing("pyspark is not installed (pip install -e '.[spark]')")
    if not java_available():
        _missing("Java is not installed; Spark needs Java 17")
    return "local[2]"
