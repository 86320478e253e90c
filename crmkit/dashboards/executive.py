"""The *executive* dashboard: one page on where the business stands and where it is heading.

Made for a projector in a workshop: large type, no code, no personal data. It shows, for
a period chosen against a comparison period,

- KPI tiles (revenue, active customers, new customers, retention rate, average order
  value, orders) with the change as an arrow and per cent, green when better;
- the revenue forecast with its 90% band and the back-test error beside it, and tiles
  for the next months' revenue and active customers with their ranges;
- the sales funnel of the opportunities created in the period, with stage conversion;
- SLA tiles: share of the period's tickets answered within target, per priority, with
  its interval.

:class:`ExecutiveApp` holds the state, the widgets and the rendering; its state can be
driven and read without a browser::

    app = ExecutiveApp(data=data)
    app.set_period("Last 12 months", comparison="Previous period")
    app.kpis["revenue"]        # {'period': ..., 'comparison': ..., 'change_pct': ...}
    app.tile_text["revenue"]   # what the tile shows, e.g. '£1,234,567'
"""

from __future__ import annotations

import html
import time

import ipywidgets as widgets

from crmkit.dashboards._widgets import (
    PAGE_CSS,
    find_source,
    format_count,
    format_money,
    message_html,
    plotly_bundle,
    quietly,
)
from crmkit.errors import CrmkitError, ParameterError

__all__ = ["ExecutiveApp", "PERIODS", "COMPARISONS"]

#: Period choices → months back from the end of the last whole month (``0`` = year to date).
PERIODS = {"Last month": 1, "Last quarter": 3, "Last 6 months": 6, "Last 12 months": 12, "Year to date": 0}
#: Comparison choices → the ``comparison`` of :func:`crmkit.kpis.kpi_table`.
COMPARISONS = {"Same period last year": "year_ago", "Previous period": "previous"}

# KPI tiles in order: key -> (label, kind)
_TILES = {
    "revenue": ("Revenue", "money"),
    "active_customers": ("Active customers", "count"),
    "new_customers": ("New customers", "count"),
    "retention_rate": ("Retention", "share"),
    "avg_order_value": ("Average order", "money2"),
    "orders": ("Orders", "count"),
}
_TABLES = ["customers", "transactions", "opportunities", "tickets"]

_EXEC_CSS = """
<style>
.crmkit-exec .crmkit-header h1 { font-size: 38px; margin: 6px 0 4px 0; }
.crmkit-exec .crmkit-header p { font-size: 19px; }
.crmkit-exec .crmkit-header .crmkit-meta { font-size: 16px; }
.crmkit-exec .crmkit-filters .widget-label, .crmkit-exec .crmkit-filters select { font-size: 18px; }
.crmkit-exec .crmkit-filters select { height: 38px; }
.crmkit-exec h2.crmkit-section { font-size: 26px; font-weight: 600; color: #111827; margin: 18px 0 8px 0; }
.crmkit-exec .crmkit-section-note { font-size: 16px; color: #4b5563; margin: 0 0 8px 0; }
.crmkit-etile { background: #fff; border: 1px solid #e5e7eb; border-top: 6px solid #2563eb; border-radius: 10px;
                padding: 14px 18px; box-sizing: border-box; box-shadow: 0 1px 3px rgba(0,0,0,0.06); height: 100%; }
.crmkit-etile .crmkit-etile-label { font-size: 18px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.03em;
                                     color: #374151; }
.crmkit-etile .crmkit-etile-value { font-size: 44px; font-weight: 700; color: #111827; margin: 4px 0 2px 0;
                                     font-variant-numeric: tabular-nums; white-space: nowrap; }
.crmkit-etile .crmkit-etile-change { font-size: 22px; font-weight: 650; white-space: nowrap; }
.crmkit-etile .crmkit-etile-sub { font-size: 16px; color: #4b5563; margin-top: 4px; line-height: 1.35; }
.crmkit-etile.crmkit-better .crmkit-etile-change { color: #15803d; }
.crmkit-etile.crmkit-worse .crmkit-etile-change { color: #b91c1c; }
.crmkit-etile.crmkit-flat .crmkit-etile-change { color: #4b5563; }
.crmkit-etile.crmkit-forecast { border-top-color: #7c3aed; }
.crmkit-etile.crmkit-sla-ok { border-top-color: #16a34a; }
.crmkit-etile.crmkit-sla-low { border-top-color: #dc2626; }
.crmkit-exec .crmkit-grid { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 14px; width: 100%; }
.crmkit-exec .crmkit-grid4 { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 14px; width: 100%; }
.crmkit-exec .crmkit-footer { font-size: 15px; }
</style>
"""


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _fmt(value, kind: str, currency: str) -> str:
    if kind == "money":
        return format_money(value, currency, decimals=0)
    if kind == "money2":
        return format_money(value, currency, decimals=2)
    if kind == "share":
        try:
            return "–" if value != value else f"{value:.1%}"
        except TypeError:
            return "–"
    return format_count(value)


