"""Private building blocks shared by the dashboards: page style, KPI tiles, message boxes.

Everything here returns HTML strings; the apps put them into ``ipywidgets.HTML``.
Text that comes from data (region names, error messages) is always escaped.
"""

from __future__ import annotations

import html
import math
from contextlib import contextmanager

__all__ = [
    "PAGE_CSS",
    "header_html",
    "tile_html",
    "message_html",
    "format_money",
    "format_count",
    "find_source",
    "plotly_bundle",
    "plotly_output",
    "DataSource",
    "quietly",
    "check_choice",
]

# One stylesheet for every dashboard. Colours: a calm blue accent on white cards.
PAGE_CSS = """
<style>
.crmkit-dash { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
               color: #1f2937; max-width: 1180px; margin: 0 auto; padding: 4px 8px 24px 8px; }
.crmkit-dash .crmkit-header h1 { font-size: 26px; font-weight: 600; margin: 8px 0 4px 0; color: #111827; }
.crmkit-dash .crmkit-header p { font-size: 14px; margin: 0 0 2px 0; color: #4b5563; line-height: 1.45; }
.crmkit-dash .crmkit-header .crmkit-meta { font-size: 12px; color: #6b7280; }
.crmkit-dash .crmkit-filters { background: #f3f4f6; border-radius: 8px; padding: 10px 14px;
                               margin: 12px 0 14px 0; gap: 18px; align-items: center; flex-wrap: wrap; }
.crmkit-dash .crmkit-filters .widget-label { font-weight: 600; color: #374151; }
.crmkit-dash .crmkit-tiles { gap: 14px; flex-wrap: wrap; margin: 0 0 12px 0; }
.crmkit-kpi { background: #ffffff; border: 1px solid #e5e7eb; border-top: 4px solid #2563eb;
              border-radius: 8px; padding: 12px 16px 12px 16px; box-sizing: border-box;
              min-width: 230px; box-shadow: 0 1px 2px rgba(0,0,0,0.05); }
.crmkit-kpi .crmkit-kpi-label { font-size: 13px; font-weight: 600; text-transform: uppercase;
                                letter-spacing: 0.04em; color: #4b5563; }
.crmkit-kpi .crmkit-kpi-value { font-size: 30px; font-weight: 650; color: #111827; margin: 4px 0 2px 0;
                                font-variant-numeric: tabular-nums; white-space: nowrap; }
.crmkit-kpi .crmkit-kpi-unit { font-size: 13px; font-weight: 500; color: #6b7280; margin-left: 4px; }
.crmkit-kpi .crmkit-kpi-help { font-size: 12.5px; color: #6b7280; line-height: 1.35; min-height: 2.7em; }
.crmkit-message { border-radius: 8px; padding: 10px 14px; margin: 0 0 12px 0; font-size: 14px; line-height: 1.45; }
.crmkit-message.crmkit-error { background: #fef2f2; border: 1px solid #fca5a5; color: #991b1b; }
.crmkit-message.crmkit-info { background: #eff6ff; border: 1px solid #bfdbfe; color: #1e3a8a; }
.crmkit-message code { background: rgba(0,0,0,0.06); padding: 1px 4px; border-radius: 4px; }
.crmkit-dash .crmkit-chart { border: 1px solid #e5e7eb; border-radius: 8px; padding: 4px; background: #fff; }
.crmkit-dash .crmkit-footer { font-size: 12px; color: #6b7280; margin-top: 8px; }
</style>
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def header_html(title: str, subtitle: str, meta: str = "") -> str:
    """The page title, one line on what the page answers, and an optional small meta line."""
    meta_html = f'<p class="crmkit-meta">{_esc(meta)}</p>' if meta else ""
    return (
        f'{PAGE_CSS}<div class="crmkit-header"><h1>{_esc(title)}</h1>'
        f"<p>{_esc(subtitle)}</p>{meta_html}</div>"
    )


def tile_html(key: str, label: str, value: str, help_text: str, unit: str = "") -> str:
    """One KPI tile. ``data-kpi`` names the KPI so a browser test can find it."""
    unit_html = f'<span class="crmkit-kpi-unit">{_esc(unit)}</span>' if unit else ""
    return (
        f'<div class="crmkit-kpi" data-kpi="{_esc(key)}">'
        f'<div class="crmkit-kpi-label">{_esc(label)}</div>'
        f'<div class="crmkit-kpi-value"><span class="crmkit-kpi-number">{_esc(value)}</span>{unit_html}</div>'
        f'<div class="crmkit-kpi-help">{_esc(help_text)}</div></div>'
    )


def message_html(text: str, *, kind: str = "error", code: str | None = None) -> str:
    """A message box; ``text`` is escaped, and ``code`` (a command to run) is shown in ``<code>``."""
    body = _esc(text)
    if code:
        body = body.replace(_esc("{code}"), f"<code>{_esc(code)}</code>")
    return f'<div class="crmkit-message crmkit-{kind}" role="{"alert" if kind == "error" else "status"}">{body}</div>'


def _missing(value) -> bool:
    try:
        return value is None or math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def format_money(value, currency: str, *, decimals: int = 0) -> str:
    """``£1,234`` for a one-character symbol, ``1,234 CHF`` style for a code; ``–`` when undefined."""
    if _missing(value):
        return "–"
    number = f"{float(value):,.{decimals}f}"
    if not currency:
        return number
    return f"{currency}{number}" if len(currency) == 1 else f"{number} {currency}"


def format_count(value) -> str:
    """``1,234``; ``–`` when undefined."""
    if _missing(value):
        return "–"
    return f"{int(round(float(value))):,}"


def find_source(source) -> tuple[str, str | None]:
    """The source a dashboard reads, and why it cannot, if it cannot.

    ``source`` or, when empty, the default (``$CRMKIT_SOURCE`` or the embedded store).
    Returns ``(source, problem)``; ``problem`` is a message with a ``{code}`` slot for
    the command to run when a file source does not exist, else ``None``. Engine URLs
    are not checked here: connecting is the loader's job.

    >>> find_source("/nowhere/store.duckdb")[1]
    'No data store found at /nowhere/store.duckdb; run {code} first (or point the dashboard at your data).'
    >>> find_source("postgresql://ann@db/crm")
    ('postgresql://ann@db/crm', None)
    """
    from pathlib import Path

    from crmkit.config import default_source
    from crmkit.io import is_url

    source = str(source) if source not in (None, "") else default_source()
    if is_url(source) or Path(source).expanduser().exists():
        return source, None
    return source, (
        f"No data store found at {Path(source).expanduser()}; run {{code}} first (or point the dashboard at your data)."
    )


def plotly_bundle(figure) -> dict:
    """The figure as plotly's mime bundle (what ``plotly_mimetype`` renders), built without
    plotly.io's renderers, with the mode bar and logo hidden."""
    import json

    from plotly.io.json import to_json_plotly

    fig = json.loads(to_json_plotly(figure.to_dict()))
    fig["config"] = {"responsive": True, "displaylogo": False, "displayModeBar": False}
    return {"application/vnd.plotly.v1+json": fig}


