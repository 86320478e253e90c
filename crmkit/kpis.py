"""Business KPIs over time: customer base, active customers, revenue, new vs returning.

These are the numbers of the ``customer_overview`` report and the ``overview``
dashboard. A customer is *active* in a month when they ordered in it; *new* in the
month of their first order ever (over the whole history, not only the filtered
window), *returning* otherwise.

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

import numpy as np
import pandas as pd

from crmkit.errors import DataValidationError
from crmkit.schema import CRMData

__all__ = ["monthly_kpis", "kpi_summary", "KPI_LABELS"]

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
