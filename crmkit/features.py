"""Transactions → one row per customer.

The customer-level summary that buy-till-you-die models (BG/NBD, Pareto/NBD,
Gamma-Gamma) and RFM scoring start from. It is written once as an Ibis expression, so
it runs where the data lives — on Ibis' default DuckDB for a pandas DataFrame, on the
table's own backend for an :class:`ibis.Table` (the embedded DuckDB store, PostgreSQL,
Spark …) — and only the customer-level result is collected into pandas.

>>> import pandas as pd
>>> tx = pd.DataFrame({
...     "customer_id": ["a", "a", "a", "b"],
...     "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-15", "2024-01-20"]),
...     "amount": [10.0, 5.0, 30.0, 8.0],
... })
>>> rfm_summary(tx, observation_end="2024-01-31", time_unit="W")  # doctest: +NORMALIZE_WHITESPACE
             frequency  recency    T  monetary_value
customer_id
a                  1.0      2.0  4.0            30.0
b                  0.0      0.0  2.0             0.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from crmkit._ibis import (
    as_table,
    check_datetime,
    check_numeric,
    date_literal,
    table_of,
    timestamp_literal,
    to_naive_timestamp,
)
from crmkit.errors import DataValidationError, ParameterError
from crmkit.schema import CONTACT_CHANNELS

__all__ = ["TIME_UNITS", "rfm_summary", "customer_table_expr", "customer_features", "customer_features_expr"]


@dataclass(frozen=True)
class _Unit:
    name: str
    period: str  # pandas period frequency (what lifetimes buckets with)
    truncate: str  # ibis truncate unit
    delta: str  # ibis delta unit
    per: int  # delta units per time unit

    def between(self, later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
        diff = later.delta(earlier, unit=self.delta).cast("float64")
        return diff / self.per if self.per != 1 else diff


_UNITS = {
    # Pandas "W" is W-SUN: weeks run Monday to Sunday and a period's start is its Monday,
    # as SQL's date_trunc('week') (ISO weeks) also has it.
    "D": _Unit("D", "D", "D", "day", 1),
    "W": _Unit("W", "W", "W", "day", 7),
    "M": _Unit("M", "M", "M", "month", 1),
}

#: The time units :func:`rfm_summary` accepts: days, weeks (Monday to Sunday), calendar months.
TIME_UNITS: tuple[str, ...] = tuple(_UNITS)

_COLUMNS = ["frequency", "recency", "T", "monetary_value"]


def _unit(time_unit: str) -> _Unit:
    try:
        return _UNITS[time_unit]
    except (KeyError, TypeError):
        allowed = ", ".join(repr(u) for u in _UNITS)
        raise ParameterError(
            f"time_unit: expected one of {allowed} (days, weeks, calendar months), found {time_unit!r}."
        ) from None


def customer_table_expr(
    transactions: pd.DataFrame | ibis.Table,
    observation_end=None,
    time_unit: str = "W",
    customer_id_col: str = "customer_id",
    datetime_col: str = "ordered_at",
    monetary_col: str | None = "amount",
) -> ibis.Table:
    """The Ibis expression behind :func:`rfm_summary`, before it is executed.

    Takes the same arguments as :func:`rfm_summary` and returns an unexecuted
    :class:`ibis.Table` with columns ``customer_id, frequency, recency, T,
    monetary_value`` ordered by ``customer_id``, so that another engine or a larger
    query (joins with customer attributes, a ``CREATE TABLE AS``) can reuse it.
    Only the table's schema is looked at here; no data is read.

    Returns
    -------
    ibis.Table
        Run it with ``.to_pandas()``, ``.to_pyarrow()``, or compile it with
        ``ibis.to_sql(expr, dialect=...)``.

    Examples
    --------
    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "a"], "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-09"]),
    ...                    "amount": [1.0, 2.0]})
    >>> expr = customer_table_expr(tx, time_unit="D")
    >>> expr.columns
    ('customer_id', 'frequency', 'recency', 'T', 'monetary_value')
    >>> expr.to_pandas().loc[0, "recency"]
    np.float64(8.0)
    """
    unit = _unit(time_unit)
    end_ts = None if observation_end is None else to_naive_timestamp(observation_end, name="observation_end")
    needed = {customer_id_col: "customer_id_col", datetime_col: "datetime_col"}
    if monetary_col is not None:
        needed.setdefault(monetary_col, "monetary_col")
    t = as_table(transactions, what="transactions", columns=needed)
    check_datetime(t, datetime_col, what="transactions")
    if monetary_col is not None:
        check_numeric(t, monetary_col, what="transactions")

    at = t[datetime_col]
    if at.type().is_date():
        at = at.cast("timestamp")

    rows = t.select(
        customer_id=t[customer_id_col],
        period=at.truncate(unit.truncate),
        spend=t[monetary_col].cast("float64") if monetary_col is not None else ibis.literal(0.0),
    )
    rows = rows.filter(rows.customer_id.notnull(), rows.period.notnull())
    if end_ts is None:
        # Lifetimes' default: the period of the last order in the table (of any row, as
        # lifetimes has it). No order lies after it, so nothing needs filtering.
        end = at.max().truncate(unit.truncate).as_scalar()
    else:
        # Periods are compared by their start, like lifetimes: an order in the same
        # period as the observation end counts, even if it falls after the end itself.
        end = timestamp_literal(end_ts.to_period(unit.period).to_timestamp())
        rows = rows.filter(rows.period <= end)

    # One row per customer and period; amounts in one period are summed (a missing
    # amount counts as 0, as pandas' sum in lifetimes has it).
    periods = rows.group_by(["customer_id", "period"]).aggregate(spend=rows.spend.sum().fill_null(0.0))
    # Each period row learns its customer's first period through a join, not a window
    # (faster on DuckDB in a 10M-row trial), and the repeat-period mean is taken
    # directly, not as (total - first) / (n - 1), which loses digits.
    first = periods.group_by("customer_id").aggregate(first=periods.period.min())
    periods = periods.join(first, "customer_id")

    per_customer = periods.group_by("customer_id").aggregate(
        n_periods=periods.count(),
        first=periods.first.min(),
        last=periods.period.max(),
        # The mean over repeat periods only; 0 for a customer without any.
        monetary_value=periods.spend.mean(where=periods.period > periods.first).fill_null(0.0),
    )
    out = per_customer.select(
        "customer_id",
        frequency=(per_customer.n_periods - 1).cast("float64"),
        recency=unit.between(per_customer["last"], per_customer["first"]),
        T=unit.between(end, per_customer["first"]),
        monetary_value=per_customer.monetary_value.cast("float64"),
    )
    if monetary_col is None:
        out = out.drop("monetary_value")
    return out.order_by("customer_id")


def rfm_summary(
    transactions: pd.DataFrame | ibis.Table,
    observation_end=None,
    time_unit: str = "W",
    customer_id_col: str = "customer_id",
    datetime_col: str = "ordered_at",
    monetary_col: str | None = "amount",
) -> pd.DataFrame:
    """Recency, frequency, age and spend per customer, as buy-till-you-die models need them.

    The result equals lifetimes' ``summary_data_from_transaction_data(transactions,
    customer_id_col, datetime_col, monetary_value_col=monetary_col,
    observation_period_end=observation_end, freq=time_unit)`` for ``time_unit`` "D"
    and "W", with the same conventions:

    - orders are bucketed into periods of ``time_unit`` (a day; a Monday-to-Sunday
      week; a calendar month) and the amounts of one customer in one period summed,
      so several orders in one period count as one purchase;
    - orders in periods after the period of ``observation_end`` are ignored (orders
      later than ``observation_end`` but in its period count);
    - ``frequency`` is the number of periods with a purchase, minus one (repeat purchases);
    - ``recency`` is the time from the first to the last purchase period, and ``T`` from
      the first purchase period to the observation end's period, in ``time_unit``;
    - ``monetary_value`` is the mean spend over the repeat periods (the first is left
      out), 0 for a customer without repeat purchases.

    It runs as one query where the data lives; only the customer-level result is
    collected into pandas. The caller's frame is neither modified nor shared.

    Parameters
    ----------
    transactions : pandas.DataFrame or ibis.Table
        One row per order (or order line). A DataFrame is run on Ibis' default
        DuckDB backend; an Ibis table (e.g. ``ibis.duckdb.connect(path).table(...)``,
        a PostgreSQL or Spark table) on its own backend.
    observation_end : str, date, datetime or pandas.Timestamp, optional
        The end of the observation window. Default: the date of the last order.
    time_unit : {"W", "D", "M"}, default "W"
        Unit of ``recency`` and ``T`` and size of the purchase periods. "M" counts
        calendar months (differences of month starts); lifetimes does not support it
        (numpy has no fixed-length month), so "M" has no lifetimes counterpart.
    customer_id_col, datetime_col, monetary_col : str
        Column names in ``transactions``; default the canonical ``customer_id``,
        ``ordered_at``, ``amount``. ``datetime_col`` must hold timezone-naive dates or
        date-times. ``monetary_col=None`` leaves out ``monetary_value``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (ascending; customers with a missing id, and orders
        without a date, are left out), float64 columns ``frequency``, ``recency``,
        ``T``, ``monetary_value``.

    Raises
    ------
    crmkit.errors.DataValidationError
        A column is missing or has the wrong type.
    crmkit.errors.ParameterError
        ``time_unit`` or ``observation_end`` cannot be used.

    See Also
    --------
    customer_table_expr : the same as an unexecuted Ibis expression.

    Examples
    --------
    >>> import pandas as pd
    >>> tx = pd.DataFrame({
    ...     "customer_id": ["a", "a", "a", "b"],
    ...     "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-15", "2024-01-20"]),
    ...     "amount": [10.0, 5.0, 30.0, 8.0],
    ... })
    >>> rfm_summary(tx, observation_end="2024-01-31", time_unit="D")  # doctest: +NORMALIZE_WHITESPACE
                 frequency  recency     T  monetary_value
    customer_id
    a                  2.0     14.0  30.0            17.5
    b                  0.0      0.0  11.0             0.0
    """
    expr = customer_table_expr(
        transactions,
        observation_end=observation_end,
        time_unit=time_unit,
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
        monetary_col=monetary_col,
    )
    # Arrow → pandas directly: pandas 3 dtypes (str ids), no detour through ibis' converter.
    result = expr.to_pyarrow().to_pandas()
    columns = _COLUMNS if monetary_col is not None else _COLUMNS[:-1]
    result = result.set_index("customer_id")[columns].astype("float64")
    result.columns.name = None
    result.attrs["time_unit"] = time_unit  # models read the unit from here
    return result


# ------------------------------------------------------------------ customer features


def _suffix(value) -> str:
    """A category or channel value as a column-name suffix: lower case, ``_`` for the rest."""
    return re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_") or "unknown"


def _as_of_bounds(data, as_of) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(as-of day, exclusive end): everything before the day after ``as_of`` counts."""
    if as_of is None or as_of == "":
        tx = table_of(data, "transactions", ["ordered_at"])
        if tx is None:
            raise ParameterError("as_of: give a date; without a transactions table there is no last order to default to.")
        last = tx.ordered_at.max().to_pyarrow().as_py()
        if last is None:
            raise ParameterError("as_of: give a date; the transactions table has no dated order to default to.")
        day = pd.Timestamp(last).normalize()
    else:
        day = to_naive_timestamp(as_of, name="as_of").normalize()
    return day, day + pd.Timedelta(days=1)


