"""Shared fixtures: a small seeded demo world and its DuckDB store."""

from __future__ import annotations

import pytest

SMALL_WORLD = {"n_customers": 2_000, "seed": 0}


@pytest.fixture(scope="session")
def small_world():
    """The 2,000-customer demo world (seed 0), built once per test session."""
    from crmkit import synth

    return synth.demo_world(**SMALL_WORLD)


@pytest.fixture(scope="session")
def demo_store(small_world, tmp_path_factory):
    """Path to a DuckDB store holding the small demo world."""
    from crmkit import io

    path = tmp_path_factory.mktemp("store") / "crmkit.duckdb"
    return io.save_store(small_world.data, path, meta={"kind": "demo", **SMALL_WORLD})


# Playwright (pytest-playwright) drives Debian's chromium: browser downloads fail here by design.
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        # --no-sandbox: tests run as root; the rest keep chromium off the (closed) network.
        "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}, "accept_downloads": True}
