"""Operational CRM: the sales pipeline and service levels.

Sales pipeline, from the ``opportunities`` table (stages are configurable; the stage
history lives in the optional columns ``<stage>_at`` and ``lost_at_stage``, see
:mod:`crmkit.schema`):

- :func:`funnel` — opportunities entering each stage, their value, stage-to-stage
  conversion with intervals (open deals are neither converted nor lost: censored);
- :func:`win_rates` — win rate by owner, lead source, a customer attribute or a segment,
  with intervals, small groups flagged and a test of whether the groups differ;
- :func:`cycle_times` — days spent in each stage, Kaplan-Meier with open deals censored;
- :func:`pipeline_velocity` — open deals × win rate × average won value ÷ cycle length,
  with a bootstrap interval;
- :class:`PipelineForecaster` — won value expected in the next days from the open
  pipeline (stage, age in stage) and from new leads, with a simulation interval;
  :func:`backtest_pipeline_forecast` compares it with what actually closed.

Service levels, from the ``tickets`` table:

- :func:`service_levels` — first response against the SLA target per priority (share
  within SLA with intervals), resolution times, backlog and its age, CSAT;
- :func:`service_churn_link` — churn of customers with and without an SLA breach
  (an association with its interval, not a causal effect).

Every result is a frozen dataclass with ``summary()``, ``to_frame()`` and ``plot()``
(a plotly figure) and says how many rows it used and why others were set aside.

>>> from crmkit.synth import demo_world
>>> data = demo_world(500, seed=0).data
>>> f = funnel(data)
>>> f.summary()["stage"].tolist()
['lead', 'qualified', 'proposal', 'negotiation']
>>> bool(f.summary()["conversion"].between(0, 1).all())
True
>>> s = service_levels(data)
>>> s.summary().loc[0, "priority"]
'low'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crmkit._intervals import check_confidence, mean_ci, newcombe_diff, product_ci, wilson
from crmkit._pipeline import (
    KaplanMeier,
    Prepared,
    check_stages,
    durations,
    opportunities_of,
    parse_as_of,
    parse_window,
    prepare,
)
from crmkit.errors import DataValidationError, ParameterError

__all__ = [
    "STAGES",
    "SLA_TARGET_HOURS",
    "FunnelResult",
    "funnel",
    "WinRateResult",
    "win_rates",
    "CycleTimeResult",
    "cycle_times",
    "VelocityResult",
    "pipeline_velocity",
    "PipelineForecaster",
    "PipelineForecastResult",
    "PipelineBacktest",
    "backtest_pipeline_forecast",
    "ServiceLevelResult",
    "service_levels",
    "ServiceChurnResult",
    "service_churn_link",
]

#: The open stages of the canonical data model, in funnel order (then ``closed_won`` / ``closed_lost``).
STAGES: tuple[str, ...] = ("lead", "qualified", "proposal", "negotiation")

#: Default first-response targets per ticket priority, in hours (pass your own ``targets=``).
SLA_TARGET_HOURS: dict[str, float] = {"low": 48.0, "medium": 24.0, "high": 8.0, "urgent": 2.0}

_BLUE, _GREY, _RED, _GREEN = "#2563eb", "#9ca3af", "#dc2626", "#16a34a"


def _layout(fig, title: str, x: str, y: str, **kw):
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0.01, "xanchor": "left"},
        xaxis_title=x,
        yaxis_title=y,
        margin={"l": 70, "r": 30, "t": 60, "b": 60},
        **kw,
    )
    return fig


def _money(value, currency: str) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{currency}{value:,.0f}" if len(currency) <= 1 else f"{value:,.0f} {currency}"


def _accounting(p: Prepared) -> dict:
    return {"rows_in": p.rows_in, "rows_used": p.rows_used, "set_aside": p.set_aside}


# ============================================================================ funnel


@dataclass(frozen=True)
class FunnelResult:
    """Opportunities through the stages, with stage-to-stage conversion and its interval.

    ``table`` has one row per stage: ``entered`` (opportunities that reached the stage),
    ``value_entered`` (their amounts; ``amount_missing`` counts those without one),
    ``open`` (still in the stage at ``as_of``), ``advanced`` (moved on; from the last
    stage: won), ``lost`` (lost from this stage), ``conversion`` = advanced ÷ (advanced +
    lost) with its ``ci_low``/``ci_high`` (Wilson), and ``reached_share``: the estimated
    share of leads that reach the stage (product of the conversions before it, delta-method
    interval). Open deals are left out of a stage's conversion until they move
    (censored), so a young pipeline does not look like a leaky one.
    """

    table: pd.DataFrame
    deals: pd.DataFrame
    stages: tuple[str, ...]
    as_of: pd.Timestamp
    confidence: float
    win_rate: float
    win_rate_ci: tuple[float, float]
    lead_to_won: float
    lead_to_won_ci: tuple[float, float]
    rows_in: int
    rows_used: int
    set_aside: pd.DataFrame
    currency: str = "£"

    def summary(self) -> pd.DataFrame:
        """One row per stage (see the class description)."""
        return self.table.copy()

    def to_frame(self) -> pd.DataFrame:
        """One row per opportunity: where it stood at ``as_of``."""
        return self.deals[["opportunity_id", "stage_at", "furthest_stage", "outcome", "amount", "days_in_stage"]].copy()

    def plot(self):
        """A funnel of opportunities entering each stage, with the conversion to the next."""
        import plotly.graph_objects as go

        t = self.table
        pct = int(round(self.confidence * 100))
        labels = [
            f"{s}<br>{c:.0%} move on ({lo:.0%}–{hi:.0%})" if np.isfinite(c) else f"{s}<br>no decided deals yet"
            for s, c, lo, hi in zip(t["stage"], t["conversion"], t["ci_low"], t["ci_high"])
        ]
        fig = go.Figure(
            go.Funnel(
                y=labels,
                x=t["entered"],
                textinfo="value",
                marker={"color": _BLUE},
                hovertemplate="%{y}<br>%{x:,} opportunities<extra></extra>",
            )
        )
        note = (
            f"Won: {self.win_rate:.0%} of closed deals ({pct}% interval {self.win_rate_ci[0]:.0%}–{self.win_rate_ci[1]:.0%})"
            if np.isfinite(self.win_rate)
            else "No closed deals yet"
        )
        return _layout(
            fig,
            f"Sales funnel: opportunities reaching each stage (as of {self.as_of:%d %b %Y})<br><sup>{note}; "
            f"stage conversion with {pct}% intervals</sup>",
            "Opportunities (count)",
            "Stage",
            height=420,
        )


def funnel(
    data,
    *,
    stages=STAGES,
    as_of=None,
    created_between=None,
    confidence: float = 0.95,
    currency: str = "£",
) -> FunnelResult:
    """Counts, values and stage-to-stage conversion of the sales pipeline.

    Parameters
    ----------
    data : CRMData or pandas.DataFrame
        The ``opportunities`` table (or a CRMData holding it): ``opportunity_id``,
        ``stage``, ``created_at``; optional ``closed_at``, ``amount``, ``<stage>_at``
        (when each later stage was entered) and ``lost_at_stage``.
    stages : sequence of str
        The open stages in funnel order (default :data:`STAGES`); the closed stages are
        ``closed_won`` and ``closed_lost``. Rows in another stage are set aside.
    as_of : date-like, optional
        The pipeline as it stood then (a date means the end of that day). Default: the
        latest time in the table. A past ``as_of`` needs the stage-history columns.
    created_between : (start, end), optional
        Only opportunities created in this window (both dates included).
    confidence : float
        Level of the intervals.

    Returns
    -------
    FunnelResult

    Examples
    --------
    >>> import pandas as pd
    >>> opps = pd.DataFrame({
    ...     "opportunity_id": ["a", "b", "c", "d"],
    ...     "stage": ["closed_won", "closed_lost", "lead", "closed_lost"],
    ...     "created_at": pd.to_datetime(["2024-01-01"] * 4),
    ...     "closed_at": pd.to_datetime(["2024-03-01", "2024-02-01", None, "2024-01-20"]),
    ...     "lost_at_stage": [None, "proposal", None, "lead"]})
    >>> funnel(opps).summary()[["stage", "entered", "advanced", "lost", "open"]]
             stage  entered  advanced  lost  open
    0         lead        4         2     1     1
    1    qualified        2         2     0     0
    2     proposal        2         1     1     0
    3  negotiation        1         1     0     0
    """
    confidence = check_confidence(confidence)
    p = prepare(data, stages, as_of, created_between=created_between)
    d = p.deals
    m = len(p.stages)
    k, outcome, amount = d["k"].to_numpy(), d["outcome"].to_numpy(), d["amount"].to_numpy(dtype=float)
    rows = []
    for i, s in enumerate(p.stages):
        entered = k >= i
        advanced = (k > i) | ((i == m - 1) & (outcome == "won"))
        lost = (k == i) & (outcome == "lost")
        open_ = (k == i) & (outcome == "open")
        n_adv, n_lost = int(advanced.sum()), int(lost.sum())
        lo, hi = wilson(n_adv, n_adv + n_lost, confidence)
        rows.append(
            {
                "stage": s,
                "entered": int(entered.sum()),
                "value_entered": float(np.nansum(amount[entered])),
                "amount_missing": int((entered & np.isnan(amount)).sum()),
                "open": int(open_.sum()),
                "open_value": float(np.nansum(amount[open_])),
                "advanced": n_adv,
                "lost": n_lost,
                "conversion": n_adv / (n_adv + n_lost) if n_adv + n_lost else np.nan,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    table = pd.DataFrame(rows)
    reach, reach_lo, reach_hi = [1.0], [1.0], [1.0]
    for i in range(1, m):
        est, lo, hi = product_ci(table["advanced"][:i], (table["advanced"] + table["lost"])[:i], confidence)
        reach.append(est)
        reach_lo.append(lo)
        reach_hi.append(hi)
    table["reached_share"] = reach
    table["reached_ci_low"] = reach_lo
    table["reached_ci_high"] = reach_hi
    l2w = product_ci(table["advanced"], table["advanced"] + table["lost"], confidence)
    won, lost_all = int((outcome == "won").sum()), int((outcome == "lost").sum())
    wr_ci = wilson(won, won + lost_all, confidence)
    deals = d.assign(furthest_stage=np.asarray(p.stages, dtype=object)[d["k"].to_numpy()])
    return FunnelResult(
        table=table,
        deals=deals,
        stages=p.stages,
        as_of=p.as_of,
        confidence=confidence,
        win_rate=won / (won + lost_all) if won + lost_all else np.nan,
        win_rate_ci=wr_ci,
        lead_to_won=l2w[0],
        lead_to_won_ci=(l2w[1], l2w[2]),
        currency=currency,
        **_accounting(p),
    )


# ============================================================================ win rates


@dataclass(frozen=True)
class WinRateResult:
    """Win rate (won ÷ closed) per group, with intervals; small groups flagged.

    ``table``: one row per group with ``closed``, ``won``, ``win_rate``, ``ci_low``,
    ``ci_high`` (Wilson), ``small_group`` (fewer than ``min_closed`` closed deals: read
    with care), ``open`` and ``open_value``. ``p_value`` tests whether the groups that
    are not small share one win rate (chi-square test of homogeneity; ``nan`` with fewer
    than two such groups).
    """

    by: str
    table: pd.DataFrame
    overall: float
    overall_ci: tuple[float, float]
    p_value: float
    min_closed: int
    confidence: float
    as_of: pd.Timestamp
    rows_in: int
    rows_used: int
    set_aside: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """One row per group, biggest first."""
        return self.table.copy()

    def to_frame(self) -> pd.DataFrame:
        return self.table.set_index("group")

    def plot(self):
        """Win rate per group with its interval; small groups in grey; the overall rate as a line."""
        import plotly.graph_objects as go

        t = self.table.iloc[::-1]
        colors = np.where(t["small_group"], _GREY, _BLUE)
        fig = go.Figure(
            go.Bar(
                x=t["win_rate"],
                y=t["group"].astype(str) + np.where(t["small_group"], " (small)", ""),
                orientation="h",
                marker_color=colors,
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (t["ci_high"] - t["win_rate"]).fillna(0),
                    "arrayminus": (t["win_rate"] - t["ci_low"]).fillna(0),
                },
                customdata=np.c_[t["closed"], t["won"]],
                hovertemplate="%{y}: %{x:.0%} of %{customdata[0]} closed deals won<extra></extra>",
            )
        )
        if np.isfinite(self.overall):
            fig.add_vline(x=self.overall, line_dash="dash", line_color=_RED, annotation_text=f"all: {self.overall:.0%}")
        pct = int(round(self.confidence * 100))
        test = f"; groups differ: p = {self.p_value:.2f}" if np.isfinite(self.p_value) else ""
        return _layout(
            fig,
            f"Win rate by {self.by} ({pct}% intervals; grey: fewer than {self.min_closed} closed deals){test}",
            "Win rate (share of closed deals won)",
            self.by.replace("_", " ").capitalize(),
            height=max(300, 60 + 36 * len(t)),
            xaxis={"tickformat": ".0%", "range": [0, 1]},
        )


def _group_labels(data, deals: pd.DataFrame, by) -> tuple[str, pd.Series]:
    if isinstance(by, pd.Series):
        name = str(by.name or "segment")
        mapping = by.copy()
        mapping.index = mapping.index.astype("string")
        return name, deals["customer_id"].map(mapping).astype("string")
    if not isinstance(by, str):
        raise ParameterError(f"by: expected a column name or a Series indexed by customer_id, found {type(by).__name__}.")
    opps = opportunities_of(data)
    if by in opps.columns:
        return by, deals[by].astype("string") if by in deals.columns else opps.set_index(
            opps["opportunity_id"].astype("string")
        )[by].reindex(deals["opportunity_id"]).astype("string").reset_index(drop=True)
    customers = None if isinstance(data, pd.DataFrame) else getattr(data, "customers", None)
    if customers is not None and by in customers.columns:
        mapping = customers.set_index(customers["customer_id"].astype("string"))[by]
        return by, deals["customer_id"].map(mapping).astype("string")
    raise DataValidationError(
        f"opportunities: no column {by!r} to group by, and no customers table holding it; "
        f"columns are {', '.join(map(str, opps.columns))}."
    )


def win_rates(
    data,
    by="owner",
    *,
    stages=STAGES,
    as_of=None,
    closed_between=None,
    min_closed: int = 30,
    confidence: float = 0.95,
    hide_owner_names: bool = True,
) -> WinRateResult:
    """Win rate per owner, lead source, customer attribute or segment.

    Parameters
    ----------
    data : CRMData or pandas.DataFrame
        The opportunities (a CRMData also lends its ``customers`` columns to ``by``).
    by : str or pandas.Series
        A column of ``opportunities`` (``"owner"``, ``"lead_source"``), a column of
        ``customers`` (``"region"``), or a Series mapping ``customer_id`` to a label
        (e.g. segments from :mod:`crmkit.segment`). Deals without a label are the group
        ``"(unknown)"``.
    closed_between : (start, end), optional
        Only deals closed in this window count as closed.
    min_closed : int
        Groups with fewer closed deals are flagged ``small_group`` and left out of the test.
    hide_owner_names : bool, default True
        Owners are employees: with ``by="owner"`` they are shown as ``Owner 1``,
        ``Owner 2`` … (most closed deals first) unless this is False.

    Examples
    --------
    >>> import pandas as pd
    >>> opps = pd.DataFrame({"opportunity_id": list("abcd"), "stage": ["closed_won", "closed_lost"] * 2,
    ...                      "created_at": pd.to_datetime(["2024-01-01"] * 4),
    ...                      "closed_at": pd.to_datetime(["2024-02-01"] * 4), "lost_at_stage": [None, "lead"] * 2,
    ...                      "lead_source": ["web", "web", "event", "event"]})
    >>> win_rates(opps, "lead_source", min_closed=1).summary()[["group", "closed", "won", "win_rate"]]
       group  closed  won  win_rate
    0  event       2    1       0.5
    1    web       2    1       0.5
    """
    from scipy import stats

    confidence = check_confidence(confidence)
    p = prepare(data, stages, as_of)
    d = p.deals
    name, labels = _group_labels(data, d, by)
    labels = labels.fillna("(unknown)")
    closed = d["outcome"].isin(["won", "lost"]).to_numpy()
    lo, hi = parse_window(closed_between, "closed_between")
    if lo is not None:
        closed &= (d["closed_at"] >= lo).fillna(False).to_numpy(dtype=bool)
    if hi is not None:
        closed &= (d["closed_at"] <= hi).fillna(False).to_numpy(dtype=bool)
    frame = pd.DataFrame(
        {
            "group": labels.to_numpy(dtype=object),
            "closed": closed.astype(int),
            "won": (closed & (d["outcome"] == "won").to_numpy()).astype(int),
            "open": (d["outcome"] == "open").to_numpy().astype(int),
            "open_value": np.where(d["outcome"] == "open", d["amount"].fillna(0.0), 0.0),
        }
    )
    t = frame.groupby("group", sort=False).sum().reset_index()
    t = t.sort_values(["closed", "group"], ascending=[False, True], kind="stable").reset_index(drop=True)
    if name == "owner" and hide_owner_names and not isinstance(by, pd.Series):
        known = t["group"] != "(unknown)"
        t.loc[known, "group"] = [f"Owner {i}" for i in range(1, int(known.sum()) + 1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        t["win_rate"] = np.where(t["closed"] > 0, t["won"] / t["closed"], np.nan)
    t["ci_low"], t["ci_high"] = wilson(t["won"].to_numpy(), t["closed"].to_numpy(), confidence)
    t["small_group"] = t["closed"] < int(min_closed)
    t = t[["group", "closed", "won", "win_rate", "ci_low", "ci_high", "small_group", "open", "open_value"]]
    big = t[~t["small_group"]]
    p_value = np.nan
    if len(big) >= 2 and big["won"].sum() > 0 and (big["closed"] - big["won"]).sum() > 0:
        table = np.c_[big["won"], big["closed"] - big["won"]]
        p_value = float(stats.chi2_contingency(table, correction=False)[1])
    n_won, n_closed = int(t["won"].sum()), int(t["closed"].sum())
    return WinRateResult(
        by=name,
        table=t,
        overall=n_won / n_closed if n_closed else np.nan,
        overall_ci=wilson(n_won, n_closed, confidence),
        p_value=p_value,
        min_closed=int(min_closed),
        confidence=confidence,
        as_of=p.as_of,
        **_accounting(p),
    )


# ============================================================================ cycle times


@dataclass(frozen=True)
class CycleTimeResult:
    """Days in each stage (and from lead to close), Kaplan-Meier with open deals censored.

    ``table``: per stage ``deals`` (entered with a known time), ``left`` (moved on, won or
    lost), ``still_open`` (censored at ``as_of``), ``median_days`` with ``ci_low`` /
    ``ci_high`` (statsmodels ``SurvfuncRight``, cloglog interval; ``nan`` where the curve
    does not reach it), ``mean_days`` (exponential estimate: days in the stage ÷ deals
    that left, which assumes a constant leaving rate) and ``unknown_entry`` (entered at a
    time not recorded: not used). The row ``lead to close`` measures creation to close.
    """

    table: pd.DataFrame
    curves: pd.DataFrame  # stage, days, survival
    spells: pd.DataFrame  # one row per opportunity and stage
    as_of: pd.Timestamp
    confidence: float
    rows_in: int
    rows_used: int
    set_aside: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def to_frame(self) -> pd.DataFrame:
        """One row per opportunity and stage: ``days`` and ``left`` (0 = still there)."""
        return self.spells.copy()

    def plot(self):
        """Share of opportunities still in each stage after so many days."""
        import plotly.graph_objects as go

        fig = go.Figure()
        for stage, g in self.curves.groupby("stage", sort=False):
            fig.add_trace(go.Scatter(x=g["days"], y=g["survival"], mode="lines", line_shape="hv", name=stage))
        return _layout(
            fig,
            "Time in each stage: share of opportunities still there (open deals censored)",
            "Days since entering the stage",
            "Share still in the stage",
            yaxis={"tickformat": ".0%", "range": [0, 1.02]},
            height=420,
        )


def _km_row(stage: str, days, event, confidence: float) -> tuple[dict, pd.DataFrame]:
    from statsmodels.duration.survfunc import SurvfuncRight

    days = np.asarray(days, dtype=float)
    event = np.asarray(event, dtype=np.int64)
    row = {
        "stage": stage,
        "deals": len(days),
        "left": int(event.sum()),
        "still_open": int(len(days) - event.sum()),
        "median_days": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "mean_days": float(days.sum() / event.sum()) if event.sum() else np.nan,
    }
    curve = pd.DataFrame({"stage": [stage], "days": [0.0], "survival": [1.0]})
    if event.sum() == 0:
        return row, curve
    alpha = 1 - confidence
    # statsmodels takes log(0) at the ends of the curve; those points are not bounds
    with np.errstate(divide="ignore", invalid="ignore"):
        sf = SurvfuncRight(days, event)
        med = sf.quantile(0.5)
        try:
            lo, hi = sf.quantile_ci(0.5, alpha=alpha)
        except (ValueError, IndexError, ZeroDivisionError):  # too few events to bound the median
            lo, hi = np.nan, np.nan
    row["median_days"] = float(med) if med is not None and np.isfinite(med) else np.nan
    row["ci_low"] = float(lo) if lo is not None and np.isfinite(lo) else np.nan
    row["ci_high"] = float(hi) if hi is not None and np.isfinite(hi) else np.nan
    curve = pd.concat(
        [curve, pd.DataFrame({"stage": stage, "days": sf.surv_times, "survival": sf.surv_prob})], ignore_index=True
    )
    return row, curve


def cycle_times(data, *, stages=STAGES, as_of=None, created_between=None, confidence: float = 0.95) -> CycleTimeResult:
    """Days spent in each stage and from lead to close; open deals are censored at ``as_of``.

    Examples
    --------
    >>> import pandas as pd
    >>> opps = pd.DataFrame({"opportunity_id": list("abc"), "stage": ["closed_lost", "closed_lost", "lead"],
    ...                      "created_at": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01"]),
    ...                      "closed_at": pd.to_datetime(["2024-01-11", "2024-01-21", None]),
    ...                      "lost_at_stage": ["lead", "lead", None]})
    >>> cycle_times(opps, stages=["lead"], as_of="2024-01-30").summary()[["stage", "deals", "left", "still_open"]]
               stage  deals  left  still_open
    0           lead      3     2           1
    1  lead to close      3     2           1
    """
    confidence = check_confidence(confidence)
    p = prepare(data, stages, as_of, created_between=created_between)
    rows, curves, spells = [], [], []
    for dur in durations(p):
        row, curve = _km_row(dur.stage, dur.days, dur.event, confidence)
        row["unknown_entry"] = dur.unknown_entry
        rows.append(row)
        curves.append(curve)
        spells.append(pd.DataFrame({"opportunity_id": dur.opportunity_id, "stage": dur.stage, "days": dur.days, "left": dur.event}))
    d = p.deals
    end = d["closed_at"].where(d["outcome"] != "open", p.as_of)
    total = ((end - d["created_at"]) / pd.Timedelta(days=1)).to_numpy(dtype=float, na_value=np.nan)
    ok = ~np.isnan(total) & (total >= 0)
    row, curve = _km_row("lead to close", total[ok], (d["outcome"] != "open").to_numpy()[ok].astype(int), confidence)
    row["unknown_entry"] = int((~ok).sum())
    rows.append(row)
    curves.append(curve)
    spells.append(
        pd.DataFrame(
            {
                "opportunity_id": d["opportunity_id"].to_numpy(dtype=object)[ok],
                "stage": "lead to close",
                "days": total[ok],
                "left": (d["outcome"] != "open").to_numpy()[ok].astype(int),
            }
        )
    )
    return CycleTimeResult(
        table=pd.DataFrame(rows),
        curves=pd.concat(curves, ignore_index=True),
        spells=pd.concat(spells, ignore_index=True),
        as_of=p.as_of,
        confidence=confidence,
        **_accounting(p),
    )


# ============================================================================ velocity


@dataclass(frozen=True)
class VelocityResult:
    """Pipeline velocity: open deals × win rate × average won value ÷ sales-cycle days.

    The value the pipeline turns into revenue per day at its current pace. Win rate,
    average won value and cycle length come from deals closed in the ``lookback_days``
    before ``as_of`` (cycle: days from creation to a win); the interval is a bootstrap
    over those deals (the count of open deals is a fact, not an estimate).
    """

    open_deals: int
    win_rate: float
    avg_won_value: float
    cycle_days: float
    velocity_per_day: float
    ci_low: float
    ci_high: float
    closed_deals: pd.DataFrame
    boot: np.ndarray
    as_of: pd.Timestamp
    lookback_days: int
    confidence: float
    currency: str
    rows_in: int
    rows_used: int
    set_aside: pd.DataFrame

    @property
    def velocity_per_month(self) -> float:
        return self.velocity_per_day * 30.4375

    def summary(self) -> pd.DataFrame:
        rows = [
            ("open deals", float(self.open_deals), np.nan, np.nan, "count"),
            ("win rate", self.win_rate, np.nan, np.nan, "share of closed deals won"),
            ("average won value", self.avg_won_value, np.nan, np.nan, self.currency),
            ("sales cycle", self.cycle_days, np.nan, np.nan, "days from creation to a win"),
            ("velocity", self.velocity_per_day, self.ci_low, self.ci_high, f"{self.currency} per day"),
            (
                "velocity per month",
                self.velocity_per_month,
                self.ci_low * 30.4375,
                self.ci_high * 30.4375,
                f"{self.currency} per month",
            ),
        ]
        return pd.DataFrame(rows, columns=["measure", "value", "ci_low", "ci_high", "unit"])

    def to_frame(self) -> pd.DataFrame:
        """The closed deals the rates come from: ``opportunity_id``, ``won``, ``amount``, ``cycle_days``."""
        return self.closed_deals.copy()

    def plot(self):
        """The bootstrap distribution of the velocity, with the interval."""
        import plotly.graph_objects as go

        fig = go.Figure(go.Histogram(x=self.boot, nbinsx=40, marker_color=_BLUE))
        for v, dash in ((self.velocity_per_day, "solid"), (self.ci_low, "dash"), (self.ci_high, "dash")):
            if np.isfinite(v):
                fig.add_vline(x=v, line_dash=dash, line_color=_RED)
        pct = int(round(self.confidence * 100))
        return _layout(
            fig,
            f"Pipeline velocity {_money(self.velocity_per_day, self.currency)} per day ({pct}% interval "
            f"{_money(self.ci_low, self.currency)}–{_money(self.ci_high, self.currency)})",
            f"Velocity ({self.currency} per day)",
            "Bootstrap samples (count)",
        )


def pipeline_velocity(
    data,
    *,
    stages=STAGES,
    as_of=None,
    lookback_days: int = 365,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state=None,
    currency: str = "£",
) -> VelocityResult:
    """Pipeline velocity with a bootstrap interval (see :class:`VelocityResult`).

    Examples
    --------
    >>> from crmkit.synth import demo_world
    >>> v = pipeline_velocity(demo_world(500, seed=0).data, n_boot=200, random_state=0)
    >>> bool(v.ci_low <= v.velocity_per_day <= v.ci_high)
    True
    """
    confidence = check_confidence(confidence)
    p = prepare(data, stages, as_of)
    d = p.deals
    since = p.as_of - pd.Timedelta(days=int(lookback_days))
    closed = d[d["outcome"].isin(["won", "lost"]) & (d["closed_at"] > since)]
    cycle = ((closed["closed_at"] - closed["created_at"]) / pd.Timedelta(days=1)).to_numpy(dtype=float, na_value=np.nan)
    won = (closed["outcome"] == "won").to_numpy()
    amount = closed["amount"].to_numpy(dtype=float)
    n_open = int((d["outcome"] == "open").sum())

    def velocity(w, a, c):
        n = len(w)
        if n == 0 or w.sum() == 0:
            return np.nan
        win = w.mean()
        value = np.nanmean(a[w]) if np.isfinite(a[w]).any() else np.nan
        days = np.nanmean(c[w])
        return n_open * win * value / days if days > 0 else np.nan

    est = velocity(won, amount, cycle)
    rng = np.random.default_rng(random_state)
    boot = np.full(int(n_boot), np.nan)
    if len(closed):
        idx = rng.integers(0, len(closed), size=(int(n_boot), len(closed)))
        for b in range(int(n_boot)):
            boot[b] = velocity(won[idx[b]], amount[idx[b]], cycle[idx[b]])
    alpha = 1 - confidence
    finite = boot[np.isfinite(boot)]
    lo, hi = (np.quantile(finite, [alpha / 2, 1 - alpha / 2]) if len(finite) else (np.nan, np.nan))
    return VelocityResult(
        open_deals=n_open,
        win_rate=float(won.mean()) if len(won) else np.nan,
        avg_won_value=float(np.nanmean(amount[won])) if won.any() else np.nan,
        cycle_days=float(np.nanmean(cycle[won])) if won.any() else np.nan,
        velocity_per_day=float(est),
        ci_low=float(lo),
        ci_high=float(hi),
        closed_deals=pd.DataFrame(
            {"opportunity_id": closed["opportunity_id"].to_numpy(), "won": won, "amount": amount, "cycle_days": cycle}
        ),
        boot=finite,
        as_of=p.as_of,
        lookback_days=int(lookback_days),
        confidence=confidence,
        currency=currency,
        **_accounting(p),
    )


# ============================================================================ pipeline forecast


@dataclass(frozen=True)
class PipelineForecastResult:
    """Won value expected between ``as_of`` and ``as_of + horizon_days``, with its interval.

    ``table``: one row per source of wins — each open stage of today's pipeline, ``new
    deals`` (leads not yet created, arriving at the recent rate) and ``total`` — with
    ``open_deals``, ``open_value``, ``expected_won_value``, ``ci_low``/``ci_high``
    (quantiles of the simulated totals) and ``expected_wins``. ``deals``: one row per open
    opportunity with its probability of being won within the horizon. ``sims``: the
    simulated total won value per run.
    """

    table: pd.DataFrame
    deals: pd.DataFrame
    sims: np.ndarray
    as_of: pd.Timestamp
    horizon_days: int
    confidence: float
    currency: str

    @property
    def expected(self) -> float:
        return float(self.table.loc[self.table["source"] == "total", "expected_won_value"].iloc[0])

    @property
    def interval(self) -> tuple[float, float]:
        row = self.table[self.table["source"] == "total"].iloc[0]
        return float(row["ci_low"]), float(row["ci_high"])

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def to_frame(self) -> pd.DataFrame:
        """One row per open opportunity: stage, days in it, amount, P(won in horizon), expected value."""
        return self.deals.copy()

    def plot(self, actual: float | None = None):
        """The simulated won value in the horizon, with the interval (and the actual, when known)."""
        import plotly.graph_objects as go

        fig = go.Figure(go.Histogram(x=self.sims, nbinsx=50, marker_color=_BLUE, name="simulated"))
        lo, hi = self.interval
        pct = int(round(self.confidence * 100))
        fig.add_vrect(x0=lo, x1=hi, fillcolor=_BLUE, opacity=0.08, line_width=0)
        fig.add_vline(x=self.expected, line_color=_BLUE, annotation_text=f"expected {_money(self.expected, self.currency)}")
        if actual is not None:
            fig.add_vline(x=actual, line_color=_RED, line_dash="dash", annotation_text=f"actual {_money(actual, self.currency)}")
        end = self.as_of + pd.Timedelta(days=self.horizon_days)
        return _layout(
            fig,
            f"Won value expected {self.as_of:%d %b %Y} – {end:%d %b %Y}: {_money(self.expected, self.currency)} "
            f"({pct}% interval {_money(lo, self.currency)}–{_money(hi, self.currency)})",
            f"Won value in the next {self.horizon_days} days ({self.currency})",
            "Simulations (count)",
        )


def _simulate_wins(sim, stage_idx, age, remaining, conv, samplers, rng):
    """Won (bool) for flat (sim, deal) pairs walking the stages from ``stage_idx``."""
    n = len(sim)
    t = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    won = np.zeros(n, dtype=bool)
    m = conv.shape[1]
    for j in range(m):
        at = alive & (stage_idx <= j)
        if not at.any():
            continue
        idx = np.flatnonzero(at)
        a = np.where(stage_idx[idx] == j, np.nan_to_num(age[idx], nan=0.0), 0.0)
        t[idx] += samplers[j].sample_residual(a, rng)
        in_time = t[idx] <= remaining[idx]
        advance = rng.random(len(idx)) < conv[sim[idx], j]
        ok = in_time & advance
        alive[idx] = ok
        if j == m - 1:
            won[idx] = ok
    return won


class PipelineForecaster:
    """Forecast of won value from the open pipeline and new leads, by simulation.

    Each open opportunity walks the remaining stages: it stays in its stage for a time
    drawn from that stage's Kaplan-Meier curve *given the days it has already spent
    there* (an exponential tail beyond the last observed exit), then moves on with the
    stage's conversion rate or is lost; it counts when it is won inside the horizon.
    Conversion rates are drawn per run from their Beta posteriors (uniform prior), so the
    interval carries their uncertainty; new leads arrive as a Poisson process at the
    rate of the last ``lookback_days`` — a log-linear trend fitted to weekly counts
    (Poisson regression, overdispersion allowed; its coefficients drawn per run from
    their sampling distribution) or, with ``arrival_trend=False`` or too few leads, a
    constant rate with a Gamma posterior — with amounts resampled from the leads of that
    period. Stage durations are taken as known (their sampling error is not
    propagated), and outcome does not depend on time in stage.

    Parameters
    ----------
    stages : sequence of str
        Open stages in funnel order.
    horizon_days : int
        Length of the forecast period in days.
    n_sims : int
        Simulation runs.
    confidence : float
        Level of the interval.
    include_new : bool
        Add wins from leads created during the horizon.
    lookback_days : int
        Window before ``as_of`` whose lead arrivals and amounts new leads follow.
    arrival_trend : bool
        Let the lead arrival rate follow its trend over the lookback window.
    random_state : int or numpy Generator, optional

    Attributes
    ----------
    as_of_ : Timestamp
    conversion_ : DataFrame
        Per stage: ``advanced``, ``lost``, ``conversion`` (what was learned by ``as_of``).
    durations_ : dict
        Per stage: the fitted :class:`crmkit._pipeline.KaplanMeier`.
    open_deals_ : DataFrame
        The open pipeline at ``as_of``.
    arrivals_ : int
        Leads created in the lookback window.
    arrival_rate_ : float
        Leads per day at ``as_of`` (on the trend, when fitted).
    arrival_growth_ : float
        Factor by which the arrival rate grows per 30 days (1.0 without a trend).

    Examples
    --------
    >>> from crmkit.synth import demo_world
    >>> data = demo_world(500, seed=0).data
    >>> fc = PipelineForecaster(horizon_days=90, n_sims=300, random_state=0).fit(data)
    >>> res = fc.predict()
    >>> lo, hi = res.interval
    >>> bool(lo <= res.expected <= hi)
    True
    """

    def __init__(
        self,
        stages=STAGES,
        *,
        horizon_days: int = 90,
        n_sims: int = 2000,
        confidence: float = 0.9,
        include_new: bool = True,
        lookback_days: int = 365,
        arrival_trend: bool = True,
        random_state=None,
    ):
        self.stages = stages
        self.horizon_days = horizon_days
        self.n_sims = n_sims
        self.confidence = confidence
        self.include_new = include_new
        self.lookback_days = lookback_days
        self.arrival_trend = arrival_trend
        self.random_state = random_state

    def get_params(self) -> dict:
        return {
            "stages": self.stages,
            "horizon_days": self.horizon_days,
            "n_sims": self.n_sims,
            "confidence": self.confidence,
            "include_new": self.include_new,
            "lookback_days": self.lookback_days,
            "arrival_trend": self.arrival_trend,
            "random_state": self.random_state,
        }

    def fit(self, data, as_of=None) -> "PipelineForecaster":
        """Learn conversion, time in stage and lead arrivals from what was known at ``as_of``."""
        check_confidence(self.confidence)
        if int(self.horizon_days) <= 0 or int(self.n_sims) <= 0:
            raise ParameterError(
                f"horizon_days and n_sims: expected positive whole numbers, found {self.horizon_days!r} and {self.n_sims!r}."
            )
        p = prepare(data, check_stages(self.stages), as_of)
        d = p.deals
        m = len(p.stages)
        k, outcome = d["k"].to_numpy(), d["outcome"].to_numpy()
        rows = []
        for i, s in enumerate(p.stages):
            adv = int(((k > i) | ((i == m - 1) & (outcome == "won"))).sum())
            lost = int(((k == i) & (outcome == "lost")).sum())
            rows.append({"stage": s, "advanced": adv, "lost": lost, "conversion": adv / (adv + lost) if adv + lost else np.nan})
        self.conversion_ = pd.DataFrame(rows)
        self.durations_ = {}
        for dur in durations(p):
            if dur.event.sum() == 0:
                raise DataValidationError(
                    f"opportunities: no opportunity had left the stage {dur.stage!r} by {p.as_of:%Y-%m-%d}, so how long "
                    "deals stay there cannot be learned; forecast from a later date or with more history."
                )
            self.durations_[dur.stage] = KaplanMeier.fit(dur.days, dur.event)
        self.open_deals_ = d.loc[
            d["outcome"] == "open", ["opportunity_id", "stage_at", "k", "days_in_stage", "amount", "created_at"]
        ].reset_index(drop=True)
        since = p.as_of - pd.Timedelta(days=int(self.lookback_days))
        recent = d[d["created_at"] > since]
        self.arrivals_ = len(recent)
        self._fit_arrivals(recent["created_at"], p.as_of)
        self.new_amounts_ = recent["amount"].dropna().to_numpy(dtype=float)
        self.as_of_ = p.as_of
        self.stages_ = p.stages
        self.rows_in_, self.rows_used_, self.set_aside_ = p.rows_in, p.rows_used, p.set_aside
        return self

    def _fit_arrivals(self, created: pd.Series, as_of: pd.Timestamp) -> None:
        """Weekly lead counts over the lookback window → log-linear Poisson trend (or a constant rate)."""
        lookback = int(self.lookback_days)
        self.arrival_coef_, self.arrival_cov_ = None, None
        self.arrival_rate_ = self.arrivals_ / lookback
        self.arrival_growth_ = 1.0
        weeks = lookback // 7
        if not self.arrival_trend or weeks < 8 or self.arrivals_ < 20:
            return
        import statsmodels.api as sm

        age_weeks = ((as_of - created) / pd.Timedelta(days=7)).to_numpy(dtype=float)
        counts = np.bincount(np.minimum(age_weeks.astype(np.int64), weeks), minlength=weeks + 1)[:weeks]
        x = -(np.arange(weeks) + 0.5)  # week midpoints, in weeks before as_of (negative)
        X = np.c_[np.ones(weeks), x]
        fit = sm.GLM(counts, X, family=sm.families.Poisson()).fit()
        scale = max(1.0, float(fit.pearson_chi2 / fit.df_resid)) if fit.df_resid > 0 else 1.0
        self.arrival_coef_ = np.asarray(fit.params, dtype=float)  # log weekly rate at as_of, slope per week
        self.arrival_cov_ = np.asarray(fit.cov_params(), dtype=float) * scale
        self.arrival_rate_ = float(np.exp(self.arrival_coef_[0]) / 7)
        self.arrival_growth_ = float(np.exp(self.arrival_coef_[1] * 30 / 7))

    def _draw_arrivals(self, S: int, h: float, rng: np.random.Generator):
        """Per run, the arrival times (days after as_of) of new leads; returns (run index, time)."""
        if self.arrival_coef_ is None:
            rate = rng.gamma(self.arrivals_, 1.0 / int(self.lookback_days), size=S)
            counts = rng.poisson(rate * h)
            sim = np.repeat(np.arange(S), counts)
            return sim, rng.random(len(sim)) * h
        coef = rng.multivariate_normal(self.arrival_coef_, self.arrival_cov_, size=S)
        a, b = coef[:, 0], coef[:, 1] / 7  # log rate per week at as_of; slope per day
        small = np.abs(b * h) < 1e-8
        bb = np.where(small, 1.0, b)
        expected = np.exp(a) / 7 * np.where(small, h, np.expm1(bb * h) / bb)
        counts = rng.poisson(expected)
        sim = np.repeat(np.arange(S), counts)
        u = rng.random(len(sim))
        bs, sm_ = bb[sim], small[sim]
        t = np.where(sm_, u * h, np.log1p(u * np.expm1(bs * h)) / bs)
        return sim, np.clip(t, 0.0, h)

    def predict(self, horizon_days: int | None = None, *, currency: str = "£") -> PipelineForecastResult:
        """Simulate won value in the next ``horizon_days`` (default: the estimator's)."""
        if not hasattr(self, "as_of_"):
            raise ParameterError("PipelineForecaster: call fit(data) before predict().")
        h = float(self.horizon_days if horizon_days is None else horizon_days)
        S = int(self.n_sims)
        rng = np.random.default_rng(self.random_state)
        conv = self.conversion_
        m = len(self.stages_)
        conv_draws = rng.beta(1 + conv["advanced"].to_numpy()[None, :], 1 + conv["lost"].to_numpy()[None, :], size=(S, m))
        samplers = [self.durations_[s] for s in self.stages_]
        od = self.open_deals_
        n = len(od)
        amount = od["amount"].fillna(0.0).to_numpy(dtype=float)
        if n:
            sim = np.repeat(np.arange(S), n)
            won = _simulate_wins(
                sim,
                np.tile(od["k"].to_numpy(), S),
                np.tile(od["days_in_stage"].to_numpy(dtype=float), S),
                np.full(S * n, h),
                conv_draws,
                samplers,
                rng,
            ).reshape(S, n)
        else:
            won = np.zeros((S, 0), dtype=bool)
        by_deal_value = won * amount[None, :]
        new_total = np.zeros(S)
        new_wins = np.zeros(S)
        if self.include_new and self.arrivals_ > 0 and len(self.new_amounts_):
            sim, arrive = self._draw_arrivals(S, h, rng)
            amt = self.new_amounts_[rng.integers(0, len(self.new_amounts_), len(sim))]
            # A new lead is won in time when it passes every stage (the run's conversion
            # rates) and its stage times add up to less than what is left of the horizon;
            # the two are independent in this model, so P(win) = Π p_j · F(time left), with
            # F the distribution of the total time, simulated once: the same as walking
            # each of (often millions of) leads through the stages, at a fraction of the cost.
            total_time = np.sort(sum(sampler.sample_residual(np.zeros(100_000), rng) for sampler in samplers))
            grid = np.linspace(0.0, h, 2001)
            cdf = np.searchsorted(total_time, grid, side="right") / len(total_time)
            in_time = np.interp(h - arrive, grid, cdf)
            w = rng.random(len(sim)) < conv_draws.prod(axis=1)[sim] * in_time
            new_total = np.bincount(sim, weights=amt * w, minlength=S)
            new_wins = np.bincount(sim, weights=w, minlength=S)
        total = by_deal_value.sum(axis=1) + new_total
        alpha = 1 - float(self.confidence)

        def row(source, values, wins, open_deals, open_value):
            lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
            return {
                "source": source,
                "open_deals": open_deals,
                "open_value": open_value,
                "expected_won_value": float(values.mean()),
                "ci_low": float(lo),
                "ci_high": float(hi),
                "expected_wins": float(wins.mean()),
            }

        rows = []
        k = od["k"].to_numpy()
        for i, s in enumerate(self.stages_):
            sel = k == i
            rows.append(row(s, by_deal_value[:, sel].sum(axis=1), won[:, sel].sum(axis=1), int(sel.sum()), float(amount[sel].sum())))
        rows.append(row("new deals", new_total, new_wins, 0, 0.0))
        rows.append(row("total", total, won.sum(axis=1) + new_wins, n, float(amount.sum())))
        deals = od[["opportunity_id", "stage_at", "days_in_stage", "amount"]].copy()
        deals["p_won_in_horizon"] = won.mean(axis=0) if n else np.array([])
        deals["expected_value"] = deals["p_won_in_horizon"] * deals["amount"].fillna(0.0)
        return PipelineForecastResult(
            table=pd.DataFrame(rows),
            deals=deals,
            sims=total,
            as_of=self.as_of_,
            horizon_days=int(h),
            confidence=float(self.confidence),
            currency=currency,
        )


@dataclass(frozen=True)
class PipelineBacktest:
    """Forecasts made at past cut-offs against the won value that actually closed after them.

    ``table``: per cut-off the forecast (``expected``, ``ci_low``, ``ci_high``), the
    ``actual`` won value closed in (cut-off, cut-off + horizon] — from deals open at the
    cut-off and, when new deals are forecast, from deals created after it — ``inside``
    (actual within the interval) and ``error`` (expected − actual). Each forecast saw only
    what was recorded by its cut-off.
    """

    table: pd.DataFrame
    horizon_days: int
    confidence: float
    currency: str

    @property
    def coverage(self) -> float:
        return float(self.table["inside"].mean()) if len(self.table) else np.nan

    @property
    def mape(self) -> float:
        t = self.table[self.table["actual"] > 0]
        return float((t["error"].abs() / t["actual"]).mean()) if len(t) else np.nan

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def to_frame(self) -> pd.DataFrame:
        return self.table.set_index("cutoff")

    def plot(self):
        """Forecast with its interval and the actual, per cut-off."""
        import plotly.graph_objects as go

        t = self.table
        fig = go.Figure()
        fig.add_trace(
            go.Scatter(
                x=t["cutoff"],
                y=t["expected"],
                mode="markers",
                name="forecast",
                marker={"color": _BLUE, "size": 10},
                error_y={"type": "data", "symmetric": False, "array": t["ci_high"] - t["expected"], "arrayminus": t["expected"] - t["ci_low"]},
            )
        )
        fig.add_trace(go.Scatter(x=t["cutoff"], y=t["actual"], mode="markers", name="actual", marker={"color": _RED, "size": 10, "symbol": "x"}))
        pct = int(round(self.confidence * 100))
        return _layout(
            fig,
            f"Pipeline forecast back-test: won value in the {self.horizon_days} days after each cut-off "
            f"({pct}% intervals; {self.coverage:.0%} of actuals inside)",
            "Forecast made on",
            f"Won value ({self.currency})",
        )


def backtest_pipeline_forecast(
    data, cutoffs=4, *, forecaster: PipelineForecaster | None = None, as_of=None, currency: str = "£"
) -> PipelineBacktest:
    """Forecast at each past cut-off with only what was known then, and compare with what closed.

    ``cutoffs`` is a list of dates, or a number ``n``: the ``n`` cut-offs spaced one
    horizon apart whose horizons end by ``as_of`` (default: the latest time in the table),
    so that every actual is fully observed.

    Examples
    --------
    >>> from crmkit.synth import demo_world
    >>> data = demo_world(500, seed=0).data
    >>> bt = backtest_pipeline_forecast(data, 1, forecaster=PipelineForecaster(n_sims=200, random_state=0))
    >>> list(bt.summary().columns)[:4]
    ['cutoff', 'expected', 'ci_low', 'ci_high']
    """
    forecaster = forecaster or PipelineForecaster()
    params = forecaster.get_params()
    stages = check_stages(params["stages"])
    whole = prepare(data, stages, as_of)
    full = whole.deals
    horizon = pd.Timedelta(days=int(params["horizon_days"]))
    if isinstance(cutoffs, (int, np.integer)) and not isinstance(cutoffs, bool):
        last = whole.as_of.normalize() - pd.Timedelta(1, "ns")  # end of the day before: whole days
        cutoffs = [last - horizon * (i + 1) for i in reversed(range(int(cutoffs)))]
    rows = []
    for cutoff in cutoffs:
        fc = PipelineForecaster(**params).fit(data, as_of=cutoff)
        res = fc.predict()
        start = fc.as_of_
        end = start + pd.Timedelta(days=int(params["horizon_days"]))
        won = full[(full["outcome"] == "won") & (full["closed_at"] > start) & (full["closed_at"] <= end)]
        from_open = won["opportunity_id"].isin(fc.open_deals_["opportunity_id"])
        from_new = won["created_at"] > start
        actual_open = float(won.loc[from_open, "amount"].sum())
        actual_new = float(won.loc[from_new, "amount"].sum())
        actual = actual_open + (actual_new if params["include_new"] else 0.0)
        lo, hi = res.interval
        rows.append(
            {
                "cutoff": start.normalize(),
                "expected": res.expected,
                "ci_low": lo,
                "ci_high": hi,
                "actual": actual,
                "actual_from_open": actual_open,
                "actual_from_new": actual_new,
                "inside": bool(lo <= actual <= hi),
                "error": res.expected - actual,
                "open_deals": len(fc.open_deals_),
            }
        )
    return PipelineBacktest(
        table=pd.DataFrame(rows), horizon_days=int(params["horizon_days"]), confidence=float(params["confidence"]), currency=currency
    )


# ============================================================================ service levels


def _tickets_of(data) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    table = getattr(data, "tickets", None)
    if table is None:
        raise DataValidationError("tickets: the table is required for service levels but is missing from the data.")
    return table


def _check_targets(targets) -> dict[str, float]:
    try:
        out = {str(k): float(v) for k, v in dict(targets).items()}
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"targets: expected {{priority: hours}}, found {targets!r}.") from exc
    bad = {k: v for k, v in out.items() if not v > 0}
    if bad:
        raise ParameterError(f"targets: expected hours > 0 per priority, found {bad}.")
    return out


