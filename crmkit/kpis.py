"""Business KPIs over time: customer base, active customers, revenue, new vs returning,
retention by cohort, and monthly forecasts.

These are the numbers of the ``customer_overview`` and ``operations`` reports and of the
``overview`` and ``executive`` dashboards. A customer is *active* in a month when they
ordered in it; *new* in the month of their first order ever (over the whole history, not
only the filtered window), *returning* otherwise.

- :func:`monthly_kpis`, :func:`kpi_summary` — KPIs per month and for one window;
- :func:`kpi_table` — the KPI table for a period against a comparison period, with the
  change and, where the KPI is an average or a rate, an interval for the change;
- :func:`reporting_periods` — a period and its comparison from dates or defaults;
- :func:`cohort_retention` — the cohort retention matrix (heatmap);
- :func:`forecast_kpi` — a monthly KPI forecast (exponential smoothing, seasonality
  detected) with prediction intervals and a back-test error (MAPE) on held-out months.

>>> import pandas as pd
>>> from crmkit.schema import CRMData
>>> data = CRMData(
...     customers=pd.DataFrame({"customer_id": ["a", "b"], "created_at": pd.to_datetime(["2024-01-01", "2024-02-01"]),
...                             "region": ["North", "South"]}),
...     transactions=pd.DataFrame({"order_id": ["1", "2", "3"], "customer_id": ["a", "a", "b"],
...                                "ordered_at": pd.to_datetime(["2024-01-05", "2024-02-03", "2024-02-09"]),
...                                "amount": [10.0, 20.0, 5.0]}))
>>> monthly_kpis(data)[["active_customers", "new_customers", "revenue"]]
            active_customers  new_customers  revenue
month
2024-01-01                 1              1     10.0
2024-02-01                 2              1     25.0
>>> kpi_summary(data, regions=["North"])["revenue"]
30.0
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit._forecast import ForecastResult, MonthlyForecaster
from crmkit._intervals import check_confidence, newcombe_diff, welch_diff
from crmkit.errors import DataValidationError, ParameterError
from crmkit.schema import CRMData

__all__ = [
    "monthly_kpis",
    "kpi_summary",
    "KPI_LABELS",
    "Period",
    "reporting_periods",
    "KPITable",
    "kpi_table",
    "CohortRetention",
    "cohort_retention",
    "MonthlyForecaster",
    "ForecastResult",
    "forecast_kpi",
    "FORECAST_KPIS",
]

KPI_LABELS = {
    "customers": ("Customers", "customers in the customer base at the end of the period"),
    "active_customers": ("Active customers", "customers who ordered at least once in the period"),
    "orders": ("Orders", "distinct orders in the period"),
    "revenue": ("Revenue", "sum of order amounts in the period"),
    "avg_order_value": ("Average order value", "revenue divided by orders"),
    "revenue_per_active_customer": ("Revenue per active customer", "revenue divided by active customers"),
}


def _require(data: CRMData, table: str, columns: list[str]) -> pd.DataFrame:
    df = getattr(data, table)
    if df is None:
        raise DataValidationError(f"{table}: the table is required for KPIs but is missing from the data.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"{table}: expected columns {', '.join(missing)}, found only {', '.join(map(str, df.columns))}."
        )
    return df


def _normalise_regions(regions: str | Iterable[str] | None) -> list[str] | None:
    if regions is None:
        return None
    if isinstance(regions, str):
        return None if regions in ("", "All", "All regions") else [regions]
    regions = list(regions)
    return regions or None


def _orders(data: CRMData, regions, *, with_months: bool = False) -> pd.DataFrame:
    """Transactions of the customers in ``regions``; with ``month`` and ``first_month``
    (the customer's first-ever order month, over the whole history) when asked."""
    tx = _require(data, "transactions", ["customer_id", "ordered_at", "amount"])
    cols = ["customer_id", "ordered_at", "amount"] + (["order_id"] if "order_id" in tx.columns else [])
    tx = tx[cols]
    regions = _normalise_regions(regions)
    if regions is not None:
        cust = _require(data, "customers", ["customer_id", "region"])
        ids = cust.loc[cust["region"].isin(regions), "customer_id"]
        tx = tx[tx["customer_id"].isin(ids)]
    if with_months:
        # a region holds whole customers, so the first order is the same before or after filtering
        first = tx.groupby("customer_id", observed=True)["ordered_at"].transform("min")
        tx = tx.assign(
            month=tx["ordered_at"].dt.to_period("M").dt.to_timestamp(),
            first_month=first.dt.to_period("M").dt.to_timestamp(),
        )
    return tx


def _end_bound(end) -> tuple[pd.Timestamp, bool] | None:
    """(bound, inclusive): a date without a time includes its whole day."""
    if end is None or end == "":
        return None
    end_ts = pd.Timestamp(end)
    if end_ts == end_ts.normalize():
        return end_ts + pd.Timedelta(days=1), False
    return end_ts, True


def _before_end(times: pd.Series, end) -> pd.Series:
    bound = _end_bound(end)
    if bound is None:
        return pd.Series(True, index=times.index)
    ts, inclusive = bound
    return times <= ts if inclusive else times < ts


def _window(tx: pd.DataFrame, start, end) -> pd.DataFrame:
    if start is not None and start != "":
        tx = tx[tx["ordered_at"] >= pd.Timestamp(start)]
    return tx[_before_end(tx["ordered_at"], end)]


def _customers_in(data: CRMData, regions) -> pd.DataFrame | None:
    """The customers table restricted to regions (None when there is no usable customers table)."""
    cust = data.customers
    if cust is None or "created_at" not in cust.columns:
        return None
    regions = _normalise_regions(regions)
    if regions is not None and "region" in cust.columns:
        cust = cust[cust["region"].isin(regions)]
    return cust


def _n_orders(tx: pd.DataFrame) -> int:
    return int(tx["order_id"].nunique()) if "order_id" in tx.columns else len(tx)


def monthly_kpis(data: CRMData, *, start=None, end=None, regions=None) -> pd.DataFrame:
    """Customer and revenue KPIs per calendar month.

    Parameters
    ----------
    data : CRMData
        Needs ``transactions`` (customer_id, ordered_at, amount); ``customers`` for the
        customer base and the region filter.
    start, end : date-like, optional
        Inclusive window on ``ordered_at`` (an end date includes its whole day).
    regions : str or list of str, optional
        Keep customers of these regions (``customers.region``); ``None`` = all.

    Returns
    -------
    DataFrame indexed by ``month`` (month start) with ``customers_total`` (customers
    created by the month's end), ``active_customers``, ``new_customers``,
    ``returning_customers``, ``orders``, ``revenue`` and ``avg_order_value``.
    """
    tx = _window(_orders(data, regions, with_months=True), start, end)
    grouped = tx.groupby("month")
    out = pd.DataFrame(
        {
            "active_customers": grouped["customer_id"].nunique(),
            "new_customers": tx[tx["month"] == tx["first_month"]].groupby("month")["customer_id"].nunique(),
            "orders": grouped["order_id"].nunique() if "order_id" in tx.columns else grouped.size(),
            "revenue": grouped["amount"].sum(),
        }
    )
    if len(out):
        months = pd.date_range(out.index.min(), out.index.max(), freq="MS")
        out = out.reindex(months)
    out.index.name = "month"
    out = out.fillna(0)
    for col in ("active_customers", "new_customers", "orders"):
        out[col] = out[col].astype("int64")
    out["returning_customers"] = out["active_customers"] - out["new_customers"]
    out["avg_order_value"] = (out["revenue"] / out["orders"].replace(0, np.nan)).astype("float64")
    out["customers_total"] = _customer_base(data, out.index, regions)
    return out[
        ["customers_total", "active_customers", "new_customers", "returning_customers", "orders", "revenue", "avg_order_value"]
    ]


def _customer_base(data: CRMData, months: pd.DatetimeIndex, regions) -> pd.Series:
    cust = _customers_in(data, regions)
    if cust is None or len(months) == 0:
        return pd.Series(pd.NA, index=months, dtype="Int64")
    created = np.sort(cust["created_at"].dropna().to_numpy())
    month_ends = (months + pd.offsets.MonthBegin(1)).to_numpy()
    counts = np.searchsorted(created, month_ends, side="left")
    return pd.Series(counts, index=months, dtype="int64")


def kpi_summary(data: CRMData, *, start=None, end=None, regions=None) -> dict[str, float]:
    """Headline KPIs for one window and region selection (see :data:`KPI_LABELS`).

    ``customers`` is the customer base at the window's end (created by then);
    the others count orders inside the window.
    """
    tx = _window(_orders(data, regions), start, end)
    active = int(tx["customer_id"].nunique())
    orders = _n_orders(tx)
    revenue = float(tx["amount"].sum())
    cust = _customers_in(data, regions)
    customers = np.nan if cust is None else int(_before_end(cust["created_at"], end).sum())
    return {
        "customers": customers,
        "active_customers": active,
        "orders": orders,
        "revenue": revenue,
        "avg_order_value": revenue / orders if orders else np.nan,
        "revenue_per_active_customer": revenue / active if active else np.nan,
    }


# ============================================================================ periods

KPI_LABELS.update(
    {
        "new_customers": ("New customers", "customers whose first order ever falls in the period"),
        "returning_customers": ("Returning customers", "active customers who had ordered before the period"),
        "churned_customers": (
            "Churned customers",
            "customers active in the equally long window before the period who did not order in it",
        ),
        "retention_rate": ("Retention rate", "share of the customers active in the window before the period who ordered again"),
        "purchase_frequency": ("Purchase frequency", "orders per active customer"),
        "revenue_per_customer": ("Revenue per customer", "revenue divided by active customers"),
        "avg_clv": ("Average CLV", "mean customer lifetime value of the active customers"),
    }
)

_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """A reporting period of whole days: ``start`` and ``end`` are both included.

    >>> p = Period(pd.Timestamp("2025-10-01"), pd.Timestamp("2025-12-31"))
    >>> p.days, p.label
    (92, 'Oct – Dec 2025')
    """

    start: pd.Timestamp
    end: pd.Timestamp

    def __post_init__(self):
        start, end = pd.Timestamp(self.start).normalize(), pd.Timestamp(self.end).normalize()
        if start > end:
            raise ParameterError(f"period: the start {start.date()} is after the end {end.date()}; pick a start on or before the end.")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @property
    def days(self) -> int:
        return int((self.end - self.start).days) + 1

    @property
    def label(self) -> str:
        whole_months = self.start.day == 1 and (self.end + _DAY).day == 1
        if whole_months:
            if (self.start.year, self.start.month) == (self.end.year, self.end.month):
                return f"{self.start:%b %Y}"
            if self.start.year == self.end.year:
                return f"{self.start:%b} – {self.end:%b %Y}"
            return f"{self.start:%b %Y} – {self.end:%b %Y}"
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"

    def contains(self, times: pd.Series) -> pd.Series:
        """Whether each time falls in the period (any time of its last day counts)."""
        return (times >= self.start) & (times < self.end + _DAY)

    def before(self) -> "Period":
        """The equally long period just before this one (as many whole months, when it is whole months)."""
        if self.start.day == 1 and (self.end + _DAY).day == 1:
            months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1
            return Period(self.start - pd.DateOffset(months=months), self.start - _DAY)
        return Period(self.start - pd.Timedelta(days=self.days), self.start - _DAY)

    def year_earlier(self) -> "Period":
        return Period(self.start - pd.DateOffset(years=1), self.end - pd.DateOffset(years=1))


def _as_period(value, what: str) -> Period:
    if isinstance(value, Period):
        return value
    try:
        start, end = value
        return Period(pd.Timestamp(start), pd.Timestamp(end))
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{what}: expected a Period or (start, end) dates, found {value!r}.") from exc


def reporting_periods(
    data: CRMData, start=None, end=None, compare_start=None, compare_end=None, *, months: int = 3, comparison: str = "year_ago"
) -> tuple[Period, Period]:
    """The reporting period and its comparison period.

    Without dates, the period is the last ``months`` whole calendar months of the orders
    on record (a month still running at the last order is left out). ``comparison`` is
    ``"year_ago"`` (the same dates a year earlier) or ``"previous"`` (the equally long
    period just before); ``compare_start``/``compare_end`` set it explicitly.

    >>> import pandas as pd
    >>> from crmkit.schema import CRMData
    >>> tx = pd.DataFrame({"customer_id": ["a"], "order_id": ["1"], "amount": [1.0],
    ...                    "ordered_at": pd.to_datetime(["2025-12-14"])})
    >>> p, c = reporting_periods(CRMData(transactions=tx), months=3)
    >>> p.label, c.label
    ('Sep – Nov 2025', 'Sep – Nov 2024')
    """
    blank = (None, "")
    if start in blank or end in blank:
        tx = _require(data, "transactions", ["ordered_at"])
        last = tx["ordered_at"].max()
        if pd.isna(last):
            raise DataValidationError("transactions: no order has a date, so there is no period to report on.")
        last = pd.Timestamp(last).normalize()
        if end in blank:
            end = last if (last + _DAY).day == 1 else last.replace(day=1) - _DAY
        end = pd.Timestamp(end).normalize()
        if start in blank:
            start = (end + _DAY) - pd.DateOffset(months=int(months))
    period = Period(pd.Timestamp(start), pd.Timestamp(end))
    if compare_start not in blank or compare_end not in blank:
        if compare_start in blank:
            compare_start = pd.Timestamp(compare_end) - pd.Timedelta(days=period.days - 1)
        if compare_end in blank:
            compare_end = pd.Timestamp(compare_start) + pd.Timedelta(days=period.days - 1)
        return period, Period(pd.Timestamp(compare_start), pd.Timestamp(compare_end))
    if comparison == "year_ago":
        return period, period.year_earlier()
    if comparison == "previous":
        return period, period.before()
    raise ParameterError(f"comparison: expected 'year_ago' or 'previous', found {comparison!r}.")


# ============================================================================ the KPI table

# kpi -> (unit kind, higher is better)
_KPI_TABLE = {
    "customers": ("count", True),
    "active_customers": ("count", True),
    "new_customers": ("count", True),
    "returning_customers": ("count", True),
    "churned_customers": ("count", False),
    "retention_rate": ("share", True),
    "revenue": ("money", True),
    "orders": ("count", True),
    "avg_order_value": ("money", True),
    "purchase_frequency": ("ratio", True),
    "revenue_per_customer": ("money", True),
    "avg_clv": ("money", True),
}


def _window_values(tx: pd.DataFrame, first_order: pd.Series, cust, period: Period, clv) -> dict:
    inside = tx[period.contains(tx["ordered_at"])]
    prior_window = period.before()
    prior = set(tx.loc[prior_window.contains(tx["ordered_at"]), "customer_id"])
    has_ids = "order_id" in tx.columns
    per_order = inside.groupby("order_id", observed=True)["amount"].sum() if has_ids else inside["amount"]
    per_cust_orders = (
        inside.groupby("customer_id", observed=True)["order_id"].nunique() if has_ids else inside.groupby("customer_id", observed=True).size()
    )
    per_cust_revenue = inside.groupby("customer_id", observed=True)["amount"].sum()
    active_ids = set(per_cust_revenue.index)
    first = first_order.reindex(list(active_ids))
    new = int(period.contains(first).sum())
    retained = len(prior & active_ids)
    orders = int(len(per_order))
    revenue = float(per_order.sum())
    active = len(active_ids)
    out = {
        "customers": np.nan if cust is None else int((cust["created_at"] < period.end + _DAY).sum()),
        "active_customers": active,
        "new_customers": new,
        "returning_customers": active - new,
        "churned_customers": len(prior) - retained,
        "retention_rate": retained / len(prior) if prior else np.nan,
        "revenue": revenue,
        "orders": orders,
        "avg_order_value": revenue / orders if orders else np.nan,
        "purchase_frequency": orders / active if active else np.nan,
        "revenue_per_customer": revenue / active if active else np.nan,
        "_counts": (retained, len(prior)),
        "_samples": {
            "avg_order_value": per_order.to_numpy(dtype=float),
            "purchase_frequency": per_cust_orders.to_numpy(dtype=float),
            "revenue_per_customer": per_cust_revenue.to_numpy(dtype=float),
        },
    }
    if clv is not None:
        values = clv.reindex(pd.Index(list(active_ids), dtype=clv.index.dtype)).to_numpy(dtype=float)
        out["avg_clv"] = float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
        out["_samples"]["avg_clv"] = values
    return out


@dataclass(frozen=True)
class KPITable:
    """KPIs for a period against a comparison period.

    ``table``: one row per KPI with ``label``, ``period`` and ``comparison`` values,
    ``change`` (period − comparison), ``change_pct``, ``change_ci_low``/``change_ci_high``
    (for averages: Welch interval of the difference of means; for the retention rate:
    Newcombe interval of the difference of proportions; counts and totals are what
    happened, not estimates, and get none), ``unit``, ``higher_is_better`` and
    ``direction`` (``up``/``down``/``flat``). The two periods share customers, so the
    intervals, which treat them as independent samples, are approximate.
    """

    table: pd.DataFrame
    period: Period
    comparison: Period
    confidence: float
    currency: str
    regions: tuple | None = None

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def to_frame(self) -> pd.DataFrame:
        return self.table.set_index("kpi")

    def value(self, kpi: str, which: str = "period") -> float:
        """One number of the table, e.g. ``value("revenue")`` or ``value("revenue", "comparison")``."""
        return float(self.table.set_index("kpi").loc[kpi, which])

    def formatted(self) -> pd.DataFrame:
        """The table as a reader sees it: numbers formatted with their units, arrows for the change."""
        rows = []
        for r in self.table.itertuples(index=False):
            fmt = _formatter(r.unit, self.currency)
            arrow = {"up": "▲", "down": "▼", "flat": "■"}.get(r.direction, "")
            ci = ""
            if np.isfinite(r.change_ci_low):
                ci = f"{_signed(r.change_ci_low, r.unit, self.currency)} to {_signed(r.change_ci_high, r.unit, self.currency)}"
            pct = "" if not np.isfinite(r.change_pct) else f"{r.change_pct:+.1%}"
            rows.append(
                {
                    "KPI": r.label,
                    self.period.label: fmt(r.period),
                    self.comparison.label: fmt(r.comparison),
                    "change": f"{arrow} {_signed(r.change, r.unit, self.currency)}" if np.isfinite(r.change) else "–",
                    "change %": pct,
                    f"{int(round(self.confidence * 100))}% interval of the change": ci,
                }
            )
        return pd.DataFrame(rows)

    def plot(self):
        """Change of each KPI against the comparison period, in per cent (green: better)."""
        import plotly.graph_objects as go

        t = self.table[np.isfinite(self.table["change_pct"])].iloc[::-1]
        good = np.where(t["higher_is_better"], t["change_pct"] >= 0, t["change_pct"] <= 0)
        fig = go.Figure(
            go.Bar(
                x=t["change_pct"],
                y=t["label"],
                orientation="h",
                marker_color=np.where(good, "#16a34a", "#dc2626"),
                hovertemplate="%{y}: %{x:+.1%}<extra></extra>",
            )
        )
        fig.update_layout(
            template="plotly_white",
            title={"text": f"KPIs {self.period.label} against {self.comparison.label} (green: better)", "x": 0.01},
            xaxis={"title": "Change against the comparison period (%)", "tickformat": "+.0%"},
            yaxis={"title": "KPI"},
            height=max(320, 60 + 34 * len(t)),
            margin={"l": 200, "r": 30, "t": 60, "b": 60},
        )
        return fig


def _formatter(unit: str, currency: str):
    def fmt(v):
        if v is None or not np.isfinite(v):
            return "–"
        if unit == "share":
            return f"{v:.1%}"
        if unit == "money":
            return f"{currency}{v:,.2f}" if abs(v) < 1000 else f"{currency}{v:,.0f}"
        if unit == "ratio":
            return f"{v:,.2f}"
        return f"{v:,.0f}"

    return fmt


def _signed(v, unit: str, currency: str) -> str:
    sign = "+" if v >= 0 else "−"
    if unit == "share":
        return f"{sign}{abs(v) * 100:.1f} pts"
    return sign + _formatter(unit, currency)(abs(v))


def kpi_table(
    data: CRMData,
    period=None,
    comparison="year_ago",
    *,
    regions=None,
    clv: pd.Series | None = None,
    confidence: float = 0.95,
    currency: str = "£",
) -> KPITable:
    """The KPI table for ``period`` against ``comparison`` (see :class:`KPITable`).

    Parameters
    ----------
    data : CRMData
        Needs ``transactions``; ``customers`` for the customer base and regions.
    period : Period or (start, end), optional
        Default: the last three whole months on record (:func:`reporting_periods`).
    comparison : Period, (start, end), "year_ago" or "previous"
    regions : str or list of str, optional
    clv : pandas.Series, optional
        Customer lifetime value per ``customer_id`` (e.g. from :mod:`crmkit.clv`): adds
        the average CLV of the active customers.
    confidence : float
        Level of the intervals of the changes.

    Examples
    --------
    >>> from crmkit.synth import demo_world
    >>> t = kpi_table(demo_world(300, seed=0).data, ("2025-10-01", "2025-12-31"), "year_ago")
    >>> t.comparison.label
    'Oct – Dec 2024'
    >>> int(t.value("active_customers")) == int(t.value("new_customers") + t.value("returning_customers"))
    True
    """
    confidence = check_confidence(confidence)
    if period is None:
        period, default_comparison = reporting_periods(data, comparison=comparison if isinstance(comparison, str) else "year_ago")
        if isinstance(comparison, str):
            comparison = default_comparison
    period = _as_period(period, "period")
    if isinstance(comparison, str):
        if comparison == "year_ago":
            comparison = period.year_earlier()
        elif comparison == "previous":
            comparison = period.before()
        else:
            raise ParameterError(f"comparison: expected 'year_ago', 'previous' or (start, end) dates, found {comparison!r}.")
    comparison = _as_period(comparison, "comparison")
    tx = _orders(data, regions)
    first_order = tx.groupby("customer_id", observed=True)["ordered_at"].min()
    cust = _customers_in(data, regions)
    if clv is not None:
        if not isinstance(clv, pd.Series):
            raise ParameterError(f"clv: expected a pandas Series indexed by customer_id, found {type(clv).__name__}.")
        clv = clv.astype("float64")
    now = _window_values(tx, first_order, cust, period, clv)
    then = _window_values(tx, first_order, cust, comparison, clv)
    rows = []
    for kpi, (kind, higher) in _KPI_TABLE.items():
        if kpi not in now:
            continue
        a, b = now[kpi], then[kpi]
        change = a - b if np.isfinite(a) and np.isfinite(b) else np.nan
        lo = hi = np.nan
        if kpi in now["_samples"]:
            _, lo, hi = welch_diff(now["_samples"][kpi], then["_samples"][kpi], confidence)
        elif kpi == "retention_rate":
            (x1, n1), (x2, n2) = now["_counts"], then["_counts"]
            lo, hi = newcombe_diff(x1, n1, x2, n2, confidence)
        unit = {"money": currency, "share": "share", "ratio": "orders per customer", "count": "count"}[kind]
        rows.append(
            {
                "kpi": kpi,
                "label": KPI_LABELS[kpi][0],
                "period": float(a),
                "comparison": float(b),
                "change": float(change),
                "change_pct": float(change / b) if np.isfinite(change) and b else np.nan,
                "change_ci_low": float(lo),
                "change_ci_high": float(hi),
                "unit": {"money": "money"}.get(kind, kind),
                "unit_label": unit,
                "higher_is_better": higher,
                "direction": "flat" if not np.isfinite(change) or change == 0 else ("up" if change > 0 else "down"),
            }
        )
    regions_n = _normalise_regions(regions)
    return KPITable(
        table=pd.DataFrame(rows),
        period=period,
        comparison=comparison,
        confidence=confidence,
        currency=currency,
        regions=None if regions_n is None else tuple(regions_n),
    )


# ============================================================================ cohort retention


@dataclass(frozen=True)
class CohortRetention:
    """Customers of each acquisition cohort who ordered again, month by month.

    ``counts``: cohorts (rows, month of first order — or of sign-up with
    ``cohort_by="created_at"``) × months since (columns 0, 1, …): customers of the
    cohort who ordered in that month; ``nan`` where the month lies after the last month
    observed. ``sizes``: customers per cohort (they add up to the customers in scope).
    ``rates`` = counts ÷ sizes.
    """

    counts: pd.DataFrame
    sizes: pd.Series
    rates: pd.DataFrame
    cohort_by: str
    last_month: pd.Timestamp
    customers: pd.DataFrame  # customer_id, cohort

    def summary(self) -> pd.DataFrame:
        """Per cohort: customers and the share who ordered 1, 3, 6 and 12 months later; last row pooled."""
        cols = [c for c in (1, 3, 6, 12) if c in self.rates.columns]
        out = pd.DataFrame({"customers": self.sizes})
        for c in cols:
            out[f"month_{c}"] = self.rates[c]
        pooled = {"customers": int(self.sizes.sum())}
        for c in cols:
            seen = self.counts[c].notna()
            pooled[f"month_{c}"] = float(self.counts.loc[seen, c].sum() / self.sizes[seen].sum()) if seen.any() else np.nan
        out.index = out.index.strftime("%Y-%m")
        out.loc["all cohorts"] = pd.Series(pooled)
        out.index.name = "cohort"
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per cohort and observed month since: ``customers``, ``active``, ``rate``."""
        long = self.counts.stack().dropna().rename("active").reset_index()
        long.columns = ["cohort", "months_since", "active"]
        long["customers"] = long["cohort"].map(self.sizes)
        long["rate"] = long["active"] / long["customers"]
        return long

    def plot(self, *, max_months: int | None = 24):
        """Heatmap of the retention rates (cohorts down, months since first order across)."""
        import plotly.graph_objects as go

        rates = self.rates if max_months is None else self.rates.loc[:, self.rates.columns <= max_months]
        z = rates.to_numpy(dtype=float)
        text = np.where(np.isfinite(z), np.char.mod("%.0f%%", np.nan_to_num(z) * 100), "")
        what = "first order" if self.cohort_by == "first_order" else "sign-up"
        fig = go.Figure(
            go.Heatmap(
                z=z,
                x=[int(c) for c in rates.columns],
                y=[f"{m:%Y-%m} ({n:,})" for m, n in zip(rates.index, self.sizes)],
                text=text,
                texttemplate="%{text}",
                textfont={"size": 9},
                colorscale="Blues",
                zmin=0,
                zmax=float(np.nanmax(z[:, 1:])) if z.shape[1] > 1 and np.isfinite(z[:, 1:]).any() else 1.0,
                colorbar={"title": "Ordered", "tickformat": ".0%"},
                hovertemplate="cohort %{y}<br>month %{x}: %{z:.1%} ordered<extra></extra>",
            )
        )
        fig.update_layout(
            template="plotly_white",
            title={"text": f"Cohort retention: share of each {what} cohort ordering again, by months since", "x": 0.01},
            xaxis={"title": f"Months since {what}", "dtick": 1 if z.shape[1] <= 24 else 3},
            yaxis={"title": "Cohort (month, customers)", "autorange": "reversed"},
            height=max(400, 40 + 18 * len(rates)),
            margin={"l": 140, "r": 30, "t": 60, "b": 60},
        )
        return fig


def _month_index(ts: pd.Series) -> np.ndarray:
    return (ts.dt.year * 12 + ts.dt.month - 1).to_numpy(dtype=np.int64)


def cohort_retention(
    data: CRMData, *, start=None, end=None, regions=None, cohort_by: str = "first_order", max_months: int | None = None
) -> CohortRetention:
    """The cohort retention matrix.

    Parameters
    ----------
    data : CRMData
        ``transactions``; ``customers`` for ``cohort_by="created_at"`` and regions.
    start, end : date-like, optional
        Cohorts from ``start``; orders up to ``end`` (a date includes its whole day).
    cohort_by : {"first_order", "created_at"}
        Acquisition month: of the first order ever, or of sign-up (then customers who
        never ordered are in their cohort too, and month 0 is not 100%).
    max_months : int, optional
        Keep months since up to this.

    Examples
    --------
    >>> import pandas as pd
    >>> from crmkit.schema import CRMData
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b", "c"], "order_id": ["1", "2", "3", "4"], "amount": 1.0,
    ...                    "ordered_at": pd.to_datetime(["2024-01-05", "2024-02-07", "2024-01-20", "2024-02-02"])})
    >>> cohort_retention(CRMData(transactions=tx)).counts
    months_since    0    1
    cohort
    2024-01-01    2.0  1.0
    2024-02-01    1.0  NaN
    """
    if cohort_by not in ("first_order", "created_at"):
        raise ParameterError(f"cohort_by: expected 'first_order' or 'created_at', found {cohort_by!r}.")
    tx = _window(_orders(data, regions), None, end)
    if cohort_by == "first_order":
        first = tx.groupby("customer_id", observed=True)["ordered_at"].min()
        cohort = pd.Series(_month_index(first), index=first.index)
    else:
        cust = _customers_in(data, regions)
        if cust is None:
            raise DataValidationError("customers: cohorts by sign-up need the customers table with created_at.")
        cust = cust[_before_end(cust["created_at"], end)]
        cohort = pd.Series(_month_index(cust["created_at"]), index=pd.Index(cust["customer_id"].astype("string")))
        tx = tx[tx["customer_id"].astype("string").isin(cohort.index)]
    if start not in (None, ""):
        s = pd.Timestamp(start)
        cohort = cohort[cohort >= s.year * 12 + s.month - 1]
    cohort.index = cohort.index.astype("string")
    if cohort.empty:
        raise DataValidationError("transactions: no customer falls in a cohort for this selection; widen the period.")
    bound = _end_bound(end)
    last_ts = (bound[0] - pd.Timedelta(1, "ns")) if bound is not None else tx["ordered_at"].max()
    last = int(last_ts.year * 12 + last_ts.month - 1)
    act = pd.DataFrame({"customer_id": tx["customer_id"].astype("string").to_numpy(), "m": _month_index(tx["ordered_at"])})
    act["cohort"] = act["customer_id"].map(cohort)
    act = act.dropna(subset=["cohort"])
    act["age"] = act["m"] - act["cohort"].astype(np.int64)
    act = act[act["age"] >= 0].drop_duplicates(["customer_id", "age"])
    first_c, last_c = int(cohort.min()), int(cohort.max())
    n_age = last - first_c + 1
    ages = np.arange(n_age if max_months is None else min(n_age, int(max_months) + 1))
    cohorts = np.arange(first_c, last_c + 1)
    counts = pd.crosstab(act["cohort"].astype(np.int64), act["age"]).reindex(index=cohorts, columns=ages, fill_value=0)
    counts = counts.astype("float64")
    observed = (cohorts[:, None] + ages[None, :]) <= last
    counts = counts.where(observed)
    sizes = cohort.value_counts().reindex(cohorts, fill_value=0).astype("int64")
    month_ts = pd.to_datetime([f"{c // 12:04d}-{c % 12 + 1:02d}-01" for c in cohorts])
    counts.index = month_ts
    counts.index.name = "cohort"
    counts.columns = pd.Index(ages, name="months_since")
    sizes.index = month_ts
    sizes.index.name = "cohort"
    sizes.name = "customers"
    rates = counts.div(sizes.replace(0, np.nan), axis=0)
    return CohortRetention(
        counts=counts,
        sizes=sizes,
        rates=rates,
        cohort_by=cohort_by,
        last_month=pd.Timestamp(f"{last // 12:04d}-{last % 12 + 1:02d}-01"),
        customers=pd.DataFrame(
            {"customer_id": cohort.index, "cohort": pd.to_datetime([f"{c // 12:04d}-{c % 12 + 1:02d}-01" for c in cohort.to_numpy()])}
        ),
    )


# ============================================================================ forecasts

#: KPIs :func:`forecast_kpi` can forecast: column of :func:`monthly_kpis` → (name, unit kind).
FORECAST_KPIS = {
    "revenue": ("Revenue", "money"),
    "active_customers": ("Active customers", "customers"),
    "orders": ("Orders", "orders"),
    "new_customers": ("New customers", "customers"),
}


def forecast_kpi(
    data: CRMData,
    kpi: str = "revenue",
    *,
    horizon: int = 6,
    regions=None,
    end=None,
    confidence: float = 0.9,
    seasonal_periods: int = 12,
    backtest_months: int | None = None,
    currency: str = "£",
) -> ForecastResult:
    """Forecast a monthly KPI with exponential smoothing; intervals and a back-test come with it.

    Months only partly covered by the data (the first, when the orders start after its
    first day; the last, when they end before its last day) are left out of the fit and
    listed in ``dropped_months``. Revenue and orders are modelled per calendar day and
    scaled back by the days of each month (``per_day``), so that February's fewer days
    are not mistaken for a season. See :class:`MonthlyForecaster` for the model.

    Parameters
    ----------
    kpi : str
        One of :data:`FORECAST_KPIS`.
    horizon : int
        Months ahead.
    end : date-like, optional
        Forecast from the data up to this date (default: everything).

    Examples
    --------
    >>> from crmkit.synth import demo_world
    >>> f = forecast_kpi(demo_world(300, seed=0).data, "active_customers", horizon=3)
    >>> f.summary().columns.tolist()
    ['month', 'forecast', 'lower', 'upper']
    >>> bool(f.backtest_mape >= 0)
    True
    """
    if kpi not in FORECAST_KPIS:
        raise ParameterError(f"kpi: expected one of {', '.join(map(repr, FORECAST_KPIS))}, found {kpi!r}.")
    monthly = monthly_kpis(data, end=end, regions=regions)
    if monthly.empty:
        raise DataValidationError("transactions: no orders in this selection, so there is nothing to forecast.")
    tx = _window(_orders(data, regions), None, end)
    first, last = tx["ordered_at"].min(), tx["ordered_at"].max()
    dropped = []
    series = monthly[kpi].astype("float64")
    if first.day != 1:
        dropped.append(series.index[0])
    bound = _end_bound(end)
    last_day = (bound[0] - pd.Timedelta(1, "ns")).normalize() if bound is not None else last.normalize()
    if (last_day + _DAY).day != 1:
        dropped.append(series.index[-1])
    series = series.drop(index=dropped)
    name, kind = FORECAST_KPIS[kpi]
    fc = MonthlyForecaster(
        horizon=horizon,
        seasonal_periods=seasonal_periods,
        confidence=confidence,
        backtest_months=backtest_months,
        per_day=kind != "customers",  # revenue and orders flow day by day: February is short, not seasonal
    ).fit(series)
    return fc.forecast(name=name, unit=currency if kind == "money" else kind, dropped_months=[d.strftime("%Y-%m") for d in dropped])
