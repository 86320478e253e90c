"""The *segment explorer* dashboard: choose a method, k and features; see the segments follow.

:class:`SegmentExplorerApp` holds the state (the choices, the fitted segmentation, the
migration since the comparison date), the widgets and the rendering. It can be driven
and read without a browser::

    app = SegmentExplorerApp(data=data)
    app.set_options(method="kmeans", k=4, features="behaviour")
    app.summary                      # the table behind the size chart
    app.select_segment(1)            # the segment shown against the population
    app.download_csv()               # its customer ids, one per line (ids only)

Customer features are computed once per date (on the engine for a DuckDB store or a
database URL) and reused; changing the method, k or features only refits the model.
Errors are shown in the page as a message box, never as a traceback. Only aggregates and
customer ids are shown: no name, e-mail, phone, street or birth date.
"""

from __future__ import annotations

import base64
import time

import ipywidgets as widgets
import pandas as pd

from crmkit.dashboards._widgets import (
    DataSource,
    check_choice,
    find_source,
    format_count,
    header_html,
    message_html,
    plotly_bundle,
    quietly,
    tile_html,
)
from crmkit.errors import CrmkitError, ParameterError

__all__ = ["SegmentExplorerApp", "METHOD_OPTIONS", "FEATURE_OPTIONS", "COMPARE_OPTIONS"]

#: (label shown, value) of the method picker.
METHOD_OPTIONS = [("RFM grid", "rfm"), ("k-means", "kmeans"), ("Gaussian mixture", "gmm")]
#: (label shown, value) of the feature-set picker.
FEATURE_OPTIONS = [("Behaviour (RFM, basket, mix)", "behaviour"), ("RFM only", "rfm"), ("Everything", "full")]
#: (label shown, days before the as-of date) of the comparison picker.
COMPARE_OPTIONS = [("3 months earlier", 91), ("6 months earlier", 182), ("1 year earlier", 365)]
K_OPTIONS = [("auto", "auto")] + [(str(k), k) for k in range(2, 9)]

_TILES = {
    "customers": ("Customers segmented", "Customers with at least one order on the as-of date."),
    "segments": ("Segments", "Number of segments found (customers without orders are kept apart)."),
    "top_value": ("Top segment's revenue", "Share of revenue from the most valuable segment."),
    "stability": ("Stability", "Agreement of refits on resampled customers (adjusted Rand index; 1 = identical)."),
}
_UNSET = object()


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "segment"


