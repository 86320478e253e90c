"""The *campaign* dashboard: did a campaign work, for whom, and how big must the next one be?

:class:`CampaignApp` holds the state (the chosen campaign and segment, its readout, the
planning inputs and the sample size they need), the widgets and the rendering. It can be
driven and read without a browser::

    app = CampaignApp(data=data)
    app.set_campaign("CMP05")
    app.set_segment("Champions")           # or "all"
    app.sentence                           # the readout's plain answer
    app.arm_table                          # one row per arm, formatted as on the page
    app.set_plan_inputs(baseline_rate=0.05, effect=0.01, power=0.8, arms=3)
    app.plan_.total                        # customers needed

All statistics come from :mod:`crmkit.campaign` (Wilson intervals for rates, intervals
of differences against the control, Holm's correction across arms, a bootstrap interval
for revenue, sample-ratio and pre-period balance checks). Errors are shown in the page
as a message box, never as a traceback. Only aggregates are shown: no customer id, name,
e-mail, phone, street or birth date.
"""

from __future__ import annotations

import html
import math
import time
import warnings

import ipywidgets as widgets
import pandas as pd

from crmkit.dashboards._widgets import (
    DataSource,
    check_choice,
    find_source,
    format_count,
    header_html,
    message_html,
    quietly,
    tile_html,
)
from crmkit.errors import CrmkitError, ParameterError

__all__ = ["CampaignApp", "ALL_SEGMENTS", "POWER_OPTIONS", "ARMS_OPTIONS", "MEASURES"]

#: Value of the segment picker that means "every member of the campaign".
ALL_SEGMENTS = "all"
#: (label shown, value) of the power picker on the planning tab.
POWER_OPTIONS = [("70 %", 0.7), ("80 %", 0.8), ("90 %", 0.9), ("95 %", 0.95)]
#: (label shown, value) of the arms picker: groups including the control.
ARMS_OPTIONS = [(f"{k} (control + {k - 1} treatment{'s' if k > 2 else ''})", k) for k in range(2, 6)]

_TILES = {
    "members": ("Customers in the test", "Members of the campaign in the chosen segment, control group included."),
    "lift": ("Conversion lift", "Best arm against the control, in percentage points, with its 95 % interval."),
    "revenue": ("Incremental revenue", "Revenue the contacts added beyond the control group's rate, bootstrap interval."),
    "net": ("Net return", "Incremental revenue less the cost of the contacts, with its bootstrap interval."),
}
_CSS = """
<style>
.crmkit-campaign .crmkit-sentence { font-size: 17px; line-height: 1.5; color: #111827; background: #f0fdf4;
    border-left: 5px solid #16a34a; border-radius: 6px; padding: 12px 16px; margin: 0 0 14px 0; }
.crmkit-campaign .crmkit-sentence.crmkit-neutral { background: #f9fafb; border-left-color: #6b7280; }
.crmkit-campaign .crmkit-sentence.crmkit-negative { background: #fef2f2; border-left-color: #dc2626; }
.crmkit-campaign table.crmkit-table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 0 0 6px 0;
    font-variant-numeric: tabular-nums; }
.crmkit-campaign table.crmkit-table th { text-align: right; background: #f3f4f6; color: #374151; font-weight: 600;
    padding: 7px 10px; border-bottom: 2px solid #e5e7eb; }
.crmkit-campaign table.crmkit-table td { text-align: right; padding: 7px 10px; border-bottom: 1px solid #e5e7eb; }
.crmkit-campaign table.crmkit-table th:first-child, .crmkit-campaign table.crmkit-table td:first-child { text-align: left; }
.crmkit-campaign table.crmkit-table td .crmkit-ci { color: #6b7280; font-size: 12.5px; display: block; }
.crmkit-campaign .crmkit-note { font-size: 13px; color: #4b5563; margin: 2px 0 12px 0; line-height: 1.45; }
.crmkit-campaign ul.crmkit-checks { margin: 4px 0 12px 0; padding-left: 0; list-style: none; font-size: 14px; }
.crmkit-campaign ul.crmkit-checks li { margin: 4px 0; padding: 6px 10px; border-radius: 6px; line-height: 1.4; }
.crmkit-campaign ul.crmkit-checks li.crmkit-ok { background: #f0fdf4; }
.crmkit-campaign ul.crmkit-checks li.crmkit-fail { background: #fef2f2; color: #991b1b; }
.crmkit-campaign ul.crmkit-checks li.crmkit-warn { background: #fffbeb; color: #92400e; }
.crmkit-campaign ul.crmkit-checks li.crmkit-skipped { background: #f9fafb; color: #4b5563; }
.crmkit-campaign .crmkit-warn { color: #b45309; font-weight: 600; }
.crmkit-campaign .crmkit-bad { color: #b91c1c; font-weight: 700; }
.crmkit-campaign table.crmkit-balance-table { font-size: 13px; }
.crmkit-campaign table.crmkit-plan-table { width: auto; min-width: 360px; }
.crmkit-campaign .lm-TabBar-tab { background: #ffffff; color: #374151; }
.crmkit-campaign .lm-TabBar-tab.lm-mod-current { font-weight: 600; color: #1d4ed8; }
.crmkit-campaign .crmkit-plan-answer { font-size: 17px; line-height: 1.5; background: #eff6ff; border-left: 5px solid #2563eb;
    border-radius: 6px; padding: 12px 16px; margin: 8px 0 12px 0; }
.crmkit-campaign .lm-TabBar-tab, .crmkit-campaign .p-TabBar-tab { font-size: 15px; min-width: 170px; }
.crmkit-campaign h3.crmkit-h3 { font-size: 18px; margin: 16px 0 6px 0; color: #111827; }
</style>
"""
_UNSET = object()


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _ok(value) -> bool:
    try:
        return value is not None and not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _pct(value, decimals: int = 1) -> str:
    """A share as per cent: ``0.0125`` → ``1.3 %``."""
    return f"{float(value) * 100:.{decimals}f} %" if _ok(value) else "–"