def plotly_output(figure) -> tuple[dict, ...]:
    """``ipywidgets.Output.outputs`` that show ``figure``: ``out.outputs = plotly_output(fig)``."""
    return ({"output_type": "display_data", "data": plotly_bundle(figure), "metadata": {}},)


class DataSource:
    """Where a dashboard reads from: in-memory CRM data, or a source opened per use.

    ``DataSource(data).run(fn)`` calls ``fn`` with the in-memory data as given; with an
    engine connection for a DuckDB store or an engine URL (so the work runs where the data
    lives, and the store is not held open between calls); or with a folder or workbook
    loaded and validated once (``tables``: only those tables) and kept for later calls.
    """

    def __init__(self, data, *, tables=None):
        self.data = data
        self.tables = tables
        self._loaded = None

    def run(self, fn):
        from pathlib import Path

        from crmkit import io as crm_io

        if not isinstance(self.data, (str, Path)):
            return fn(self.data)
        if crm_io.is_engine_source(self.data):
            with crm_io.opened(self.data) as con:
                return fn(con)
        if self._loaded is None:
            self._loaded = crm_io.load(self.data, tables=self.tables).data
        return fn(self._loaded)


@contextmanager
def quietly(app):
    """Change an app's widgets without their observers refreshing it (they check ``app._suspend``),
    so that several changes lead to one refresh afterwards."""
    app._suspend = True
    try:
        yield
    finally:
        app._suspend = False


def check_choice(picker, value, name: str):
    """``value`` if it is one of ``picker``'s option values, else a ParameterError listing them."""
    from crmkit.errors import ParameterError

    allowed = [v for _, v in picker.options]
    if value not in allowed:
        raise ParameterError(f"{name}: expected one of {', '.join(map(repr, allowed))}, found {value!r}.")
    return value
