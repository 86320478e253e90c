"""crmkit — a CRM strategy workbench for Jupyter.

Submodules are imported on first use (``crmkit.synth``, ``crmkit.features`` …) so that
``import crmkit`` stays fast in dashboards and command-line calls.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "config",
    "errors",
    "schema",
    "io",
    "validation",
    "synth",
    "features",
    "kpis",
    "report",
    "dashboards",
    "cli",
    "segment",
    "clv",
    "propensity",
    "quality",
    "privacy",
    "sales",
    "campaign",
    "plan",
}

__all__ = sorted(_SUBMODULES) + ["__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"crmkit.{name}")
    raise AttributeError(f"module 'crmkit' has no attribute {name!r}")