def _distinct(column: ir.Column) -> list:
    values = column.name("v").as_table().distinct().to_pyarrow().column("v").to_pylist()
    return sorted(v for v in values if v is not None)


def _grouped_by_suffix(values: list) -> dict[str, list]:
    groups: dict[str, list] = {}
    for v in values:
        groups.setdefault(_suffix(v), []).append(v)
    return groups


def customer_features_expr(data, as_of=None, *, window_days: int = 90) -> ibis.Table:
    """The Ibis expression behind :func:`customer_features`, before it is executed.

    Two small queries run here to fix its shape: the distinct product categories and
    sales channels before ``as_of`` (one column each), and the last order's date when
    ``as_of`` is not given. The customer-level aggregation itself is not run.
    """
    if not isinstance(window_days, int) or isinstance(window_days, bool) or window_days < 1:
        raise ParameterError(f"window_days: expected a whole number of days ≥ 1, found {window_days!r}.")
    day, end = _as_of_bounds(data, as_of)
    end_lit = timestamp_literal(end)
    since = timestamp_literal(end - pd.Timedelta(days=window_days))
    today = date_literal(day)
    w = f"{window_days}d"

    customers = table_of(data, "customers", ["customer_id", "created_at"], ["region", "acquisition_channel"])
    if customers is None:
        raise DataValidationError("customers: the table is required for customer features but is missing from the data.")
    check_datetime(customers, "created_at", what="customers")
    base = customers.filter(customers.created_at < end_lit)
    out = base.select(
        "customer_id",
        region=base.region.cast("string") if "region" in base.columns else ibis.null("string"),
        acquisition_channel=(
            base.acquisition_channel.cast("string") if "acquisition_channel" in base.columns else ibis.null("string")
        ),
        tenure_days=today.delta(base.created_at.date(), unit="day").cast("float64"),
    )
    fill: dict[str, float] = {}

    tx = table_of(data, "transactions", ["order_id", "customer_id", "ordered_at", "amount"], ["category", "sales_channel"])
    if tx is not None:
        check_datetime(tx, "ordered_at", what="transactions")
        check_numeric(tx, "amount", what="transactions")
        tx = tx.filter(tx.ordered_at < end_lit, tx.customer_id.notnull())
        amount = tx.amount.cast("float64").fill_null(0.0)
        recent = tx.ordered_at >= since
        aggs = {
            "orders": tx.order_id.nunique().cast("float64"),
            "revenue": amount.sum(),
            "first_order": tx.ordered_at.min(),
            "last_order": tx.ordered_at.max(),
            f"orders_{w}": tx.order_id.nunique(where=recent).cast("float64"),
            f"revenue_{w}": amount.sum(where=recent),
        }
        shares: dict[str, tuple[str, str]] = {}
        if "category" in tx.columns:
            cat = tx.category.cast("string")
            for suffix, values in _grouped_by_suffix(_distinct(cat)).items():
                aggs[f"_rev__{suffix}"] = amount.sum(where=cat.isin(values))
                shares[f"category_share__{suffix}"] = (f"_rev__{suffix}", "revenue")
        if "sales_channel" in tx.columns:
            ch = tx.sales_channel.cast("string")
            for suffix, values in _grouped_by_suffix(_distinct(ch)).items():
                aggs[f"_ord__{suffix}"] = tx.order_id.nunique(where=ch.isin(values)).cast("float64")
                shares[f"sales_channel_share__{suffix}"] = (f"_ord__{suffix}", "orders")
        per = tx.group_by("customer_id").aggregate(**aggs)
        cols = {
            "orders": per.orders,
            "revenue": per.revenue.fill_null(0.0),
            "avg_order_value": per.revenue.fill_null(0.0) / per.orders,
            "days_since_first_order": today.delta(per.first_order.date(), unit="day").cast("float64"),
            "days_since_last_order": today.delta(per.last_order.date(), unit="day").cast("float64"),
            f"orders_{w}": per[f"orders_{w}"],
            f"revenue_{w}": per[f"revenue_{w}"].fill_null(0.0),
        }
        for name, (num, den) in shares.items():
            total = per[den].fill_null(0.0)
            cols[name] = ibis.ifelse(total > 0, per[num].fill_null(0.0) / total, 0.0)
        per = per.select("customer_id", **cols)
        out = out.left_join(per, "customer_id").drop("customer_id_right")
        fill.update({c: 0.0 for c in cols if c not in ("avg_order_value", "days_since_first_order", "days_since_last_order")})

    inter = table_of(data, "interactions", ["customer_id", "at"], ["direction"])
    if inter is not None:
        check_datetime(inter, "at", what="interactions")
        inter = inter.filter(inter.at < end_lit, inter.at >= since, inter.customer_id.notnull())
        if "direction" in inter.columns:
            direction = inter.direction.cast("string")
            per = inter.group_by("customer_id").aggregate(
                **{
                    f"contacts_outbound_{w}": inter.count(where=direction == "outbound").cast("float64"),
                    f"contacts_inbound_{w}": inter.count(where=direction == "inbound").cast("float64"),
                }
            )
        else:
            per = inter.group_by("customer_id").aggregate(**{f"contacts_{w}": inter.count().cast("float64")})
        out = out.left_join(per, "customer_id").drop("customer_id_right")
        fill.update({c: 0.0 for c in per.columns if c != "customer_id"})

    tickets = table_of(data, "tickets", ["customer_id", "opened_at"], ["csat", "resolved_at"])
    if tickets is not None:
        check_datetime(tickets, "opened_at", what="tickets")
        tickets = tickets.filter(tickets.opened_at < end_lit, tickets.customer_id.notnull())
        aggs = {
            f"tickets_{w}": tickets.count(where=tickets.opened_at >= since).cast("float64"),
            "tickets_total": tickets.count().cast("float64"),
        }
        if "csat" in tickets.columns:
            # A rating is given when the case is closed: one closed after as_of was not known then.
            known = tickets.resolved_at < end_lit if "resolved_at" in tickets.columns else None
            aggs["csat_mean"] = tickets.csat.cast("float64").mean(where=known)
        per = tickets.group_by("customer_id").aggregate(**aggs)
        out = out.left_join(per, "customer_id").drop("customer_id_right")
        fill.update({f"tickets_{w}": 0.0, "tickets_total": 0.0})

    consents = table_of(data, "consents", ["customer_id", "channel", "granted"], ["updated_at"])
    if consents is not None:
        ch = consents.channel.cast("string")
        granted = consents.granted.cast("int32")
        aggs = {"_consent_rows": consents.count()}
        for c in CONTACT_CHANNELS:
            # Several rows for one customer and channel: granted only if every row grants.
            aggs[f"consent__{c}"] = granted.min(where=ch == c).cast("float64").fill_null(0.0)
            if "updated_at" in consents.columns:
                aggs[f"_later__{c}"] = consents.count(where=(ch == c) & (consents.updated_at >= end_lit))
        per = consents.group_by("customer_id").aggregate(**aggs)
        if "updated_at" in consents.columns:
            # Changed after as_of: the state on the day is not known (no consent history), so missing.
            per = per.mutate(
                **{f"consent__{c}": ibis.ifelse(per[f"_later__{c}"] > 0, ibis.null("float64"), per[f"consent__{c}"])
                   for c in CONTACT_CHANNELS}
            ).drop(*[f"_later__{c}" for c in CONTACT_CHANNELS])
        out = out.left_join(per, "customer_id").drop("customer_id_right")
        # No consent row at all: nothing was granted.
        out = out.mutate(
            **{f"consent__{c}": ibis.ifelse(out._consent_rows.isnull(), 0.0, out[f"consent__{c}"]) for c in CONTACT_CHANNELS}
        ).drop("_consent_rows")

    if fill:
        out = out.mutate(**{c: out[c].fill_null(v) for c, v in fill.items()})
    return out.order_by("customer_id")