def _change_text(row: dict, kind: str) -> tuple[str, str]:
    """('▲ +12.3%', css class) for a KPI row of the KPI table."""
    import math

    change, pct = row.get("change", math.nan), row.get("change_pct", math.nan)
    if change is None or change != change:
        return "no comparison", "crmkit-flat"
    arrow = "▲" if change > 0 else ("▼" if change < 0 else "■")
    better = (change > 0) == bool(row.get("higher_is_better", True)) if change != 0 else None
    css = "crmkit-flat" if better is None else ("crmkit-better" if better else "crmkit-worse")
    if kind == "share":
        sign = "+" if change >= 0 else "−"
        return f"{arrow} {sign}{abs(change) * 100:.1f} pts", css
    if pct != pct:
        return f"{arrow} new", css
    sign = "+" if pct >= 0 else "−"
    return f"{arrow} {sign}{abs(pct):.1%}", css


def _tile(key: str, label: str, value: str, change: str, css: str, sub: str) -> str:
    return (
        f'<div class="crmkit-etile {css}" data-kpi="{_esc(key)}"><div class="crmkit-etile-label">{_esc(label)}</div>'
        f'<div class="crmkit-etile-value"><span class="crmkit-kpi-number">{_esc(value)}</span></div>'
        f'<div class="crmkit-etile-change">{_esc(change)}</div><div class="crmkit-etile-sub">{_esc(sub)}</div></div>'
    )


