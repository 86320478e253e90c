"""The *overview* dashboard: customers, orders and revenue by region and period.

:class:`OverviewApp` holds the state (filters, the numbers shown), the widgets and the
rendering. Its state can be driven and read without a browser::

    app = OverviewApp(data=data)
    app.set_filters(region="North", start="2024-01-01", end="2024-06-30")
    app.kpis["revenue"]          # the number behind the revenue tile
    app.tile_text["revenue"]     # what the tile shows, e.g. '£12,345'

In a notebook (and so in Voila) the app renders itself as the last expression of a
cell. Errors (no data store, unreadable data) are shown in the page as a message box,
never as a traceback. Only aggregates are shown: no customer's personal data.
"""

from __future__ import annotations

import datetime as _dt
import time

import ipywidgets as widgets

from crmkit.dashboards._widgets import (
    find_source,
    format_count,
    format_money,
    header_html,
    message_html,
    plotly_bundle,
    quietly,
    tile_html,
)
from crmkit.errors import CrmkitError, ParameterError

__all__ = ["OverviewApp", "ALL_REGIONS"]

ALL_REGIONS = "All regions"
_UNSET = object()

# The KPIs shown, in tile order: key -> (label, one-line explanation).
_TILES = {
    "active_customers": ("Active customers", "Customers who placed at least one order in the period."),
    "orders": ("Orders", "Distinct orders placed in the period."),
    "revenue": ("Revenue", "Total value of all orders in the period."),
    "avg_order_value": ("Average order value", "Revenue divided by the number of orders."),
}