@dataclass(frozen=True)
class ServiceLevelResult:
    """Service levels for tickets opened in a period, at ``as_of``.

    ``table``: per priority (and ``all``) the ``target_hours``, ``tickets``, ``within_sla``
    (first response within target), ``breached`` (responded late, or no response and
    already past target), ``pending`` (no response yet, still within target: not
    counted), ``share_within_sla`` with ``ci_low``/``ci_high`` (Wilson),
    ``median_response_hours``, ``median_resolution_hours`` (Kaplan-Meier, open tickets
    censored) with its interval. ``backlog``: open tickets at ``as_of`` by priority and
    age. ``csat``: count per score 1–5. ``csat_summary``: mean score and share of 4–5 with
    intervals, overall and by whether the SLA was met.
    """

    table: pd.DataFrame
    backlog: pd.DataFrame
    csat: pd.DataFrame
    csat_summary: pd.DataFrame
    tickets: pd.DataFrame
    as_of: pd.Timestamp
    confidence: float
    rows_in: int
    rows_used: int
    set_aside: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def to_frame(self) -> pd.DataFrame:
        """One row per ticket: priority, response and resolution hours, SLA status, csat."""
        return self.tickets.copy()

    def plot(self):
        """Share of tickets answered within the SLA target, per priority, with intervals."""
        import plotly.graph_objects as go

        t = self.table[self.table["priority"] != "all"]
        labels = [f"{p} (≤ {h:g} h)" if np.isfinite(h) else str(p) for p, h in zip(t["priority"], t["target_hours"])]
        fig = go.Figure(
            go.Bar(
                x=labels,
                y=t["share_within_sla"],
                marker_color=_BLUE,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (t["ci_high"] - t["share_within_sla"]).fillna(0),
                    "arrayminus": (t["share_within_sla"] - t["ci_low"]).fillna(0),
                },
                customdata=np.c_[t["within_sla"], t["within_sla"] + t["breached"]],
                hovertemplate="%{x}: %{y:.0%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
            )
        )
        pct = int(round(self.confidence * 100))
        return _layout(
            fig,
            f"First response within the SLA target, by priority ({pct}% intervals)",
            "Priority (first-response target)",
            "Share of tickets within SLA",
            yaxis={"tickformat": ".0%", "range": [0, 1.05]},
        )

    def plot_backlog(self):
        """Open tickets at ``as_of`` by age, stacked by priority."""
        import plotly.graph_objects as go

        b = self.backlog
        fig = go.Figure()
        for prio, g in b.groupby("priority", sort=False):
            fig.add_trace(go.Bar(x=g["age"], y=g["tickets"], name=str(prio)))
        total = int(b["tickets"].sum())
        if total == 0:
            fig.add_annotation(text=f"No ticket was open on {self.as_of:%d %b %Y}", showarrow=False, xref="paper", yref="paper",
                               x=0.5, y=0.5, font={"size": 16, "color": "#6b7280"})
            fig.update_yaxes(range=[0, 1], dtick=1)
        return _layout(
            fig, f"Open tickets on {self.as_of:%d %b %Y} by age ({total:,} open)", "Age of the ticket", "Open tickets (count)",
            barmode="stack",
        )

    def plot_csat(self):
        """How customers rated their tickets (1 = very unhappy, 5 = very happy)."""
        import plotly.graph_objects as go

        c = self.csat
        fig = go.Figure(go.Bar(x=c["score"].astype(str), y=c["share"], marker_color=_BLUE, customdata=c["tickets"],
                               hovertemplate="score %{x}: %{y:.0%} (%{customdata} tickets)<extra></extra>"))
        return _layout(fig, "Customer satisfaction (CSAT) of rated tickets", "Score (1–5)", "Share of rated tickets",
                       yaxis={"tickformat": ".0%"})


