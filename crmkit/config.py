"""Paths come from one place.

The project root is the folder that holds ``notebooks/`` next to the installed package
(an editable install from a checkout). Set ``CRMKIT_HOME`` to point crmkit at another
project folder; ``CRMKIT_STORE`` to use another DuckDB store by default, or
``CRMKIT_SOURCE`` for any default source, an engine URL included (how ``crmkit
dashboard --data URL`` reaches a dashboard's kernel).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["project_root", "data_dir", "reports_dir", "notebooks_dir", "default_store", "default_source"]


def project_root() -> Path:
    """The project folder: ``$CRMKIT_HOME`` or the checkout that holds this package."""
    env = os.environ.get("CRMKIT_HOME")
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve().parent.parent
    if (here / "notebooks").is_dir():
        return here
    return Path.cwd().resolve()


def data_dir() -> Path:
    return project_root() / "data"


def reports_dir() -> Path:
    return project_root() / "reports"


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def default_store() -> Path:
    """The embedded DuckDB store: ``$CRMKIT_STORE`` or ``data/crmkit.duckdb``."""
    env = os.environ.get("CRMKIT_STORE")
    if env:
        return Path(env).expanduser().resolve()
    return data_dir() / "crmkit.duckdb"


def default_source() -> str:
    """The data source used when none is named: ``$CRMKIT_SOURCE`` or :func:`default_store`."""
    return os.environ.get("CRMKIT_SOURCE") or str(default_store())