def _to_date(value, what: str) -> _dt.date | None:
    """A date from a date, datetime, Timestamp or ISO string; ``None``/``""`` stay ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    try:
        import pandas as pd

        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{what}: expected a date such as '2024-01-31', found {value!r}.") from exc
    if ts is pd.NaT:
        return None
    return ts.date()


class OverviewApp:
    """Customers, orders and revenue for a region and a period, with revenue by month.

    Parameters
    ----------
    source : str or Path, optional
        Where the data lives: a DuckDB store, a folder of CSV/Parquet files or an Excel
        workbook, as accepted by :func:`crmkit.io.load`. ``None`` or ``""`` means the
        default store (:func:`crmkit.config.default_store`, which honours ``$CRMKIT_STORE``).
    data : CRMData, optional
        Data already in memory (needs ``transactions``; ``customers`` for regions).
        When given, ``source`` is not read.
    currency : str
        Shown with money: a one-character symbol goes before the number (``£1,234``),
        a code after it (``1,234 CHF``).

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole page.
    figure : plotly.graph_objects.Figure
        The revenue-by-month chart as last drawn.
    data_ : CRMData or None
        The loaded data; ``None`` when loading failed.
    message : str or None
        The message shown above the tiles (an error or "no orders"), as plain text.
    last_refresh_seconds_ : float
        How long the last update of tiles and chart took.
    """

    title = "Customer overview"
    subtitle = (
        "How many customers bought, how many orders they placed and what they spent. "
        "Pick a region and a period; the tiles and the chart follow."
    )

    def __init__(self, source=None, *, data=None, currency: str = "£"):
        self.source = source
        self.currency = currency
        self.data_ = None
        self.message: str | None = None
        self.message_kind: str | None = None
        self.last_refresh_seconds_ = 0.0
        self._kpis = {key: 0 for key in _TILES}
        self._monthly = None
        self._suspend = False
        self._build_widgets()
        self._load(data)
        self._init_filters()
        self.refresh()

    # ------------------------------------------------------------------ loading
    def _load(self, data) -> None:
        if data is not None:
            self.data_ = data
            return
        from crmkit.io import mask_url

        source, problem = find_source(self.source)
        if problem:
            self._set_message(problem, kind="error", code="crmkit demo")
            return
        try:
            from crmkit import io as crm_io

            self.data_ = crm_io.load(source, tables=["customers", "transactions"]).data
        except CrmkitError as exc:
            self._set_message(f"Could not load the data from {mask_url(source)}: {exc}", kind="error")
        except Exception as exc:  # noqa: BLE001 - the page must show an error, never a traceback
            self._set_message(
                f"Could not load the data from {mask_url(source)} ({type(exc).__name__}: {exc}).", kind="error"
            )
        if self.data_ is not None and getattr(self.data_, "transactions", None) is None:
            self._set_message(
                f"The data from {mask_url(source)} has no transactions table, so there is nothing to show.", kind="error"
            )
            self.data_ = None

    # ------------------------------------------------------------------ widgets
    def _build_widgets(self) -> None:
        self._header = widgets.HTML(header_html(self.title, self.subtitle))
        self.region_picker = widgets.Dropdown(
            options=[ALL_REGIONS],
            value=ALL_REGIONS,
            description="Region",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="240px"),
        )
        self.start_picker = widgets.DatePicker(
            description="From", style={"description_width": "initial"}, layout=widgets.Layout(width="200px")
        )
        self.end_picker = widgets.DatePicker(
            description="To", style={"description_width": "initial"}, layout=widgets.Layout(width="200px")
        )
        self.reset_button = widgets.Button(
            description="Reset filters",
            tooltip="All regions, whole period",
            layout=widgets.Layout(width="auto"),
        )
        self.reset_button.on_click(lambda _: self.reset_filters())
        filters = widgets.HBox(
            [self.region_picker, self.start_picker, self.end_picker, self.reset_button]
        )
        filters.add_class("crmkit-filters")
        self._message_box = widgets.HTML("")
        self._message_box.add_class("crmkit-message-area")
        self._tiles = {key: widgets.HTML(layout=widgets.Layout(flex="1 1 230px")) for key in _TILES}
        for key, tile in self._tiles.items():
            tile.add_class(f"crmkit-tile-{key}")
        self._tiles_box = tiles = widgets.HBox(list(self._tiles.values()), layout=widgets.Layout(width="100%"))
        tiles.add_class("crmkit-tiles")
        self._chart_output = widgets.Output(layout=widgets.Layout(width="100%", min_height="390px"))
        self._chart_box = widgets.Box([self._chart_output], layout=widgets.Layout(width="100%"))
        self._chart_box.add_class("crmkit-chart")
        self._footer = widgets.HTML(
            '<div class="crmkit-footer">Amounts are order values as recorded, in one currency. '
            "Only totals are shown; no customer is identifiable on this page.</div>"
        )
        self.figure = None
        self.widget = widgets.VBox(
            [self._header, filters, self._message_box, tiles, self._chart_box, self._footer],
            layout=widgets.Layout(width="100%"),
        )
        self.widget.add_class("crmkit-dash")
        self.widget.add_class("crmkit-overview")
        for picker in (self.region_picker, self.start_picker, self.end_picker):
            picker.observe(self._on_filter_change, names="value")

    def _build_chart(self) -> None:
        import plotly.graph_objects as go

        symbol = self.currency if len(self.currency) == 1 else ""
        fig = go.Figure(
            go.Bar(
                x=[],
                y=[],
                name="Revenue",
                marker_color="#2563eb",
                hovertemplate=f"%{{x|%b %Y}}<br>Revenue: {symbol}%{{y:,.0f}}<extra></extra>",
            )
        )
        fig.update_layout(
            template="plotly_white",
            title={"text": "Revenue by month", "x": 0.01, "xanchor": "left", "font": {"size": 17}},
            xaxis={"title": {"text": "Month"}, "tickformat": "%b %Y", "showgrid": False, "ticklabelstandoff": 6},
            yaxis={
                "title": {"text": f"Revenue ({self.currency})" if self.currency else "Revenue"},
                "tickprefix": symbol,
                "tickformat": ",.0f",
                "rangemode": "tozero",
            },
            height=380,
            margin={"l": 80, "r": 24, "t": 56, "b": 56},
            bargap=0.15,
            showlegend=False,
        )
        self.figure = fig

    def _draw_chart(self, months, revenue, region_label: str) -> None:
        """Update :attr:`figure` and show it in the chart area.

        The figure goes to the page as plotly's own mime type, drawn by the plotly
        renderer that Voila and JupyterLab ship, which sizes it to the page. (A
        ``FigureWidget`` keeps plotly.js's default 700 px width in Voila, and going
        through ``plotly.io``'s renderers costs seconds of first render.)
        """
        if self.figure is None:
            self._build_chart()
        self.figure.data[0].x = months
        self.figure.data[0].y = revenue
        self.figure.layout.title.text = f"Revenue by month — {region_label}"
        empty = len(months) == 0
        self.figure.layout.xaxis.visible = not empty
        self.figure.layout.yaxis.visible = not empty
        self.figure.layout.annotations = (
            [{"text": "No orders in this selection", "showarrow": False, "font": {"size": 15, "color": "#6b7280"},
              "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}]
            if empty
            else []
        )
        # Set the Output widget's state rather than capturing a display() into it: capturing
        # while Voila executes the notebook races in its executor and, about one start in
        # five, leaves the page on "Executing 1 of 3" forever (measured: 0 hangs in 16
        # starts this way, 1-in-8 to 4-in-8 with `with output: display(...)`).
        self._chart_output.outputs = (
            {"output_type": "display_data", "data": plotly_bundle(self.figure), "metadata": {}},
        )

    # ------------------------------------------------------------------ filters
    def _init_filters(self) -> None:
        self._data_start = self._data_end = None
        if self.data_ is None:
            for w in (self.region_picker, self.start_picker, self.end_picker, self.reset_button):
                w.disabled = True
            return
        regions: list[str] = []
        customers = getattr(self.data_, "customers", None)
        if customers is not None and "region" in customers.columns:
            regions = sorted(str(r) for r in customers["region"].dropna().unique())
        tx = self.data_.transactions
        if len(tx):
            self._data_start = tx["ordered_at"].min().date()
            self._data_end = tx["ordered_at"].max().date()
        with quietly(self):
            self.region_picker.options = [ALL_REGIONS, *regions]
            self.region_picker.value = ALL_REGIONS
            self.region_picker.disabled = not regions
            self.start_picker.value = self._data_start
            self.end_picker.value = self._data_end
        meta = ""
        if self._data_start is not None:
            meta = (
                f"Orders on record from {self._data_start:%d %b %Y} to {self._data_end:%d %b %Y}"
                f" · {len(regions)} regions · amounts in {self.currency or 'the data currency'}"
            )
        self._header.value = header_html(self.title, self.subtitle, meta)

    @property
    def regions(self) -> list[str]:
        """The regions to choose from (without "All regions")."""
        return [r for r in self.region_picker.options if r != ALL_REGIONS]

    @property
    def filters(self) -> dict:
        """The current filters: ``region`` (``None`` = all), ``start`` and ``end`` (dates or ``None``)."""
        region = self.region_picker.value
        return {
            "region": None if region == ALL_REGIONS else region,
            "start": self.start_picker.value,
            "end": self.end_picker.value,
        }

    def set_filters(self, *, region=_UNSET, start=_UNSET, end=_UNSET) -> "OverviewApp":
        """Change any of the filters, as a person would with the controls, then update once.

        ``region=None`` (or ``"All regions"``) shows every region; ``start``/``end`` take a
        date, a datetime or an ISO string (``None`` = open-ended), and the end date
        includes its whole day. Returns the app.
        """
        new = {}
        if region is not _UNSET:
            value = ALL_REGIONS if region in (None, "", ALL_REGIONS) else str(region)
            if value not in self.region_picker.options:
                raise ParameterError(
                    f"region: expected one of {', '.join(map(repr, self.region_picker.options))}, found {region!r}."
                )
            new[self.region_picker] = value
        if start is not _UNSET:
            new[self.start_picker] = _to_date(start, "start")
        if end is not _UNSET:
            new[self.end_picker] = _to_date(end, "end")
        with quietly(self):
            for picker, value in new.items():
                picker.value = value
        self.refresh()
        return self

    def reset_filters(self) -> "OverviewApp":
        """All regions over the whole period on record."""
        return self.set_filters(region=None, start=self._data_start, end=self._data_end)

    def _on_filter_change(self, change) -> None:
        if not self._suspend:
            self.refresh()

    # ------------------------------------------------------------------ state
    @property
    def kpis(self) -> dict:
        """The numbers behind the tiles: active_customers, orders, revenue, avg_order_value."""
        return dict(self._kpis)

    @property
    def monthly(self):
        """The monthly KPI table behind the chart (a DataFrame indexed by ``month``), or ``None``."""
        return None if self._monthly is None else self._monthly.copy()

    @property
    def tile_text(self) -> dict:
        """What each tile shows as its value, e.g. ``{'revenue': '£12,345', ...}``."""
        k = self._kpis
        return {
            "active_customers": format_count(k["active_customers"]),
            "orders": format_count(k["orders"]),
            "revenue": format_money(k["revenue"], self.currency, decimals=0),
            "avg_order_value": format_money(k["avg_order_value"], self.currency, decimals=2),
        }

    def _set_message(self, text: str | None, *, kind: str = "info", code: str | None = None) -> None:
        self.message = None if text is None else text.replace("{code}", f"`{code}`" if code else "")
        self.message_kind = None if text is None else kind
        self._message_box.value = "" if text is None else message_html(text, kind=kind, code=code)

    def refresh(self) -> None:
        """Recompute the KPIs for the current filters and redraw tiles and chart."""
        t0 = time.perf_counter()
        zeros = {"active_customers": 0, "orders": 0, "revenue": 0.0, "avg_order_value": float("nan")}
        region, start, end = self.filters["region"], self.filters["start"], self.filters["end"]
        region_label = region or ALL_REGIONS
        months, revenue = [], []
        if self.data_ is None:
            self._kpis = zeros
            self._monthly = None
        elif start is not None and end is not None and start > end:
            self._kpis = zeros
            self._monthly = None
            self._set_message(
                f"The start date ({start:%d %b %Y}) is after the end date ({end:%d %b %Y}). "
                "Pick a start on or before the end.",
                kind="error",
            )
        else:
            try:
                from crmkit.kpis import kpi_summary, monthly_kpis

                summary = kpi_summary(self.data_, start=start, end=end, regions=region)
                monthly = monthly_kpis(self.data_, start=start, end=end, regions=region)
            except Exception as exc:  # noqa: BLE001 - shown in the page, never a traceback
                self._kpis = zeros
                self._monthly = None
                self._set_message(f"Could not compute the KPIs ({type(exc).__name__}: {exc}).", kind="error")
            else:
                self._kpis = {
                    "active_customers": int(summary["active_customers"]),
                    "orders": int(summary["orders"]),
                    "revenue": float(summary["revenue"]),
                    "avg_order_value": float(summary["avg_order_value"]),
                }
                self._monthly = monthly
                months = [m.to_pydatetime() if hasattr(m, "to_pydatetime") else m for m in monthly.index]
                revenue = [float(v) for v in monthly["revenue"]]
                if self._kpis["orders"] == 0:
                    period = _period_text(start, end)
                    self._set_message(
                        f"No orders for {region_label.lower() if region is None else region} {period}. "
                        "Widen the period or choose another region.",
                        kind="info",
                    )
                else:
                    self._set_message(None)
        # without data there is nothing to show but the message: no empty tiles or axes
        for box in (self._tiles_box, self._chart_box):
            box.layout.display = "none" if self.data_ is None else None
        for key, (label, help_text) in _TILES.items():
            self._tiles[key].value = tile_html(key, label, self.tile_text[key], help_text)
        self._draw_chart(months, revenue, region_label)
        self.last_refresh_seconds_ = time.perf_counter() - t0

    # ------------------------------------------------------------------ display
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        f = self.filters
        state = "error" if self.data_ is None else "ok"
        return (
            f"OverviewApp(region={f['region'] or ALL_REGIONS!r}, start={f['start']}, end={f['end']}, "
            f"state={state!r}, kpis={self.kpis})"
        )


def _period_text(start, end) -> str:
    if start and end:
        return f"between {start:%d %b %Y} and {end:%d %b %Y}"
    if start:
        return f"from {start:%d %b %Y} on"
    if end:
        return f"up to {end:%d %b %Y}"
    return "on record"