def _signed(v: float, body: str) -> str:
    """``body`` (the formatted absolute value) with a typographic minus or a plus; no sign when it shows as zero."""
    if not any(ch in "123456789" for ch in body):
        return body
    return ("−" if v < 0 else "+") + body


def _plain_number(v: float, fmt: str) -> str:
    """A number with a typographic minus when negative (Python's format writes a hyphen)."""
    body = format(abs(v), fmt)
    return ("−" + body) if v < 0 and any(ch in "123456789" for ch in body) else body


def _points(value, decimals: int = 1) -> str:
    """A difference of shares in percentage points with its sign: ``0.0068`` → ``+0.7``, ``-0.0279`` → ``−2.8``."""
    if not _ok(value):
        return "–"
    v = float(value) * 100
    return _signed(v, f"{abs(v):.{decimals}f}")


def _money(value, currency: str, decimals: int = 0, signed: bool = False) -> str:
    if not _ok(value):
        return "–"
    v = float(value)
    number = f"{abs(v):,.{decimals}f}"
    sign = ("+" if v >= 0 else "−") if signed else ("−" if v < 0 else "")
    if not any(ch in "123456789" for ch in number):  # shown as zero: no sign ("£0", not "−£0")
        sign = ""
    if not currency:
        return sign + number
    return f"{sign}{currency}{number}" if len(currency) == 1 else f"{sign}{number} {currency}"


def _p_value(value) -> str:
    if not _ok(value):
        return "–"
    v = float(value)
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


#: What each pre-period column measures, in words (the columns of crmkit.campaign.PRE_PERIOD_COLUMNS).
MEASURES = {
    "pre_orders": "Orders in the year before",
    "pre_revenue": "Revenue in the year before",
    "pre_orders_total": "Orders ever",
    "pre_revenue_total": "Revenue ever",
    "pre_avg_order_value": "Average order",
    "pre_recency_days": "Days since the last order",
    "tenure_days": "Days since the first order",
    "pre_contacts_outbound": "Contacts received in the year before",
    "pre_contacts_30d": "Contacts received in the 30 days before",
}


def _measure(column) -> str:
    return MEASURES.get(str(column), str(column).replace("_", " "))


def _number(value) -> str:
    if not _ok(value):
        return "–"
    v = float(value)
    return _plain_number(v, ",.0f" if abs(v) >= 100 else ",.1f")


def _arm_label(arm) -> str:
    """``treatment_a`` → ``Treatment A``; ``control`` → ``Control``."""
    words = str(arm).replace("_", " ").split()
    return " ".join(w.upper() if len(w) == 1 else w.capitalize() for w in words) or str(arm)


def _plotly_output(figure) -> dict:
    """A plotly figure as a display_data output (plotly's mime bundle, sized to the page)."""
    import json

    from plotly.io.json import to_json_plotly

    fig = json.loads(to_json_plotly(figure.to_dict()))
    fig["config"] = {"responsive": True, "displaylogo": False, "displayModeBar": False}
    return {"output_type": "display_data", "data": {"application/vnd.plotly.v1+json": fig}, "metadata": {}}