class ExecutiveApp:
    """KPI tiles, revenue forecast, funnel and service levels for a period against a comparison.

    Parameters
    ----------
    source : str or Path, optional
        A DuckDB store, a data folder, a workbook or an engine URL (:func:`crmkit.io.load`);
        ``None`` or ``""`` is the default source (:func:`crmkit.config.default_source`).
    data : CRMData, optional
        Data already in memory (``transactions`` needed; ``customers``,
        ``opportunities`` and ``tickets`` used when present). ``source`` is then not read.
    currency : str
        Shown with money.
    horizon : int
        Months of revenue forecast.
    period, comparison : str
        Initial choices among :data:`PERIODS` and :data:`COMPARISONS`.
    sla_goal : float
        Share of tickets that should be answered within target. An SLA tile turns green
        when its whole interval lies above the goal, red when it lies below, and stays
        neutral when the interval straddles it (the data cannot tell yet).

    Attributes
    ----------
    widget : ipywidgets.VBox
        The page.
    kpis : dict
        Per tile: ``period``, ``comparison``, ``change``, ``change_pct`` (see :meth:`refresh`).
    forecast : crmkit.kpis.ForecastResult or None
        The revenue forecast (from the end of the data; it does not follow the period).
    figures : dict
        The plotly figures as last drawn: ``forecast`` and ``funnel``.
    """

    title = "Where we stand"
    subtitle = "Customers, revenue, pipeline and service for the chosen period, against the comparison period."

    def __init__(self, source=None, *, data=None, currency: str = "£", horizon: int = 6,
                 period: str = "Last quarter", comparison: str = "Same period last year", sla_goal: float = 0.85):
        self.source = source
        self.sla_goal = float(sla_goal)
        self.currency = currency
        self.horizon = int(horizon)
        self.data_ = None
        self.message: str | None = None
        self.message_kind: str | None = None
        self.notes: dict[str, str] = {}
        self.kpis: dict = {}
        self.sla = None
        self.funnel_ = None
        self.forecast = None
        self.active_forecast = None
        self.period_ = self.comparison_ = None
        self.figures: dict = {}
        self.last_refresh_seconds_ = 0.0
        self._suspend = False
        self._build_widgets(period, comparison)
        self._load(data)
        self._prepare_forecasts()
        self.refresh()

    # ------------------------------------------------------------------ loading
    def _load(self, data) -> None:
        if data is not None:
            self.data_ = data
        else:
            from crmkit.io import mask_url

            source, problem = find_source(self.source)
            if problem:
                self._set_message(problem, kind="error", code="crmkit demo")
            else:
                try:
                    from crmkit import io as crm_io

                    # a table the source lacks is simply absent (its section says so)
                    self.data_ = crm_io.load(source, tables=_TABLES).data
                except CrmkitError as exc:
                    self._set_message(f"Could not load the data from {mask_url(str(source))}: {exc}", kind="error")
                except Exception as exc:  # noqa: BLE001 - the page shows an error, never a traceback
                    self._set_message(
                        f"Could not load the data from {mask_url(str(source))} ({type(exc).__name__}: {exc}).", kind="error"
                    )
        if self.data_ is not None and getattr(self.data_, "transactions", None) is None:
            self._set_message("The data has no transactions table, so there is nothing to show.", kind="error")
            self.data_ = None
        if self.data_ is None:
            for w in (self.period_picker, self.comparison_picker):
                w.disabled = True

    def _prepare_forecasts(self) -> None:
        if self.data_ is None:
            return
        from crmkit.kpis import forecast_kpi

        try:
            self.forecast = forecast_kpi(self.data_, "revenue", horizon=self.horizon, currency=self.currency)
            self.active_forecast = forecast_kpi(self.data_, "active_customers", horizon=self.horizon)
        except CrmkitError as exc:
            self.notes["forecast"] = f"No forecast: {exc}"
        except Exception as exc:  # noqa: BLE001
            self.notes["forecast"] = f"No forecast ({type(exc).__name__}: {exc})."
        self._draw_forecast()

    # ------------------------------------------------------------------ widgets
    def _build_widgets(self, period: str, comparison: str) -> None:
        if period not in PERIODS:
            raise ParameterError(f"period: expected one of {', '.join(map(repr, PERIODS))}, found {period!r}.")
        if comparison not in COMPARISONS:
            raise ParameterError(f"comparison: expected one of {', '.join(map(repr, COMPARISONS))}, found {comparison!r}.")
        self._header = widgets.HTML(self._header_html(""))
        style = {"description_width": "initial"}
        self.period_picker = widgets.Dropdown(options=list(PERIODS), value=period, description="Period",
                                              style=style, layout=widgets.Layout(width="300px"))
        self.comparison_picker = widgets.Dropdown(options=list(COMPARISONS), value=comparison, description="Compared with",
                                                  style=style, layout=widgets.Layout(width="420px"))
        filters = widgets.HBox([self.period_picker, self.comparison_picker])
        filters.add_class("crmkit-filters")
        self._message_box = widgets.HTML("")
        self._period_line = widgets.HTML("")
        self._tiles = widgets.HTML("")
        self._forecast_tiles = widgets.HTML("")
        self._forecast_out = widgets.Output(layout=widgets.Layout(width="100%", min_height="420px"))
        self._funnel_head = widgets.HTML("")
        self._funnel_out = widgets.Output(layout=widgets.Layout(width="100%", min_height="380px"))
        self._sla_tiles = widgets.HTML("")
        self._footer = widgets.HTML(
            '<div class="crmkit-footer">Only totals and shares are shown; no customer or employee is identifiable on this page. '
            "Ranges are 95% intervals (forecasts: 90%).</div>"
        )
        # Each chart's Output sits in a Box (as in the overview): directly in a VBox, its
        # output area collapses to zero height in Voila and the chart is cut off.
        charts = []
        for out in (self._forecast_out, self._funnel_out):
            box = widgets.Box([out], layout=widgets.Layout(width="100%"))
            box.add_class("crmkit-chart")
            charts.append(box)
        self._body = widgets.VBox(
            [
                self._period_line,
                self._tiles,
                widgets.HTML('<h2 class="crmkit-section">Where revenue is heading</h2>'),
                self._forecast_tiles,
                charts[0],
                self._funnel_head,
                charts[1],
                widgets.HTML('<h2 class="crmkit-section">Service levels</h2>'),
                self._sla_tiles,
            ],
            layout=widgets.Layout(width="100%"),
        )
        self.widget = widgets.VBox([self._header, filters, self._message_box, self._body, self._footer],
                                   layout=widgets.Layout(width="100%"))
        self.widget.add_class("crmkit-dash")
        self.widget.add_class("crmkit-exec")
        for picker in (self.period_picker, self.comparison_picker):
            picker.observe(self._on_change, names="value")

    def _header_html(self, meta: str) -> str:
        meta_html = f'<p class="crmkit-meta">{_esc(meta)}</p>' if meta else ""
        return f'{PAGE_CSS}{_EXEC_CSS}<div class="crmkit-header"><h1>{_esc(self.title)}</h1><p>{_esc(self.subtitle)}</p>{meta_html}</div>'

    def _on_change(self, change) -> None:
        if not self._suspend:
            self.refresh()

    def _set_message(self, text: str | None, *, kind: str = "info", code: str | None = None) -> None:
        self.message = None if text is None else text.replace("{code}", f"`{code}`" if code else "")
        self.message_kind = None if text is None else kind
        self._message_box.value = "" if text is None else message_html(text, kind=kind, code=code)

    # ------------------------------------------------------------------ state
    def set_period(self, period: str | None = None, *, comparison: str | None = None) -> "ExecutiveApp":
        """Choose the period and/or the comparison, as a person would with the controls; returns the app."""
        if period is not None and period not in PERIODS:
            raise ParameterError(f"period: expected one of {', '.join(map(repr, PERIODS))}, found {period!r}.")
        if comparison is not None and comparison not in COMPARISONS:
            raise ParameterError(f"comparison: expected one of {', '.join(map(repr, COMPARISONS))}, found {comparison!r}.")
        with quietly(self):
            if period is not None:
                self.period_picker.value = period
            if comparison is not None:
                self.comparison_picker.value = comparison
        self.refresh()
        return self

    def periods(self):
        """The (period, comparison) :class:`crmkit.kpis.Period` pair for the current choices."""
        import pandas as pd

        from crmkit.kpis import reporting_periods

        months = PERIODS[self.period_picker.value]
        comparison = COMPARISONS[self.comparison_picker.value]
        if months:
            return reporting_periods(self.data_, months=months, comparison=comparison)
        last = pd.Timestamp(self.data_.transactions["ordered_at"].max()).normalize()
        start = last.replace(month=1, day=1)
        return reporting_periods(self.data_, start, last, comparison=comparison)

    @property
    def tile_text(self) -> dict:
        """What each KPI tile shows as its value."""
        return {key: _fmt(self.kpis.get(key, {}).get("period"), kind, self.currency) for key, (_, kind) in _TILES.items()}

    def refresh(self) -> None:
        """Recompute the tiles, the funnel and the service levels for the current choices."""
        t0 = time.perf_counter()
        self._body.layout.display = "none" if self.data_ is None else None
        if self.data_ is None:
            self.last_refresh_seconds_ = time.perf_counter() - t0
            return
        try:
            from crmkit.kpis import kpi_table

            self.period_, self.comparison_ = self.periods()
            table = kpi_table(self.data_, self.period_, self.comparison_, currency=self.currency)
        except Exception as exc:  # noqa: BLE001 - the page shows it
            self._set_message(f"Could not compute the KPIs ({type(exc).__name__}: {exc}).", kind="error")
            self.kpis = {}
            self._tiles.value = ""
            self.last_refresh_seconds_ = time.perf_counter() - t0
            return
        self._set_message(None)
        rows = table.to_frame()
        self.kpis = {
            key: {c: (float(rows.loc[key, c]) if c != "higher_is_better" else bool(rows.loc[key, c]))
                  for c in ("period", "comparison", "change", "change_pct", "higher_is_better")}
            for key in _TILES
            if key in rows.index
        }
        self._period_line.value = (
            f'<h2 class="crmkit-section">{_esc(self.period_.label)} against {_esc(self.comparison_.label)}</h2>'
        )
        if self.kpis.get("orders", {}).get("period", 0) == 0:
            self._set_message(f"No orders between {self.period_.label}; pick a longer period.", kind="info")
        tiles = []
        for key, (label, kind) in _TILES.items():
            row = self.kpis.get(key, {})
            change, css = _change_text(row, kind)
            sub = f"{self.comparison_.label}: {_fmt(row.get('comparison'), kind, self.currency)}"
            tiles.append(_tile(key, label, self.tile_text[key], change, css, sub))
        self._tiles.value = f'<div class="crmkit-grid">{"".join(tiles)}</div>'
        self._refresh_funnel()
        self._refresh_sla()
        self.last_refresh_seconds_ = time.perf_counter() - t0

    # ------------------------------------------------------------------ forecast
    def _draw_forecast(self) -> None:
        if self.forecast is None:
            self._forecast_tiles.value = message_html(self.notes.get("forecast", "No forecast."), kind="info")
            self._forecast_out.outputs = ()
            return
        f, a = self.forecast, self.active_forecast
        fig = f.plot(history_months=18)
        fig.update_layout(
            title={"text": f"Revenue by month and the next {self.horizon} months (90% band)", "font": {"size": 22}},
            font={"size": 16},
            height=420,
            legend={"orientation": "h", "y": -0.22, "font": {"size": 15}},
        )
        self.figures["forecast"] = fig
        self._forecast_out.outputs = (
            {"output_type": "display_data", "data": plotly_bundle(fig), "metadata": {}},
        )
        months = min(3, self.horizon)
        total, low, high = f.total(months)
        first = a.forecast.iloc[0]
        tiles = [
            _tile("forecast_revenue", f"Revenue, next {months} months", format_money(total, self.currency),
                  f"range {format_money(low, self.currency)} – {format_money(high, self.currency)}", "crmkit-forecast crmkit-flat",
                  f"Back-test error {f.backtest_mape:.1%} (naive {f.naive_mape:.1%})"),
            _tile("forecast_active", f"Active customers, {first['month']:%b %Y}", format_count(first["forecast"]),
                  f"range {format_count(first['lower'])} – {format_count(first['upper'])}", "crmkit-forecast crmkit-flat",
                  f"Back-test error {a.backtest_mape:.1%} (naive {a.naive_mape:.1%})"),
            _tile("forecast_trend", "Seasonality", "yes" if f.seasonal else "none found", f"model: {_short_model(f.model)}",
                  "crmkit-forecast crmkit-flat", f"data to {f.history['month'].iloc[-1]:%b %Y}"),
        ]
        self._forecast_tiles.value = f'<div class="crmkit-grid">{"".join(tiles)}</div>'

    # ------------------------------------------------------------------ funnel
    def _refresh_funnel(self) -> None:
        import plotly.graph_objects as go

        opps = getattr(self.data_, "opportunities", None)
        head = "Sales funnel: opportunities created in the period"
        if opps is None:
            self.funnel_ = None
            self._funnel_head.value = f'<h2 class="crmkit-section">{_esc(head)}</h2>' + message_html(
                "No opportunities table in the data.", kind="info")
            self._funnel_out.outputs = ()
            return
        from crmkit.sales import funnel

        res = funnel(self.data_, as_of=self.period_.end, created_between=(self.period_.start, self.period_.end),
                     currency=self.currency)
        self.funnel_ = res
        t = res.table
        closed = res.deals["outcome"].isin(["won", "lost"]).sum()
        note = (
            f"{int(t['entered'].iloc[0]):,} opportunities worth {format_money(t['value_entered'].iloc[0], self.currency)}; "
            + (f"{res.win_rate:.0%} of the {closed:,} closed so far were won." if closed else "none closed yet.")
        )
        self._funnel_head.value = (f'<h2 class="crmkit-section">{_esc(head)}</h2>'
                                   f'<p class="crmkit-section-note">{_esc(note)}</p>')
        labels = [
            f"{s.capitalize()} · {c:.0%} move on" if c == c else f"{s.capitalize()}"
            for s, c in zip(t["stage"], t["conversion"])
        ]
        fig = go.Figure(go.Funnel(y=labels, x=t["entered"], textinfo="value", textfont={"size": 22},
                                  marker={"color": ["#1d4ed8", "#2563eb", "#3b82f6", "#60a5fa"][: len(t)]}))
        fig.update_layout(
            template="plotly_white",
            title={"text": "Opportunities reaching each stage", "font": {"size": 22}, "x": 0.01},
            font={"size": 17},
            height=380,
            margin={"l": 260, "r": 30, "t": 60, "b": 30},
            yaxis={"title": ""},
        )
        self.figures["funnel"] = fig
        self._funnel_out.outputs = ({"output_type": "display_data", "data": plotly_bundle(fig), "metadata": {}},)

    # ------------------------------------------------------------------ service levels
    def _refresh_sla(self) -> None:
        tickets = getattr(self.data_, "tickets", None)
        if tickets is None:
            self.sla = None
            self._sla_tiles.value = message_html("No tickets table in the data.", kind="info")
            return
        from crmkit.sales import service_levels

        res = service_levels(self.data_, as_of=self.period_.end, opened_between=(self.period_.start, self.period_.end))
        self.sla = res.summary()
        tiles = []
        for row in self.sla.itertuples(index=False):
            decided = row.within_sla + row.breached
            if row.priority == "all" or row.target_hours != row.target_hours:
                continue
            value = "–" if decided == 0 else f"{row.share_within_sla:.0%}"
            rng = "no tickets" if decided == 0 else f"range {row.ci_low:.0%} – {row.ci_high:.0%}"
            css = "crmkit-flat"
            if decided and row.ci_low > self.sla_goal:
                css = "crmkit-sla-ok"
            elif decided and row.ci_high < self.sla_goal:
                css = "crmkit-sla-low"
            tiles.append(_tile(f"sla_{row.priority}", f"{row.priority} · within {row.target_hours:g} h", value, rng, css,
                               f"{row.within_sla:,} of {decided:,} answered in time · goal {self.sla_goal:.0%}"))
        self._sla_tiles.value = f'<div class="crmkit-grid4">{"".join(tiles)}</div>'

    # ------------------------------------------------------------------ display
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        state = "error" if self.data_ is None else "ok"
        return (f"ExecutiveApp(period={self.period_picker.value!r}, comparison={self.comparison_picker.value!r}, "
                f"state={state!r})")


def _short_model(model: str) -> str:
    """'ETS(A,A,N): trend, no seasonality; per day, …' → 'trend, no seasonality'."""
    return model.split(":", 1)[-1].split(";")[0].strip()