def customer_features(data, as_of=None, *, window_days: int = 90) -> pd.DataFrame:
    """One row per customer with the behaviour segmentation and propensity models start from.

    Computed as one Ibis query where the data lives (Ibis' default DuckDB for a
    :class:`~crmkit.schema.CRMData`; the engine itself for a :class:`crmkit.io.Connection`),
    using only rows dated on or before ``as_of``; only the customer-level result is
    collected. A table missing from ``data`` means its columns are absent, not an error
    (only ``customers`` is required).

    Parameters
    ----------
    data : CRMData, crmkit.io.Connection or mapping of table name to DataFrame / Ibis table
        The CRM tables.
    as_of : date-like, optional
        The as-of day: everything up to the end of that day counts, nothing after it.
        Default: the day of the last order.
    window_days : int, default 90
        Length of the recent window (the ``*_90d`` columns; the suffix follows it).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (ascending), one row per customer created on or before
        ``as_of``. Columns, float64 unless said:

        - ``region``, ``acquisition_channel`` (str, may be missing); ``tenure_days``
          (whole days from the day the customer was created to ``as_of``);
        - from transactions: ``orders`` (distinct order ids), ``revenue``,
          ``avg_order_value``, ``days_since_first_order``, ``days_since_last_order``
          (these three NaN without orders), ``orders_90d``, ``revenue_90d``,
          ``category_share__<category>`` (share of revenue), ``sales_channel_share__<channel>``
          (share of orders); shares are 0 without orders and suffixes are lower-cased
          values with ``_`` for anything not a letter or digit;
        - from interactions: ``contacts_outbound_90d``, ``contacts_inbound_90d``;
        - from tickets: ``tickets_90d``, ``tickets_total``, ``csat_mean`` (the mean rating
          of tickets resolved by ``as_of``; NaN without one);
        - from consents: ``consent__<channel>`` for every contact channel, 1.0 when
          granted (on every row for that customer and channel), else 0.0; NaN when a row
          for it was updated after ``as_of`` (consents carry no history, so the state on
          the day is unknown).

    Examples
    --------
    >>> import pandas as pd
    >>> from crmkit.schema import CRMData
    >>> data = CRMData(
    ...     customers=pd.DataFrame({"customer_id": ["a", "b", "c"],
    ...                             "created_at": pd.to_datetime(["2024-01-01", "2024-01-10", "2024-03-01"])}),
    ...     transactions=pd.DataFrame({"order_id": ["1", "2", "3"], "customer_id": ["a", "a", "b"],
    ...                                "ordered_at": pd.to_datetime(["2024-01-05", "2024-01-30", "2024-02-01"]),
    ...                                "amount": [10.0, 30.0, 5.0], "category": ["Home", "Toys", "Home"]}))
    >>> f = customer_features(data, as_of="2024-01-31")
    >>> f[["tenure_days", "orders", "revenue", "days_since_last_order"]]
                 tenure_days  orders  revenue  days_since_last_order
    customer_id
    a                   30.0     2.0     40.0                    1.0
    b                   21.0     0.0      0.0                    NaN
    >>> f["category_share__toys"].tolist()
    [0.75, 0.0]
    """
    expr = customer_features_expr(data, as_of, window_days=window_days)
    result = expr.to_pyarrow().to_pandas()
    result = result.set_index("customer_id")
    for col in ("region", "acquisition_channel"):
        result[col] = result[col].astype("string")
    floats = [c for c in result.columns if c not in ("region", "acquisition_channel")]
    result[floats] = result[floats].astype("float64")
    result.columns.name = None
    return result