class CampaignApp:
    """A campaign's readout (answer, arm table, forest plot, checks) and a power calculator.

    Parameters
    ----------
    source : str or Path, optional
        A DuckDB store, a database URL, a folder of CSV/Parquet files or an Excel
        workbook; ``None`` or ``""`` means the default source (``$CRMKIT_SOURCE`` or
        the embedded store).
    data : CRMData, optional
        Data already in memory (customers, transactions, campaigns and
        campaign_members); ``source`` is then not read.
    currency : str, default "£"
    campaign_id : str, optional
        The campaign the page opens on; default the most recent one.
    segments : str, default "rfm"
        What the segment filter offers: ``"rfm"`` (RFM segments at each campaign's
        start), the name of a segmentation saved in the store, or ``"none"``.
    alpha : float, default 0.05
        1 − confidence level of every interval and the level of the tests.
    n_bootstrap : int, default 1000
        Bootstrap resamples of the revenue interval (fewer keep the page quick).
    random_state : int, default 0

    Attributes
    ----------
    campaigns_ : pandas.DataFrame or None
        :func:`crmkit.campaign.list_campaigns` of the source.
    members_ : pandas.DataFrame or None
        The chosen campaign's members (all segments) with their outcome and segment.
    readout_ : crmkit.campaign.Readout or None
        The readout of the chosen campaign in the chosen segment.
    plan_ : crmkit.campaign.SampleSize or None
        The sample size the planning inputs need.
    segments_left_out_ : list of str
        Segments of the chosen campaign not offered by the filter, because the control
        group or an arm has no members there (nothing to compare with).
    message : str or None
        The message shown above the results, as plain text.
    """

    title = "Campaign results"
    subtitle = (
        "Did the campaign work, for whom, and what did it earn? Choose a campaign and a customer segment to read "
        "its result against the randomised control group; plan the size of the next test on the Planning tab."
    )

    def __init__(
        self,
        source=None,
        *,
        data=None,
        currency: str = "£",
        campaign_id: str | None = None,
        segments: str = "rfm",
        alpha: float = 0.05,
        n_bootstrap: int = 1000,
        random_state: int = 0,
    ):
        self.source = source
        self.currency = currency
        self.segments = segments
        self.alpha = float(alpha)
        self.n_bootstrap = int(n_bootstrap)
        self.random_state = random_state
        self.data_ = None
        self.campaigns_: pd.DataFrame | None = None
        self.members_: pd.DataFrame | None = None
        self.readout_ = None
        self.plan_ = None
        self.mde_: float | None = None
        self.segments_left_out_: list[str] = []
        self.message: str | None = None
        self.message_kind: str | None = None
        self.plan_message: str | None = None
        self.last_refresh_seconds_ = 0.0
        self._members_cache: dict = {}
        self._suspend = False
        self._build_widgets()
        self._load(data)
        if self.campaigns_ is not None and len(self.campaigns_):
            ids = list(self.campaigns_["campaign_id"])
            start = campaign_id if campaign_id in ids else self._latest_campaign()
            if campaign_id not in (None, "") and campaign_id not in ids:
                self._set_message(f"campaign_id: no campaign {campaign_id!r}; known: {', '.join(ids)}. "
                                  f"Showing {start}.", kind="error")
            with quietly(self):
                self.campaign_picker.value = start
            self._select_campaign(start, keep_message=self.message is not None)
        self.refresh_plan()

    # ------------------------------------------------------------------ data
    def _load(self, data) -> None:
        """Keep ``data`` or find the source, then list its campaigns."""
        from crmkit.io import mask_url

        if data is not None:
            self.data_ = data
            self._source_text = "the data"
        else:
            source, problem = find_source(self.source)
            self._source_text = mask_url(source)
            if problem:
                self._set_message(problem, kind="error", code="crmkit demo")
                self._disable()
                return
            self.data_ = source
        import crmkit.campaign as cp

        try:
            campaigns = self._with_data(cp.list_campaigns)
        except Exception as exc:  # noqa: BLE001 - the page shows an error, never a traceback
            self._fail_load(exc)
            return
        if campaigns is None or not len(campaigns):
            self._set_message(f"There are no campaigns in {self._source_text}, so there is nothing to read out.",
                              kind="error")
            self._disable()
            return
        self.campaigns_ = campaigns.reset_index(drop=True)
        self.campaign_picker.options = [(self._campaign_label(r), r["campaign_id"]) for _, r in self.campaigns_.iterrows()]
        self._header.value = header_html(
            self.title, self.subtitle,
            f"{len(self.campaigns_)} campaigns · amounts in {self.currency or 'the data currency'} · "
            f"intervals at {1 - self.alpha:.0%}",
        ) + _CSS

    def _fail_load(self, exc: Exception) -> None:
        detail = str(exc) if isinstance(exc, CrmkitError) else f"{type(exc).__name__}: {exc}"
        self._set_message(f"Could not read the campaigns from {self._source_text}: {detail}", kind="error")
        self.data_ = None
        self._disable()

    def _with_data(self, fn):
        """Run ``fn(data)`` on the in-memory data, an engine connection, or loaded files."""
        if getattr(self, "_source", None) is None or self._source.data is not self.data_:
            self._source = DataSource(self.data_)
        return self._source.run(fn)

    def _latest_campaign(self) -> str:
        c = self.campaigns_
        return str(c.sort_values(["start", "campaign_id"]).iloc[-1]["campaign_id"])

    def _campaign_label(self, row) -> str:
        start = pd.Timestamp(row["start"])
        start_text = "" if pd.isna(start) else f", {start:%d %b %Y}"
        return f"{row['campaign_id']} · {row['name']} ({row['channel']}{start_text})"

    def members(self, campaign_id: str) -> pd.DataFrame:
        """The members of ``campaign_id`` with outcome, pre-period covariates and segment (cached)."""
        import crmkit.campaign as cp

        if campaign_id not in self._members_cache:
            segs = None if self.segments in (None, "", "none") else self.segments
            with warnings.catch_warnings():
                # empty RFM cells warn in numpy (nanmean of nothing); the page must not show them
                warnings.simplefilter("ignore", RuntimeWarning)
                self._members_cache[campaign_id] = self._with_data(
                    lambda d: cp.campaign_members(d, campaign_id, segments=segs)
                )
        return self._members_cache[campaign_id]

    def _disable(self) -> None:
        for w in (self.campaign_picker, self.segment_picker):
            w.disabled = True
        for box in (self._tiles_box, self._results):
            box.layout.display = "none"

    # ------------------------------------------------------------------ widgets
    def _build_widgets(self) -> None:
        style = {"description_width": "initial"}
        self._header = widgets.HTML(header_html(self.title, self.subtitle) + _CSS)
        self.campaign_picker = widgets.Dropdown(
            options=[], description="Campaign", style=style, layout=widgets.Layout(width="520px")
        )
        self.segment_picker = widgets.Dropdown(
            options=[("All customers", ALL_SEGMENTS)], value=ALL_SEGMENTS, description="Customers", style=style,
            layout=widgets.Layout(width="380px"),
        )
        controls = widgets.HBox([self.campaign_picker, self.segment_picker])
        controls.add_class("crmkit-filters")
        controls.add_class("crmkit-campaign-controls")
        self._message_box = widgets.HTML("")
        self._filter_note = widgets.HTML("")
        self._tiles = {key: widgets.HTML(layout=widgets.Layout(flex="1 1 230px")) for key in _TILES}
        self._tiles_box = widgets.HBox(list(self._tiles.values()), layout=widgets.Layout(width="100%"))
        self._tiles_box.add_class("crmkit-tiles")
        self._sentence = widgets.HTML("")
        self._arm_table = widgets.HTML("")
        self._arm_note = widgets.HTML("")
        self._forest_out = widgets.Output(layout=widgets.Layout(width="100%", min_height="200px"))
        forest_box = widgets.Box([self._forest_out], layout=widgets.Layout(width="100%", margin="0 0 12px 0"))
        forest_box.add_class("crmkit-chart")
        forest_box.add_class("crmkit-chart-forest")
        self._checks = widgets.HTML("")

        def heading(text: str) -> widgets.HTML:
            return widgets.HTML(f'<h3 class="crmkit-h3">{_esc(text)}</h3>')

        self._results = widgets.VBox(
            [
                self._sentence,
                heading("Each group against the control"),
                self._arm_table,
                self._arm_note,
                heading("Difference from the control, with its 95 % interval"),
                forest_box,
                heading("Can we trust the comparison?"),
                self._checks,
            ],
            layout=widgets.Layout(width="100%"),
        )
        readout_tab = widgets.VBox([self._tiles_box, self._results], layout=widgets.Layout(width="100%"))

        # planning tab: inputs in per cent (as a marketer states them), stored as shares
        self.baseline_input = widgets.BoundedFloatText(
            value=5.0, min=0.01, max=99.0, step=0.1, description="Conversion rate without contact (%)", style=style,
            layout=widgets.Layout(width="330px"),
        )
        self.effect_input = widgets.BoundedFloatText(
            value=1.0, min=0.01, max=99.0, step=0.1, description="Lift to detect (% points)", style=style,
            layout=widgets.Layout(width="260px"),
        )
        self.power_picker = widgets.Dropdown(
            options=POWER_OPTIONS, value=0.8, description="Power", style=style, layout=widgets.Layout(width="170px")
        )
        self.arms_picker = widgets.Dropdown(
            options=ARMS_OPTIONS, value=2, description="Groups", style=style, layout=widgets.Layout(width="290px")
        )
        self.from_campaign_button = widgets.Button(
            description="Use this campaign's control rate", layout=widgets.Layout(width="260px")
        )
        plan_controls = widgets.HBox([self.baseline_input, self.effect_input, self.power_picker, self.arms_picker])
        plan_controls.add_class("crmkit-filters")
        plan_controls.add_class("crmkit-plan-controls")
        self._plan_answer = widgets.HTML("")
        self._plan_table = widgets.HTML("")
        self._plan_note = widgets.HTML(
            '<p class="crmkit-note">Power is the chance that the test shows the lift when it is really there; the test '
            f"is two-sided at the {self.alpha:.0%} level, and with several treatments the level is split between their "
            "comparisons with the control (Bonferroni), so each needs more customers. The size follows from the normal "
            "approximation for two proportions (Cohen's h, statsmodels).</p>"
        )
        planning_tab = widgets.VBox(
            [
                widgets.HTML('<h3 class="crmkit-h3">How many customers does the next test need?</h3>'),
                plan_controls,
                self.from_campaign_button,
                self._plan_answer,
                self._plan_table,
                self._plan_note,
            ],
            layout=widgets.Layout(width="100%"),
        )
        planning_tab.add_class("crmkit-planning")
        self.tabs = widgets.Tab(children=[readout_tab, planning_tab], layout=widgets.Layout(width="100%"))
        self.tabs.titles = ("Readout", "Planning")
        self._footer = widgets.HTML(
            '<div class="crmkit-footer">Customers were assigned to the groups at random before the campaign, so the '
            "difference from the control group is what the contact caused. Only totals are shown; no personal data.</div>"
        )
        self.widget = widgets.VBox(
            [self._header, controls, self._filter_note, self._message_box, self.tabs, self._footer], layout=widgets.Layout(width="100%")
        )
        self.widget.add_class("crmkit-dash")
        self.widget.add_class("crmkit-campaign")
        self.campaign_picker.observe(self._on_campaign, names="value")
        self.segment_picker.observe(self._on_segment, names="value")
        for w in (self.baseline_input, self.effect_input, self.power_picker, self.arms_picker):
            w.observe(self._on_plan, names="value")
        self.from_campaign_button.on_click(lambda _b: self.plan_from_campaign())

    def _show(self, out: widgets.Output, figure) -> None:
        # Set the Output's state instead of capturing display() into it (see segment_explorer).
        out.outputs = (_plotly_output(figure),)

    def _set_message(self, text: str | None, *, kind: str = "info", code: str | None = None) -> None:
        self.message = None if text is None else text.replace("{code}", f"`{code}`" if code else "")
        self.message_kind = None if text is None else kind
        self._message_box.value = "" if text is None else message_html(text, kind=kind, code=code)

    # ------------------------------------------------------------------ choices
    @property
    def campaign_id(self) -> str | None:
        return self.campaign_picker.value

    @property
    def segment(self) -> str:
        """The segment shown, or :data:`ALL_SEGMENTS`."""
        return self.segment_picker.value

    @property
    def campaign(self) -> dict | None:
        """The chosen campaign's row of :attr:`campaigns_` as a dict."""
        if self.campaigns_ is None or self.campaign_id is None:
            return None
        return self.campaigns_.set_index("campaign_id").loc[self.campaign_id].to_dict()

    def set_campaign(self, campaign_id: str) -> "CampaignApp":
        """Choose a campaign as a person would with the picker (the segment goes back to all customers)."""
        check_choice(self.campaign_picker, campaign_id, "campaign_id")
        with quietly(self):
            self.campaign_picker.value = campaign_id
        self._select_campaign(campaign_id)
        return self

    def set_segment(self, segment) -> "CampaignApp":
        """Restrict the readout to one segment (its label), or ``"all"`` for every member."""
        check_choice(self.segment_picker, segment, "segment")
        with quietly(self):
            self.segment_picker.value = segment
        self.refresh()
        return self

    @property
    def segment_options(self) -> list:
        """The segment picker's values (``"all"`` first)."""
        return [v for _, v in self.segment_picker.options]

    def _on_campaign(self, change) -> None:
        if not self._suspend and change["new"] is not None:
            self._select_campaign(change["new"])

    def _on_segment(self, change) -> None:
        if not self._suspend and change["new"] is not None:
            self.refresh()

    def _select_campaign(self, campaign_id: str, *, keep_message: bool = False) -> None:
        """Read the campaign's members, offer its segments, then refresh."""
        t0 = time.perf_counter()
        try:
            members = self.members(campaign_id)
        except Exception as exc:  # noqa: BLE001 - shown in the page, never a traceback
            self.members_ = self.readout_ = None
            self._show_error(f"Could not read the members of campaign {campaign_id}", exc)
            self.last_refresh_seconds_ = time.perf_counter() - t0
            return
        self.members_ = members
        options = [(f"All customers ({len(members):,})", ALL_SEGMENTS)]
        self.segments_left_out_ = []
        if "segment" in members.columns:
            by = pd.crosstab(members["segment"].astype(str), members["group"].astype(str))
            readable = by.gt(0).all(axis=1) if "control" in by.columns else by.index.isin([])
            for label, row in by.assign(total=by.sum(axis=1)).sort_values("total", ascending=False).iterrows():
                if readable[label]:
                    control = int(row.get("control", 0))
                    options.append((f"{label} ({int(row['total']):,}, {control:,} in control)", label))
                else:
                    self.segments_left_out_.append(label)
        with quietly(self):
            self.segment_picker.options = options
            self.segment_picker.value = ALL_SEGMENTS
        self.segment_picker.disabled = len(options) == 1
        left = self.segments_left_out_
        self._filter_note.value = (
            f'<p class="crmkit-note crmkit-filter-note">Not offered, because the control group or a treatment has no '
            f'members there: {_esc(", ".join(left))}.</p>' if left else ""
        )
        self.refresh(keep_message=keep_message)

    # ------------------------------------------------------------------ readout
    def _pre_period_cols(self, members: pd.DataFrame) -> list[str]:
        import crmkit.campaign as cp

        return [c for c in cp.PRE_PERIOD_COLUMNS if c in members.columns]

    def refresh(self, *, keep_message: bool = False) -> None:
        """Read out the chosen campaign in the chosen segment and redraw the readout tab."""
        t0 = time.perf_counter()
        if self.members_ is None or self.campaign is None:
            self.readout_ = None
            self._draw_tiles()
            self.last_refresh_seconds_ = time.perf_counter() - t0
            return
        import crmkit.campaign as cp

        members = self.members_
        if self.segment != ALL_SEGMENTS:
            members = members[members["segment"].astype(str) == self.segment]
        cost = self.campaign.get("cost_per_contact")
        try:
            self.readout_ = cp.readout(
                members, "group", "converted", control="control", revenue_col="revenue",
                cost_per_contact=float(cost) if _ok(cost) else None, alpha=self.alpha,
                pre_period_cols=self._pre_period_cols(members), n_bootstrap=self.n_bootstrap,
                random_state=self.random_state, currency=self.currency,
            )
        except Exception as exc:  # noqa: BLE001 - shown in the page, never a traceback
            self.readout_ = None
            where = "" if self.segment == ALL_SEGMENTS else f" in segment {self.segment}"
            self._show_error(f"Could not read out campaign {self.campaign_id}{where}", exc)
            self.last_refresh_seconds_ = time.perf_counter() - t0
            return
        self.mde_ = self._minimum_detectable_effect()
        if not keep_message:
            self._set_message(None)
        self.tabs.children[0].layout.display = None
        self._results.layout.display = None
        self._tiles_box.layout.display = None
        self._draw_tiles()
        self._draw_readout()
        self.refresh_plan()  # the planning tab compares with the chosen campaign
        self.last_refresh_seconds_ = time.perf_counter() - t0

    def _minimum_detectable_effect(self) -> float | None:
        """The smallest lift (share) the smallest arm could detect against the control at 80 % power, or None."""
        import crmkit.campaign as cp

        frame = self.readout_.to_frame()
        control = frame[frame["arm"] == "control"]
        treated = frame[frame["arm"] != "control"]
        if control.empty or treated.empty or not 0 < float(control["rate"].iloc[0]) < 1:
            return None
        try:
            return float(cp.minimum_detectable_effect(
                int(treated["n"].min()), int(control["n"].iloc[0]), float(control["rate"].iloc[0]), alpha=self.alpha
            ))
        except CrmkitError:  # e.g. groups too small for the normal approximation: the note is left out
            return None

    def _show_error(self, what: str, exc: Exception) -> None:
        detail = str(exc) if isinstance(exc, CrmkitError) else f"{type(exc).__name__}: {exc}"
        self._set_message(f"{what}: {detail}", kind="error")
        self._results.layout.display = "none"
        self._draw_tiles()

    @property
    def sentence(self) -> str | None:
        """The readout's plain answer (its first sentence), as shown on the page."""
        return None if self.readout_ is None else self.readout_.sentence

    @property
    def arm_frame(self) -> pd.DataFrame | None:
        """The readout's numbers, one row per arm (:meth:`crmkit.campaign.Readout.to_frame`)."""
        return None if self.readout_ is None else self.readout_.to_frame()

    @property
    def arm_table(self) -> pd.DataFrame | None:
        """The arm table as shown on the page: text, one row per arm, control first."""
        frame = self.arm_frame
        if frame is None:
            return None
        cur = self.currency
        rows = []
        for _, r in frame.iterrows():
            is_control = r["arm"] == "control"
            row = {
                "Group": _arm_label(r["arm"]),
                "Customers": format_count(r["n"]),
                "Conversions": format_count(r["conversions"]),
                "Conversion rate": _pct(r["rate"], 2),
                "Rate interval": f"{_pct(r['rate_low'], 2)} to {_pct(r['rate_high'], 2)}",
                "Difference (points)": "control" if is_control else _points(r["diff"], 2),
                "Difference interval": "" if is_control else f"{_points(r['diff_low'], 2)} to {_points(r['diff_high'], 2)}",
                "Relative lift": "" if is_control else (
                    _signed(r["relative_lift"], f"{abs(r['relative_lift']) * 100:,.0f}") + " %" if _ok(r["relative_lift"]) else "–"
                ),
                "p-value (Holm)": "" if is_control else _p_value(r["p_value_adjusted"]),
            }
            if "revenue_per_customer" in frame.columns:
                row["Revenue per customer"] = _money(r["revenue_per_customer"], cur, 2)
                row["Revenue difference"] = "control" if is_control else _money(r["rpc_diff"], cur, 2, signed=True)
                row["Revenue interval"] = "" if is_control else (
                    f"{_money(r['rpc_diff_low'], cur, 2, signed=True)} to {_money(r['rpc_diff_high'], cur, 2, signed=True)}"
                )
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def checks(self) -> pd.DataFrame | None:
        """The readout's checks (sample ratio, pre-period balance): check, statistic, p_value, ok, message."""
        return None if self.readout_ is None else self.readout_.checks

    def _best_arm_row(self):
        frame = self.arm_frame
        if frame is None:
            return None
        treated = frame[frame["arm"] != "control"]
        if not len(treated) or not treated["diff"].notna().any():
            return None
        return treated.loc[treated["diff"].idxmax()]

    @property
    def tile_text(self) -> dict:
        """What each tile shows."""
        out = {key: "–" for key in _TILES}
        frame = self.arm_frame
        if frame is None:
            return out
        out["members"] = format_count(frame["n"].sum())
        best = self._best_arm_row()
        if best is not None:
            out["lift"] = f"{_points(best['diff'], 2)} pts"
            if "incremental_revenue" in frame.columns:
                out["revenue"] = _money(best["incremental_revenue"], self.currency, 0, signed=True)
            if "net_revenue" in frame.columns:
                out["net"] = _money(best["net_revenue"], self.currency, 0, signed=True)
        return out

    def _tile_help(self) -> dict:
        helps = {key: text for key, (_, text) in _TILES.items()}
        best = self._best_arm_row()
        if best is None:
            return helps
        arm = _arm_label(best["arm"])
        conf = f"{1 - self.alpha:.0%}"
        helps["lift"] = f"{arm} against the control; {conf} interval {_points(best['diff_low'], 2)} to {_points(best['diff_high'], 2)} points."
        if "incremental_revenue_low" in best.index:
            helps["revenue"] = (
                f"{arm}: revenue beyond what its customers would have spent anyway; {conf} bootstrap interval "
                f"{_money(best['incremental_revenue_low'], self.currency, 0, True)} to "
                f"{_money(best['incremental_revenue_high'], self.currency, 0, True)}."
            )
        if "net_revenue_low" in best.index and _ok(best.get("net_revenue")):
            helps["net"] = (
                f"{arm}: incremental revenue less {_money(best['cost'], self.currency, 0)} of contacts; {conf} interval "
                f"{_money(best['net_revenue_low'], self.currency, 0, True)} to "
                f"{_money(best['net_revenue_high'], self.currency, 0, True)}."
            )
        return helps

    def _draw_tiles(self) -> None:
        text = self.tile_text
        helps = self._tile_help() if self.readout_ is not None else {k: t for k, (_, t) in _TILES.items()}
        for key, (label, _help) in _TILES.items():
            self._tiles[key].value = tile_html(key, label, text[key], helps[key])

    def _draw_readout(self) -> None:
        r = self.readout_
        best = self._best_arm_row()
        kind = "crmkit-neutral"
        if best is not None and _ok(best["diff_low"]) and _ok(best["diff_high"]):
            kind = "" if best["diff_low"] > 0 else ("crmkit-negative" if best["diff_high"] < 0 else "crmkit-neutral")
        where = "" if self.segment == ALL_SEGMENTS else f' <span class="crmkit-note">(segment: {_esc(self.segment)})</span>'
        self._sentence.value = f'<div class="crmkit-sentence {kind}">{_esc(r.sentence)}{where}</div>'
        self._arm_table.value = self._arm_table_html()
        conf = f"{1 - self.alpha:.0%}"
        note = (
            f"Conversion rates carry a {conf} Wilson interval; differences are in percentage points against the control "
            f"with their {conf} interval; p-values are corrected for comparing several groups with the control (Holm)."
        )
        if "revenue_per_customer" in (self.arm_frame.columns if self.arm_frame is not None else []):
            note += (
                " Revenue per customer is heavy-tailed (most customers spend nothing, a few spend a lot), so its "
                f"interval comes from resampling the customers ({self.n_bootstrap:,} bootstrap draws)."
            )
        if self.mde_ is not None and _ok(self.mde_):
            note += (
                f" With these group sizes the smallest lift the test could reliably detect (80 % power) was about "
                f"{self.mde_ * 100:.1f} points."
            )
        self._arm_note.value = f'<p class="crmkit-note">{_esc(note)}</p>'
        figure = r.plot()
        for trace in figure.data:
            trace.y = [_arm_label(a) for a in trace.y]
        figure.update_traces(marker={"color": "#2563eb"}, error_x={"color": "#2563eb", "thickness": 2})
        figure.update_layout(template="plotly_white", title=None, height=110 + 50 * max(1, len(self.arm_frame) - 1),
                             margin={"l": 110, "r": 30, "t": 20, "b": 50})
        self._show(self._forest_out, figure)
        self._checks.value = self._checks_html()

    def _arm_table_html(self) -> str:
        table = self.arm_table
        frame = self.arm_frame
        has_revenue = "Revenue per customer" in table.columns
        head = ["Group", "Customers", "Conversions", "Conversion rate", "Difference vs control", "Relative lift",
                "p-value (Holm)"]
        if has_revenue:
            head += ["Revenue per customer", "Revenue difference"]
        parts = ['<table class="crmkit-table crmkit-arm-table"><thead><tr>']
        parts += [f"<th>{_esc(h)}</th>" for h in head]
        parts.append("</tr></thead><tbody>")
        for (_, t), (_, f) in zip(table.iterrows(), frame.iterrows()):
            cells = [
                _esc(t["Group"]), _esc(t["Customers"]), _esc(t["Conversions"]),
                f'{_esc(t["Conversion rate"])}<span class="crmkit-ci">{_esc(t["Rate interval"])}</span>',
                _esc(t["Difference (points)"]) + ("" if f["arm"] == "control" else f' pts<span class="crmkit-ci">{_esc(t["Difference interval"])}</span>'),
                _esc(t["Relative lift"]), _esc(t["p-value (Holm)"]),
            ]
            if has_revenue:
                cells += [
                    _esc(t["Revenue per customer"]),
                    _esc(t["Revenue difference"]) + ("" if f["arm"] == "control" else f'<span class="crmkit-ci">{_esc(t["Revenue interval"])}</span>'),
                ]
            parts.append(f'<tr data-arm="{_esc(f["arm"])}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        parts.append("</tbody></table>")
        return "".join(parts)

    @property
    def check_text(self) -> dict:
        """The checks in words, as on the page: ``{"sample ratio": (verdict, text), "balance": (verdict, text)}``.

        ``verdict`` is ``"ok"``, ``"warn"``, ``"fail"`` or ``"skipped"``. For the pre-period balance
        (:data:`crmkit.campaign.BALANCE_RULE`): ``ok`` when no comparison is flagged; ``warn`` when some
        differ by more than ``SMD_LIMIT`` standard deviations with a 95 % interval excluding 0 but no
        Welch p-value is below ``BALANCE_ALPHA``; ``fail`` when some Welch p-value is below it.
        """
        import crmkit.campaign as cp

        r = self.readout_
        if r is None:
            return {}
        out = {}
        srm = r.checks[r.checks["check"] == "sample ratio"]
        if srm.empty or srm["status"].iloc[0] == "skipped":
            out["sample ratio"] = ("skipped", "Group sizes: not checked, because the planned share of each group is not "
                                              "recorded with the campaign.")
        else:
            ok = bool(srm["ok"].iloc[0])
            out["sample ratio"] = ("ok" if ok else "fail", ("Group sizes: as planned. " if ok else
                                   "Group sizes: NOT as planned; members may have been lost or moved between groups. ")
                                   + str(srm["message"].iloc[0]))
        bal = r.balance
        if bal is None or bal.empty:
            out["balance"] = ("skipped", "Before the campaign: no pre-period measures to compare.")
            return out
        flagged = bal[~bal["ok"].astype(bool)]
        beyond = bal[bal["p_value"] < cp.BALANCE_ALPHA]
        n_measures = bal["column"].nunique()
        if flagged.empty:
            out["balance"] = ("ok", f"Before the campaign: the groups looked alike on all {n_measures} measures "
                                    f"(no gap larger than {cp.SMD_LIMIT:g} standard deviations that chance cannot explain "
                                    f"at the 95 % level, and no p-value below {cp.BALANCE_ALPHA:g}).")
        elif beyond.empty:
            names = ", ".join(sorted({_measure(c) for c in flagged["column"]}))
            out["balance"] = ("warn", f"Before the campaign: {len(flagged)} of {len(bal)} comparisons ({names}) differ by "
                                      f"more than {cp.SMD_LIMIT:g} standard deviations, a gap chance does not explain at "
                                      f"the 95 % level, though no p-value is below {cp.BALANCE_ALPHA:g}. With "
                                      f"{len(bal)} comparisons one such gap can still be chance; keep it in mind when "
                                      "reading the results.")
        else:
            names = ", ".join(sorted({_measure(c) for c in beyond["column"]}))
            out["balance"] = ("fail", f"Before the campaign: the groups differed on {names} by more than chance explains "
                                      f"(p below {cp.BALANCE_ALPHA:g}); check how members were assigned before trusting "
                                      "the comparison.")
        return out

    def _checks_html(self) -> str:
        marks = {"ok": "✔", "warn": "!", "fail": "✘", "skipped": "–"}
        items = [f'<li class="crmkit-{verdict}" data-check="{_esc(key)}">{marks[verdict]} {_esc(text)}</li>'
                 for key, (verdict, text) in self.check_text.items()]
        html_out = '<ul class="crmkit-checks">' + "".join(items) + "</ul>"
        bal = None if self.readout_ is None else self.readout_.balance
        if bal is None or bal.empty:
            return html_out
        import crmkit.campaign as cp

        arms = list(dict.fromkeys(bal["arm"]))
        parts = ['<table class="crmkit-table crmkit-balance-table"><thead><tr><th>Before the campaign</th>',
                 "<th>Control mean</th>"]
        parts += [f"<th>{_esc(_arm_label(a))}: mean · standardised difference</th>" for a in arms]
        parts.append("</tr></thead><tbody>")
        for column, rows in bal.groupby("column", sort=False):
            rows = rows.set_index("arm")
            cells = [_esc(_measure(column)), _number(rows["mean_control"].iloc[0])]
            for a in arms:
                if a not in rows.index:
                    cells.append("–")
                    continue
                row = rows.loc[a]
                css = "crmkit-bad" if row["p_value"] < cp.BALANCE_ALPHA else ("crmkit-warn" if not row["ok"] else "")
                smd = _signed(row["smd"], f"{abs(row['smd']):.2f}")
                interval = (f"{_signed(row['smd_low'], format(abs(row['smd_low']), '.2f'))} to "
                            f"{_signed(row['smd_high'], format(abs(row['smd_high']), '.2f'))}")
                p_text = _p_value(row["p_value"])
                cells.append(f'{_number(row["mean_arm"])} · <span class="{css}">{smd}</span>'
                             f'<span class="crmkit-ci">95 % CI {interval} · p {p_text if p_text.startswith("<") else "= " + p_text}</span>')
            parts.append(f'<tr data-measure="{_esc(column)}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        parts.append("</tbody></table>")
        note = (f'<p class="crmkit-note">A standardised difference is the gap between the group means in standard '
                f"deviations, shown with its 95 % interval; p is Welch's test of the gap. A gap is marked in red when p is "
                f"below {cp.BALANCE_ALPHA:g}, and in amber when it is larger than {cp.SMD_LIMIT:g} and its 95 % interval "
                f"excludes 0. In small groups gaps larger than {cp.SMD_LIMIT:g} often arise by chance; their interval then "
                "includes 0 and they are not marked.</p>")
        return html_out + "".join(parts) + note

    # ------------------------------------------------------------------ planning
    @property
    def plan_inputs(self) -> dict:
        """The planning inputs as shares: baseline_rate, effect, power, arms."""
        return {
            "baseline_rate": self.baseline_input.value / 100,
            "effect": self.effect_input.value / 100,
            "power": self.power_picker.value,
            "arms": self.arms_picker.value,
        }

    def set_plan_inputs(self, *, baseline_rate=_UNSET, effect=_UNSET, power=_UNSET, arms=_UNSET) -> "CampaignApp":
        """Change the planning inputs (shares, e.g. ``baseline_rate=0.05``, ``effect=0.01``), then recompute once."""
        new = {}
        for name, value, low, high in (("baseline_rate", baseline_rate, 0.0001, 0.99), ("effect", effect, 0.0001, 0.99)):
            if value is _UNSET:
                continue
            if not _ok(value) or not low <= float(value) <= high:
                raise ParameterError(f"{name}: expected a share between {low} and {high} (e.g. 0.05 for 5 %), found {value!r}.")
            new[self.baseline_input if name == "baseline_rate" else self.effect_input] = round(float(value) * 100, 4)
        for picker, value, name in ((self.power_picker, power, "power"), (self.arms_picker, arms, "arms")):
            if value is _UNSET:
                continue
            new[picker] = check_choice(picker, value, name)
        with quietly(self):
            for widget, value in new.items():
                widget.value = value
        self.refresh_plan()
        return self

    def plan_from_campaign(self) -> "CampaignApp":
        """Take the baseline rate from the chosen campaign's control group."""
        frame = self.arm_frame
        if frame is None or not (frame["arm"] == "control").any():
            return self
        rate = float(frame.loc[frame["arm"] == "control", "rate"].iloc[0])
        if 0 < rate < 0.99:
            self.set_plan_inputs(baseline_rate=rate, arms=int(min(max(len(frame), 2), 5)))
        return self

    @property
    def plan_context(self) -> str | None:
        """The chosen campaign's sizes against the plan: what lift it could detect (80 % power), in words."""
        frame = self.arm_frame
        if frame is None or self.mde_ is None:
            return None
        control = frame[frame["arm"] == "control"]
        treated = frame[frame["arm"] != "control"]
        where = "" if self.segment == ALL_SEGMENTS else f" (segment {self.segment})"
        return (
            f"For comparison, {self.campaign_id}{where} had {int(control['n'].iloc[0]):,} members in control and "
            f"{int(treated['n'].min()):,} in its smallest treatment group: with its control rate of "
            f"{_pct(control['rate'].iloc[0], 2)} it could reliably detect (80 % power) a lift of about "
            f"{self.mde_ * 100:.1f} points."
        )

    def _on_plan(self, change) -> None:
        if not self._suspend:
            self.refresh_plan()

    def refresh_plan(self) -> None:
        """Recompute the sample size for the planning inputs."""
        import crmkit.campaign as cp

        p = self.plan_inputs
        try:
            if p["baseline_rate"] + p["effect"] >= 1:
                raise ParameterError(
                    f"the conversion rate with the lift would be {(p['baseline_rate'] + p['effect']) * 100:.1f} %; "
                    "choose a lower rate or a smaller lift."
                )
            self.plan_ = cp.sample_size(p["baseline_rate"], p["effect"], power=p["power"], alpha=self.alpha, arms=p["arms"])
        except Exception as exc:  # noqa: BLE001 - shown in the page, never a traceback
            self.plan_ = None
            detail = str(exc) if isinstance(exc, CrmkitError) else f"{type(exc).__name__}: {exc}"
            self.plan_message = f"Could not compute the size with these inputs: {detail}"
            self._plan_answer.value = message_html(self.plan_message, kind="error")
            self._plan_table.value = ""
            return
        self.plan_message = None
        plan = self.plan_
        self._plan_answer.value = (
            f'<div class="crmkit-plan-answer">{_esc(plan.summary())}</div>'
            + (f'<p class="crmkit-note crmkit-plan-context">{_esc(self.plan_context)}</p>' if self.plan_context else "")
        )
        frame = plan.to_frame()
        self._plan_table.value = _plain_table(frame, "crmkit-plan-table")

    # ------------------------------------------------------------------ display
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        state = "error" if self.readout_ is None else f"{len(self.arm_frame)} arms"
        return f"CampaignApp(campaign_id={self.campaign_id!r}, segment={self.segment!r}, state={state!r})"


def _plain_table(frame: pd.DataFrame, css: str) -> str:
    """A small frame as an HTML table (numbers with thousands separators, shares as per cent)."""
    parts = [f'<table class="crmkit-table {css}"><thead><tr>']
    parts += [f"<th>{_esc(str(c).replace('_', ' ').capitalize())}</th>" for c in frame.columns]
    parts.append("</tr></thead><tbody>")
    for _, row in frame.iterrows():
        cells = []
        for c, v in row.items():
            if isinstance(v, float) and ("share" in str(c) or "rate" in str(c) or "power" in str(c) or "alpha" in str(c)):
                cells.append(_pct(v, 2))
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and _ok(v):
                cells.append(_plain_number(float(v), ",.0f" if float(v).is_integer() or abs(v) >= 100 else ",.3f"))
            else:
                cells.append(_esc(v))
        parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)
