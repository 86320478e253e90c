"""What every browser test of a dashboard shares: the marks, a Voila server, timings.

A test module says which dashboard it drives::

    from _browser import BROWSER_MARKS, timings_recorder, voila_server
    pytestmark = BROWSER_MARKS
    voila = voila_server("campaign")          # module fixture: Voila on the demo store
    timings = timings_recorder("campaign")    # module fixture: dict saved to test-artifacts/

Debian's chromium is driven through the Playwright fixtures in ``conftest.py``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"

BROWSER_MARKS = [
    pytest.mark.browser,
    # scripts/test.sh installs chromium; in CI a missing browser is a failure, not a skip
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


def voila_server(name: str, *, timeout: float = 120):
    """A module-scoped fixture: Voila serving dashboard ``name`` on the demo store (127.0.0.1).

    The server records ``start_seconds`` (how long it took to answer) and is stopped after the module.
    """

    @pytest.fixture(scope="module")
    def voila(demo_store):
        from crmkit import dashboards

        started = time.perf_counter()
        server = dashboards.start(name, source=demo_store, timeout=timeout)
        server.start_seconds = time.perf_counter() - started
        try:
            yield server
        finally:
            server.stop()

    return voila


def timings_recorder(name: str):
    """A module-scoped fixture: a dict of seconds, written to ``test-artifacts/<name>-timings.json``."""

    @pytest.fixture(scope="module")
    def timings():
        found: dict[str, float] = {}
        yield found
        if found:
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / f"{name}-timings.json").write_text(json.dumps(found, indent=2) + "\n")

    return timings
