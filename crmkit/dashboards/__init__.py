"""Dashboards for stakeholders: one small app object per Voila notebook.

Each app holds widgets, state and rendering, and is tested without a browser; the
notebooks in ``notebooks/dashboards/`` only build the app and show it. Serving::

    crmkit.dashboards.list_dashboards()          # ['overview']
    crmkit.dashboards.serve("overview")          # Voila on 127.0.0.1, blocks until Ctrl-C

Apps are imported on first use so that listing or serving dashboards stays fast.
"""

from __future__ import annotations

import importlib

from crmkit.dashboards._serve import (
    DashboardServer,
    dashboard_env,
    dashboard_url,
    dashboards_dir,
    free_port,
    list_dashboards,
    notebook_path,
    serve,
    start,
    voila_command,
)

__all__ = [
    "OverviewApp",
    "SegmentExplorerApp",
    "ExecutiveApp",
    "CampaignApp",
    "PlanWhatIfApp",
    "DashboardServer",
    "dashboard_env",
    "dashboard_url",
    "dashboards_dir",
    "free_port",
    "list_dashboards",
    "notebook_path",
    "serve",
    "start",
    "voila_command",
]

_LAZY = {
    "OverviewApp": "crmkit.dashboards.overview",
    "SegmentExplorerApp": "crmkit.dashboards.segment_explorer",
    "ExecutiveApp": "crmkit.dashboards.executive",
    "CampaignApp": "crmkit.dashboards.campaign",
    "PlanWhatIfApp": "crmkit.dashboards.plan_whatif",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'crmkit.dashboards' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