class SegmentExplorerApp:
    """Segments of the customers, their sizes, value shares, profiles and migration.

    Parameters
    ----------
    source : str or Path, optional
        A DuckDB store, a database URL, a folder of CSV/Parquet files or an Excel
        workbook; ``None`` or ``""`` means the default source (``$CRMKIT_SOURCE`` or
        the embedded store).
    data : CRMData, optional
        Data already in memory (customers and transactions at least); ``source`` is then
        not read.
    currency : str, default "£"
    as_of : date-like, optional
        The date the customers are segmented at; default the day of the last order.
    method, k, features, compare_days :
        The choices the page opens with.
    n_bootstrap : int, default 5
        Refits for the stability tile (a few keep the page quick; the report uses 20).
    random_state : int, default 0

    Attributes
    ----------
    segmentation_ : crmkit.segment.Segmentation or None
        The current segmentation.
    migration_ : crmkit.segment.Migration or None
        Migration from the comparison date to the as-of date.
    selected_ : int or None
        The segment id shown in the detail panel.
    message : str or None
        The message shown above the results, as plain text.
    last_refresh_seconds_ : float
    """

    title = "Segment explorer"
    subtitle = (
        "Which groups of customers do we have, what are they worth, and how did they move? "
        "Choose a method, the number of segments and what to segment on; pick a segment to see it against everyone "
        "and download its customer ids."
    )

    def __init__(
        self,
        source=None,
        *,
        data=None,
        currency: str = "£",
        as_of=None,
        method: str = "kmeans",
        k="auto",
        features: str = "behaviour",
        compare_days: int = 365,
        n_bootstrap: int = 5,
        random_state: int = 0,
    ):
        self.source = source
        self.currency = currency
        self.as_of = as_of
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state
        self.data_ = None
        self.as_of_ = None
        self.segmentation_ = None
        self.migration_ = None
        self.selected_ = None
        self.message: str | None = None
        self.message_kind: str | None = None
        self.last_refresh_seconds_ = 0.0
        self._features: dict = {}
        self._suspend = False
        self._build_widgets()
        self._suspend = True
        try:
            self.method_picker.value = method
            self.k_picker.value = k if k == "auto" else int(k)
            self.features_picker.value = features
            self.compare_picker.value = int(compare_days)
        except Exception as exc:  # noqa: BLE001 - a bad initial choice is shown, not raised in Voila
            self._set_message(f"Could not use the initial choices ({exc}).", kind="error")
        finally:
            self._suspend = False
        self._load(data)
        self.refresh()

    # ------------------------------------------------------------------ data
    def _load(self, data) -> None:
        """Keep ``data`` or find the source; features are computed on first use."""
        from crmkit.io import mask_url

        if data is not None:
            self.data_ = data
        else:
            source, problem = find_source(self.source)
            self._source_text = mask_url(source)
            if problem:
                self._set_message(problem, kind="error", code="crmkit demo")
                self._disable()
                return
            self.data_ = source
        from crmkit.segment import as_of_date

        try:
            self.as_of_ = self._with_data(lambda d: as_of_date(d, self.as_of))
        except Exception as exc:  # noqa: BLE001 - the page must show an error, never a traceback
            self._fail_load(exc)
            return
        self._header.value = header_html(
            self.title,
            self.subtitle,
            f"Customers as on {self.as_of_:%d %b %Y} · amounts in {self.currency or 'the data currency'}",
        )

    def _fail_load(self, exc: Exception) -> None:
        where = getattr(self, "_source_text", "the data")
        detail = str(exc) if isinstance(exc, CrmkitError) else f"{type(exc).__name__}: {exc}"
        self._set_message(f"Could not read {where}: {detail}", kind="error")
        self.data_ = None
        self._disable()

    def _with_data(self, fn):
        """Run ``fn(data)`` on the in-memory data, an engine connection, or loaded files."""
        from crmkit.segment import tables_needed

        if getattr(self, "_source", None) is None or self._source.data is not self.data_:
            self._source = DataSource(self.data_, tables=tables_needed("full"))
        return self._source.run(fn)

    def features_at(self, date) -> pd.DataFrame:
        """Customer features at ``date`` (cached: computed once per date)."""
        from crmkit.segment import segmentation_features

        key = pd.Timestamp(date).normalize()
        if key not in self._features:
            self._features[key] = self._with_data(lambda d: segmentation_features(d, key))
        return self._features[key]

    def _disable(self) -> None:
        for w in (self.method_picker, self.k_picker, self.features_picker, self.compare_picker, self.segment_picker):
            w.disabled = True
        for box in (self._tiles_box, self._results):
            box.layout.display = "none"

    # ------------------------------------------------------------------ widgets
    def _build_widgets(self) -> None:
        style = {"description_width": "initial"}
        self._header = widgets.HTML(header_html(self.title, self.subtitle))
        self.method_picker = widgets.Dropdown(
            options=METHOD_OPTIONS, value="kmeans", description="Method", style=style, layout=widgets.Layout(width="230px")
        )
        self.k_picker = widgets.Dropdown(
            options=K_OPTIONS, value="auto", description="Segments (k)", style=style, layout=widgets.Layout(width="190px")
        )
        self.features_picker = widgets.Dropdown(
            options=FEATURE_OPTIONS, value="behaviour", description="Segment on", style=style,
            layout=widgets.Layout(width="320px"),
        )
        self.compare_picker = widgets.Dropdown(
            options=COMPARE_OPTIONS, value=365, description="Compare with", style=style, layout=widgets.Layout(width="270px")
        )
        controls = widgets.HBox([self.method_picker, self.k_picker, self.features_picker, self.compare_picker])
        controls.add_class("crmkit-filters")
        controls.add_class("crmkit-seg-controls")
        self._message_box = widgets.HTML("")
        self._tiles = {key: widgets.HTML(layout=widgets.Layout(flex="1 1 230px")) for key in _TILES}
        self._tiles_box = widgets.HBox(list(self._tiles.values()), layout=widgets.Layout(width="100%"))
        self._tiles_box.add_class("crmkit-tiles")

        def chart(name: str, height: str) -> tuple[widgets.Output, widgets.Box]:
            out = widgets.Output(layout=widgets.Layout(width="100%", min_height=height))
            box = widgets.Box([out], layout=widgets.Layout(width="100%", margin="0 0 12px 0"))
            box.add_class("crmkit-chart")
            box.add_class(f"crmkit-chart-{name}")
            return out, box

        self._sizes_out, sizes_box = chart("sizes", "320px")
        self._profile_out, profile_box = chart("profile", "420px")
        self._migration_out, migration_box = chart("migration", "420px")
        self._detail_out, detail_box = chart("detail", "360px")
        self._migration_text = widgets.HTML("")
        self.segment_picker = widgets.Dropdown(
            options=[], description="Segment", style=style, layout=widgets.Layout(width="460px")
        )
        self._detail_text = widgets.HTML("")
        self._download = widgets.HTML("")
        picker_row = widgets.HBox([self.segment_picker, self._download])
        picker_row.add_class("crmkit-filters")
        picker_row.add_class("crmkit-seg-picker")

        def heading(text: str) -> widgets.HTML:
            return widgets.HTML(f'<h3 class="crmkit-h3" style="margin:14px 0 6px 0;font-size:18px;">{text}</h3>')

        self._results = widgets.VBox(
            [
                sizes_box,
                heading("Profiles: how each segment differs from the average customer"),
                profile_box,
                heading("Migration since the comparison date"),
                self._migration_text,
                migration_box,
                heading("One segment against everyone"),
                picker_row,
                self._detail_text,
                detail_box,
            ],
            layout=widgets.Layout(width="100%"),
        )
        self._footer = widgets.HTML(
            '<div class="crmkit-footer">Segments use only orders up to the as-of date. Only totals and customer ids '
            "are shown or downloaded; no personal data.</div>"
        )
        self.widget = widgets.VBox(
            [self._header, controls, self._message_box, self._tiles_box, self._results, self._footer],
            layout=widgets.Layout(width="100%"),
        )
        self.widget.add_class("crmkit-dash")
        self.widget.add_class("crmkit-segment-explorer")
        for picker in (self.method_picker, self.k_picker, self.features_picker, self.compare_picker):
            picker.observe(self._on_change, names="value")
        self.segment_picker.observe(self._on_segment, names="value")

    def _show(self, out: widgets.Output, figure) -> None:
        # Set the Output's state instead of capturing display() into it: capturing while
        # Voila executes the notebook can hang the page (see crmkit.dashboards.overview).
        out.outputs = ({"output_type": "display_data", "data": plotly_bundle(figure), "metadata": {}},)

    def _set_message(self, text: str | None, *, kind: str = "info", code: str | None = None) -> None:
        self.message = None if text is None else text.replace("{code}", f"`{code}`" if code else "")
        self.message_kind = None if text is None else kind
        self._message_box.value = "" if text is None else message_html(text, kind=kind, code=code)

    # ------------------------------------------------------------------ choices
    @property
    def options(self) -> dict:
        """The current choices: method, k, features, compare_days."""
        return {
            "method": self.method_picker.value,
            "k": self.k_picker.value,
            "features": self.features_picker.value,
            "compare_days": self.compare_picker.value,
        }

    def set_options(self, *, method=_UNSET, k=_UNSET, features=_UNSET, compare_days=_UNSET) -> "SegmentExplorerApp":
        """Change any choice as a person would with the controls, then update once."""
        new = {}
        for picker, value, name in (
            (self.method_picker, method, "method"),
            (self.k_picker, k if k in (_UNSET, "auto") else (int(k) if str(k).isdigit() else k), "k"),
            (self.features_picker, features, "features"),
            (self.compare_picker, compare_days, "compare_days"),
        ):
            if value is _UNSET:
                continue
            new[picker] = check_choice(picker, value, name)
        with quietly(self):
            for picker, value in new.items():
                picker.value = value
        self.refresh()
        return self

    def _on_change(self, change) -> None:
        if not self._suspend:
            self.refresh()

    def _on_segment(self, change) -> None:
        if not self._suspend and change["new"] is not None:
            self.select_segment(change["new"])

    # ------------------------------------------------------------------ state
    @property
    def summary(self) -> pd.DataFrame | None:
        """One row per segment (the table behind the size chart), or ``None``."""
        return None if self.segmentation_ is None else self.segmentation_.summary()

    @property
    def tile_text(self) -> dict:
        seg = self.segmentation_
        if seg is None:
            return {key: "–" for key in _TILES}
        s = seg.summary()
        s = s[s["segment_id"] != 0]
        return {
            "customers": format_count(seg.n_segmented),
            "segments": format_count(len(s)),
            "top_value": f"{s['value_share'].max():.0%}" if len(s) else "–",
            "stability": f"{seg.stability.ari_mean:.2f}" if seg.stability is not None else "fixed rules",
        }

    def refresh(self) -> None:
        """Refit for the current choices and redraw everything."""
        t0 = time.perf_counter()
        self.k_picker.disabled = self.features_picker.disabled = self.method_picker.value == "rfm"
        if self.data_ is None or self.as_of_ is None:
            self.segmentation_ = self.migration_ = None
            self.last_refresh_seconds_ = time.perf_counter() - t0
            return
        import crmkit.segment as segment

        opts = self.options
        try:
            now = self.features_at(self.as_of_)
            self.segmentation_ = segment.segment_customers(
                now, self.as_of_, method=opts["method"], k=opts["k"], features=opts["features"], n_bootstrap=self.n_bootstrap,
                random_state=self.random_state, currency=self.currency,
            )
            before_day = self.as_of_ - pd.Timedelta(days=int(opts["compare_days"]))
            self.migration_ = segment.segment_migration(
                self.segmentation_, from_date=before_day, to_date=self.as_of_,
                from_features=self.features_at(before_day), to_features=now,
            )
        except Exception as exc:  # noqa: BLE001 - shown in the page, never a traceback
            self.segmentation_ = self.migration_ = None
            detail = str(exc) if isinstance(exc, CrmkitError) else f"{type(exc).__name__}: {exc}"
            self._set_message(f"Could not segment the customers with these choices: {detail}", kind="error")
            self._results.layout.display = "none"
            self._draw_tiles()
            self.last_refresh_seconds_ = time.perf_counter() - t0
            return
        self._set_message(None)
        self._results.layout.display = None
        self._draw_tiles()
        seg = self.segmentation_
        self._show(self._sizes_out, seg.plot())
        self._show(self._profile_out, seg.plot_profile())
        self._migration_text.value = f'<p class="crmkit-migration-text" style="margin:0 0 8px 0">{_esc(self.migration_.describe())}</p>'
        self._show(self._migration_out, self.migration_.plot("heatmap"))
        names = seg.profile.segments[["segment", "segment_id"]]
        previous = self.selected_
        with quietly(self):
            self.segment_picker.options = [(f"{n} ({i})", int(i)) for n, i in zip(names["segment"], names["segment_id"])]
            keep = previous if previous in set(names["segment_id"]) else int(names["segment_id"].iloc[0])
            self.segment_picker.value = keep
        self.select_segment(self.segment_picker.value)
        self.last_refresh_seconds_ = time.perf_counter() - t0

    def _draw_tiles(self) -> None:
        text = self.tile_text
        for key, (label, help_text) in _TILES.items():
            self._tiles[key].value = tile_html(key, label, text[key], help_text)

    def select_segment(self, segment) -> "SegmentExplorerApp":
        """Show ``segment`` (id or name) against the population and offer its ids for download."""
        seg = self.segmentation_
        if seg is None:
            return self
        segs = seg.profile.segments
        hit = segs[(segs["segment_id"] == segment) | (segs["segment"] == segment)]
        if hit.empty:
            raise ParameterError(f"segment: expected one of {segs['segment'].tolist()}, found {segment!r}.")
        sid = int(hit["segment_id"].iloc[0])
        self.selected_ = sid
        if self.segment_picker.value != sid:
            with quietly(self):
                self.segment_picker.value = sid
        row = hit.iloc[0]
        self._detail_text.value = (
            f'<p class="crmkit-segment-detail" style="margin:4px 0 8px 0"><b>{_esc(row["segment"])}</b>: '
            f'{row["customers"]:,} customers ({row["customers"] / seg.n_customers:.0%} of all), '
            f'{row["value_share"]:.0%} of revenue. {_esc(row["description"])}.</p>'
        )
        self._show(self._detail_out, seg.plot_segment(sid))
        ids = seg.customer_ids(sid)
        payload = base64.b64encode(self.download_csv(sid).encode("utf-8")).decode("ascii")
        self._download.value = (
            f'<a class="crmkit-download" download="segment-{sid}-{_slug(row["segment"])}-customer-ids.csv" '
            f'href="data:text/csv;charset=utf-8;base64,{payload}" data-count="{len(ids)}" '
            'style="display:inline-block;margin-left:16px;padding:6px 12px;border-radius:6px;background:#2563eb;'
            f'color:#fff;text-decoration:none;font-weight:600;">Download {len(ids):,} customer ids (CSV)</a>'
        )
        return self

    def download_csv(self, segment=None) -> str:
        """The customer ids of ``segment`` (default: the selected one) as CSV text: ids only."""
        seg = self.segmentation_
        if seg is None:
            return ""
        sid = self.selected_ if segment is None else segment
        ids = seg.customer_ids(sid)
        return "customer_id\n" + "".join(f"{i}\n" for i in ids)

    # ------------------------------------------------------------------ display
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        o = self.options
        state = "error" if self.segmentation_ is None else f"{len(self.segmentation_.segment_names)} segments"
        return f"SegmentExplorerApp(method={o['method']!r}, k={o['k']!r}, features={o['features']!r}, state={state!r})"


def _esc(text) -> str:
    import html

    return html.escape(str(text), quote=True)