_AGE_BUCKETS = [(0, 1, "under 1 day"), (1, 3, "1–3 days"), (3, 7, "3–7 days"), (7, 30, "7–30 days"), (30, np.inf, "over 30 days")]


def service_levels(
    data,
    *,
    targets=None,
    as_of=None,
    opened_between=None,
    confidence: float = 0.95,
) -> ServiceLevelResult:
    """First response against SLA targets, resolution times, backlog and CSAT.

    Parameters
    ----------
    data : CRMData or pandas.DataFrame
        The ``tickets`` table: ``ticket_id``, ``opened_at``; optional
        ``first_response_at``, ``resolved_at``, ``priority``, ``csat``.
    targets : dict, optional
        First-response target in hours per priority; default :data:`SLA_TARGET_HOURS`.
        Tickets whose priority has no target are counted but get no SLA share.
    as_of : date-like, optional
        What was known then (a date means the end of the day); default: the latest time
        in the table.
    opened_between : (start, end), optional
        Tickets opened in this window (the backlog always counts every open ticket).

    Examples
    --------
    >>> import pandas as pd
    >>> tk = pd.DataFrame({"ticket_id": ["1", "2", "3"], "priority": ["high"] * 3,
    ...                    "opened_at": pd.to_datetime(["2024-01-01 09:00"] * 3),
    ...                    "first_response_at": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 20:00", None])})
    >>> r = service_levels(tk, as_of="2024-01-05")
    >>> r.summary()[["priority", "within_sla", "breached", "share_within_sla"]].head(1)
      priority  within_sla  breached  share_within_sla
    0     high           1         2          0.333333
    """
    confidence = check_confidence(confidence)
    targets = _check_targets(SLA_TARGET_HOURS if targets is None else targets)
    tk = _tickets_of(data)
    _require_tickets(tk)
    tk = tk.reset_index(drop=True)
    n_in = len(tk)
    opened = tk["opened_at"]
    resp = tk["first_response_at"] if "first_response_at" in tk.columns else pd.Series(pd.NaT, index=tk.index, dtype="datetime64[ns]")
    resolved = tk["resolved_at"] if "resolved_at" in tk.columns else pd.Series(pd.NaT, index=tk.index, dtype="datetime64[ns]")
    latest = max((s.max() for s in (opened, resp, resolved) if s.notna().any()), default=pd.NaT)
    as_of_ts = parse_as_of(as_of) or (latest if latest is not pd.NaT else pd.Timestamp.now().floor("s"))
    reasons = pd.Series(pd.NA, index=tk.index, dtype="string")

    def flag(mask, text):
        nonlocal reasons
        reasons = reasons.mask(pd.Series(np.asarray(mask, dtype=bool), index=tk.index) & reasons.isna(), text)

    flag(opened.isna(), "opened_at missing")
    flag(opened > as_of_ts, "opened after as_of")
    lo, hi = parse_window(opened_between, "opened_between")
    if lo is not None:
        flag(opened < lo, "opened before the period")
    if hi is not None:
        flag(opened > hi, "opened after the period")
    flag((resp < opened).fillna(False), "first_response_at before opened_at")
    flag((resolved < opened).fillna(False), "resolved_at before opened_at")
    in_scope = reasons.isna().to_numpy()

    # the backlog: every ticket open at as_of, whatever the period
    valid_open = (opened <= as_of_ts) & ~(resolved < opened).fillna(False)
    is_open = valid_open & (resolved.isna() | (resolved > as_of_ts))
    backlog_age = ((as_of_ts - opened[is_open]) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    prio_all = tk["priority"].astype("string").fillna("(none)") if "priority" in tk.columns else pd.Series("(none)", index=tk.index)
    b = pd.DataFrame({"priority": prio_all[is_open].to_numpy(dtype=object), "age_days": backlog_age})
    b_rows = []
    order = [p for p in targets if p in set(prio_all)] + sorted(set(prio_all) - set(targets))
    for prio in order:
        g = b[b["priority"] == prio]
        for a0, a1, label in _AGE_BUCKETS:
            b_rows.append({"priority": prio, "age": label, "tickets": int(((g["age_days"] >= a0) & (g["age_days"] < a1)).sum())})
    backlog = pd.DataFrame(b_rows, columns=["priority", "age", "tickets"])

    t = tk[in_scope]
    prio = prio_all[in_scope]
    o, r, s = opened[in_scope], resp[in_scope], resolved[in_scope]
    responded = r.notna() & (r <= as_of_ts)
    resp_h = ((r - o) / pd.Timedelta(hours=1)).where(responded)
    age_h = (as_of_ts - o) / pd.Timedelta(hours=1)
    target = prio.map(targets).astype("float64")
    has_target = target.notna()
    within = has_target & responded & (resp_h <= target)
    breached = has_target & ((responded & (resp_h > target)) | (~responded & (age_h > target)))
    pending = has_target & ~responded & (age_h <= target)
    res_done = s.notna() & (s <= as_of_ts)
    res_h = ((s.where(res_done, as_of_ts) - o) / pd.Timedelta(hours=1)).to_numpy(dtype=float)
    status = np.select([within.to_numpy(bool), breached.to_numpy(bool), pending.to_numpy(bool)], ["within", "breached", "pending"], "no target")
    csat = pd.to_numeric(t["csat"], errors="coerce").astype("float64") if "csat" in t.columns else pd.Series(np.nan, index=t.index)
    per_ticket = pd.DataFrame(
        {
            "ticket_id": t["ticket_id"].astype("string").to_numpy(),
            "customer_id": t["customer_id"].astype("string").to_numpy() if "customer_id" in t.columns else pd.NA,
            "priority": prio.to_numpy(dtype=object),
            "target_hours": target.to_numpy(),
            "response_hours": resp_h.to_numpy(dtype=float, na_value=np.nan),
            "sla": status,
            "resolution_hours": res_h,
            "resolved": res_done.to_numpy(bool),
            "csat": csat.to_numpy(),
        }
    )

    rows = []
    for key in order + ["all"]:
        g = per_ticket if key == "all" else per_ticket[per_ticket["priority"] == key]
        n_w, n_b, n_p = int((g["sla"] == "within").sum()), int((g["sla"] == "breached").sum()), int((g["sla"] == "pending").sum())
        ci = wilson(n_w, n_w + n_b, confidence)
        km, _ = _km_row(str(key), g["resolution_hours"].to_numpy(), g["resolved"].to_numpy().astype(int), confidence)
        rows.append(
            {
                "priority": key,
                "target_hours": targets.get(key, np.nan) if key != "all" else np.nan,
                "tickets": len(g),
                "within_sla": n_w,
                "breached": n_b,
                "pending": n_p,
                "share_within_sla": n_w / (n_w + n_b) if n_w + n_b else np.nan,
                "ci_low": ci[0],
                "ci_high": ci[1],
                "median_response_hours": float(g["response_hours"].median()) if g["response_hours"].notna().any() else np.nan,
                "median_resolution_hours": km["median_days"],
                "resolution_ci_low": km["ci_low"],
                "resolution_ci_high": km["ci_high"],
                "open": int((~g["resolved"]).sum()),
            }
        )
    table = pd.DataFrame(rows)

    rated = per_ticket["csat"].dropna()
    counts = rated.round().astype(int).value_counts().reindex(range(1, 6), fill_value=0)
    csat_table = pd.DataFrame({"score": range(1, 6), "tickets": counts.to_numpy(), "share": counts.to_numpy() / max(len(rated), 1)})
    cs_rows = []
    for group, sel in (("all", per_ticket["csat"].notna()), ("SLA met", (per_ticket["sla"] == "within") & per_ticket["csat"].notna()),
                       ("SLA breached", (per_ticket["sla"] == "breached") & per_ticket["csat"].notna())):
        v = per_ticket.loc[sel, "csat"].to_numpy(dtype=float)
        mean, mlo, mhi = mean_ci(v, confidence)
        sat = int((v >= 4).sum())
        slo, shi = wilson(sat, len(v), confidence)
        cs_rows.append({"group": group, "rated": len(v), "mean_csat": mean, "mean_ci_low": mlo, "mean_ci_high": mhi,
                        "share_satisfied": sat / len(v) if len(v) else np.nan, "satisfied_ci_low": slo, "satisfied_ci_high": shi})
    return ServiceLevelResult(
        table=table,
        backlog=backlog,
        csat=csat_table,
        csat_summary=pd.DataFrame(cs_rows),
        tickets=per_ticket,
        as_of=as_of_ts,
        confidence=confidence,
        rows_in=n_in,
        rows_used=int(in_scope.sum()),
        set_aside=_reasons_frame(reasons),
    )


def _reasons_frame(reasons: pd.Series) -> pd.DataFrame:
    r = reasons.dropna()
    counts = r.value_counts(sort=False)
    return pd.DataFrame({"reason": counts.index.astype(str), "rows": counts.to_numpy(dtype="int64")})


def _require_tickets(tk: pd.DataFrame) -> None:
    missing = [c for c in ("ticket_id", "opened_at") if c not in tk.columns]
    if missing:
        raise DataValidationError(f"tickets: expected column{'s' if len(missing) > 1 else ''} {', '.join(missing)}, "
                                  f"found only {', '.join(map(str, tk.columns))}.")
    for c in ("opened_at", "first_response_at", "resolved_at"):
        if c in tk.columns and not pd.api.types.is_datetime64_any_dtype(tk[c]):
            raise DataValidationError(f"tickets.{c}: expected dates (datetime64), found dtype {tk[c].dtype}; "
                                      "load the table with crmkit.io.load.")


# ============================================================================ service and churn


_CAUTION = (
    "This is an association, not a cause: customers who meet a breach differ in other ways (they open more "
    "tickets, buy differently), so the difference is not what fixing response times would earn."
)


@dataclass(frozen=True)
class ServiceChurnResult:
    """Churn of customers whose tickets missed the SLA against those whose did not.

    Customers with a ticket opened at least ``churn_days`` before ``as_of``; a customer
    *breached* when any such ticket got its first response later than the target (or
    none); *churned* when their last order lies ``churn_days`` or more days before the
    ``as_of`` day (``days_since_last_order`` of :func:`crmkit.features.customer_features`),
    or they have none. ``table``: per group ``customers``, ``churned``, ``churn_rate`` and its
    interval (Wilson); ``difference`` (breached − not breached) with a Newcombe interval
    and ``risk_ratio``. ``caution`` says why this is not a causal effect.
    """

    table: pd.DataFrame
    difference: float
    difference_ci: tuple[float, float]
    risk_ratio: float
    customers: pd.DataFrame
    as_of: pd.Timestamp
    churn_days: int
    confidence: float
    caution: str = field(default=_CAUTION)

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def to_frame(self) -> pd.DataFrame:
        """One row per customer: ``breached`` and ``churned`` (ids only)."""
        return self.customers.copy()

    def plot(self):
        import plotly.graph_objects as go

        t = self.table
        fig = go.Figure(
            go.Bar(
                x=t["group"],
                y=t["churn_rate"],
                marker_color=[_GREEN, _RED][: len(t)],
                error_y={"type": "data", "symmetric": False, "array": t["ci_high"] - t["churn_rate"], "arrayminus": t["churn_rate"] - t["ci_low"]},
                customdata=np.c_[t["churned"], t["customers"]],
                hovertemplate="%{x}: %{y:.0%} churned (%{customdata[0]} of %{customdata[1]})<extra></extra>",
            )
        )
        pct = int(round(self.confidence * 100))
        lo, hi = self.difference_ci
        return _layout(
            fig,
            f"Churn after a missed SLA: {self.difference:+.1%} points ({pct}% interval {lo:+.1%} to {hi:+.1%}); "
            "an association, not a cause",
            "Customers with tickets",
            f"Churned (no order in the last {self.churn_days} days)",
            yaxis={"tickformat": ".0%"},
        )


def service_churn_link(
    data, *, targets=None, as_of=None, churn_days: int = 180, confidence: float = 0.95
) -> ServiceChurnResult:
    """Churn rate of customers with versus without an SLA breach (see :class:`ServiceChurnResult`).

    ``data`` is a CRMData with ``customers``, ``transactions`` and ``tickets``.

    Examples
    --------
    >>> from crmkit.synth import demo_world
    >>> link = service_churn_link(demo_world(500, seed=0).data)
    >>> link.summary()["group"].tolist()
    ['no SLA breach', 'SLA breach']
    """
    confidence = check_confidence(confidence)
    targets = _check_targets(SLA_TARGET_HOURS if targets is None else targets)
    if isinstance(data, pd.DataFrame):
        raise DataValidationError("service_churn_link: expected a CRMData with customers, transactions and tickets, found one table.")
    for table in ("customers", "transactions"):
        if getattr(data, table, None) is None:
            raise DataValidationError(f"{table}: the table is required to tell who churned but is missing from the data.")
    tx = data.transactions
    for c in ("customer_id", "ordered_at"):
        if c not in tx.columns:
            raise DataValidationError(f"transactions: expected column {c}, found only {', '.join(map(str, tx.columns))}.")
    tk = _tickets_of(data)
    _require_tickets(tk)
    if "customer_id" not in tk.columns:
        raise DataValidationError("tickets: expected column customer_id to link tickets to customers.")
    as_of_ts = parse_as_of(as_of) or max(tx["ordered_at"].max(), tk["opened_at"].max())
    cutoff = as_of_ts - pd.Timedelta(days=int(churn_days))
    sl = service_levels(tk, targets=targets, as_of=as_of_ts, opened_between=(None, cutoff), confidence=confidence)
    per = sl.tickets[sl.tickets["sla"].isin(["within", "breached"])]
    cust = per.groupby("customer_id")["sla"].agg(lambda s: bool((s == "breached").any())).rename("breached").to_frame()
    # days since the last order, from the shared customer table (crmkit.features); none on record counts as churned
    from crmkit.features import customer_features

    days = customer_features(data, as_of=as_of_ts.date())["days_since_last_order"]
    days.index = days.index.astype("string")
    cust["churned"] = (days.reindex(cust.index) >= int(churn_days)) | days.reindex(cust.index).isna()
    rows = []
    for label, sel in (("no SLA breach", ~cust["breached"]), ("SLA breach", cust["breached"])):
        n, x = int(sel.sum()), int(cust.loc[sel, "churned"].sum())
        lo, hi = wilson(x, n, confidence)
        rows.append({"group": label, "customers": n, "churned": x, "churn_rate": x / n if n else np.nan, "ci_low": lo, "ci_high": hi})
    table = pd.DataFrame(rows)
    (n0, x0), (n1, x1) = table[["customers", "churned"]].to_numpy()
    diff = (x1 / n1 - x0 / n0) if n0 and n1 else np.nan
    return ServiceChurnResult(
        table=table,
        difference=float(diff),
        difference_ci=newcombe_diff(x1, n1, x0, n0, confidence),
        risk_ratio=float((x1 / n1) / (x0 / n0)) if n0 and n1 and x0 else np.nan,
        customers=cust.reset_index(),
        as_of=as_of_ts,
        churn_days=int(churn_days),
        confidence=confidence,
    )
