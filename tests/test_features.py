"""Tests of crmkit.features.

Golden reference: lifetimes 0.11.3, ``lifetimes.utils.summary_data_from_transaction_data``
on the CDNOW master file that ships in its wheel (Fader, Hardie & Lee 2005, "Counting
your customers the easy way", CDNOW 1/10th sample: 23,570 customers, 1997-01-01 to
1998-06-30).
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmkit.errors import DataValidationError, ParameterError
from crmkit import features
from crmkit.features import TIME_UNITS, customer_table_expr, rfm_summary
from crmkit.schema import CRMData

COLUMNS = ["frequency", "recency", "T", "monetary_value"]


def _lifetimes_summary():
    lifetimes = pytest.importorskip("lifetimes")
    with warnings.catch_warnings():
        # lifetimes sets a pandas option that pandas 3 deprecates, on import.
        warnings.simplefilter("ignore")
        from lifetimes.utils import summary_data_from_transaction_data
    return lifetimes, summary_data_from_transaction_data


def _lifetimes(tx, *, freq, end=None, cid="customer_id", at="ordered_at", amount="amount"):
    _, summary = _lifetimes_summary()
    out = summary(tx, cid, at, monetary_value_col=amount, observation_period_end=end, freq=freq)
    out.index.name = "customer_id"
    return out


def _tx(rows):
    """A transactions frame from ``(customer_id, 'YYYY-MM-DD[ HH:MM]', amount)`` tuples."""
    df = pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount"])
    df["ordered_at"] = pd.to_datetime(df["ordered_at"], format="ISO8601")
    return df


def _row(summary, customer):
    return summary.loc[customer, COLUMNS].tolist()


# --------------------------------------------------------------------------- CDNOW


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    lifetimes, _ = _lifetimes_summary()
    path = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_master.txt"
    df = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    assert len(df) == 69_659 and df["customer_id"].nunique() == 23_570
    return df


@pytest.mark.parametrize("time_unit", ["W", "D"])
@pytest.mark.parametrize("end", ["1998-06-30", None, "1997-09-30"])
def test_equals_lifetimes_on_cdnow(cdnow, time_unit, end):
    expected = _lifetimes(cdnow, freq=time_unit, end=end, at="date", amount="dollar_value")
    got = rfm_summary(
        cdnow, observation_end=end, time_unit=time_unit, datetime_col="date", monetary_col="dollar_value"
    )
    assert len(got) == 23_570
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, atol=1e-9)
    # Not a vacuous comparison: repeat buyers, truncation and spend all show up.
    assert (got["frequency"] > 0).sum() > 5_000
    assert got["monetary_value"].max() > 100


def test_cdnow_known_values(cdnow):
    # Customer 00003: orders on 1997-01-02, 03-30, 04-02, 11-15, 11-25 and 1998-05-28
    # (weeks starting 1996-12-30, 03-24, 03-31, 11-10, 11-24, 1998-05-25).
    got = rfm_summary(cdnow, observation_end="1998-06-30", time_unit="W", datetime_col="date", monetary_col="dollar_value")
    frequency, recency, T, monetary = _row(got, "00003")
    assert (frequency, recency, T) == (5.0, 73.0, 78.0)
    assert monetary == pytest.approx(27.14)


def test_duckdb_table_gives_the_same_result(cdnow, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "crm.duckdb"
    raw = duckdb.connect(str(path))
    frame = cdnow.rename(columns={"date": "ordered_at", "dollar_value": "amount"})
    raw.register("df", frame)
    raw.execute("CREATE TABLE transactions AS SELECT * FROM df")
    # The same data with a DATE column, as a warehouse would often hold it.
    raw.execute("CREATE TABLE transactions_dates AS SELECT customer_id, CAST(ordered_at AS DATE) AS ordered_at, amount FROM df")
    raw.close()

    con = ibis.duckdb.connect(str(path))
    try:
        for end in ["1998-06-30", None]:
            from_pandas = rfm_summary(frame, observation_end=end)
            from_table = rfm_summary(con.table("transactions"), observation_end=end)
            from_dates = rfm_summary(con.table("transactions_dates"), observation_end=end)
            pd.testing.assert_frame_equal(from_table, from_pandas)
            pd.testing.assert_frame_equal(from_dates, from_pandas)
    finally:
        con.disconnect()


# ------------------------------------------------------------------ hand computed


def test_same_period_purchases_count_once():
    tx = _tx(
        [
            ("a", "2024-01-01 09:00", 10.0),
            ("a", "2024-01-01 18:00", 5.0),  # same day as the first: part of it
            ("a", "2024-01-03", 20.0),  # same week, another day
            ("a", "2024-01-10", 40.0),
        ]
    )
    daily = rfm_summary(tx, observation_end="2024-01-31", time_unit="D")
    # Days: Jan 1 (15), Jan 3 (20), Jan 10 (40); end Jan 31.
    assert _row(daily, "a") == [2.0, 9.0, 30.0, 30.0]
    weekly = rfm_summary(tx, observation_end="2024-01-31", time_unit="W")
    # Weeks from Monday: Jan 1 (35), Jan 8 (40); end in the week of Jan 29.
    assert _row(weekly, "a") == [1.0, 1.0, 4.0, 40.0]


def test_monetary_value_is_mean_of_repeat_period_sums():
    tx = _tx(
        [
            ("a", "2024-01-01", 1000.0),  # first period: left out
            ("a", "2024-01-02", 5.0),
            ("a", "2024-01-02", 15.0),  # period sum 20
            ("a", "2024-01-05", 40.0),
        ]
    )
    got = rfm_summary(tx, observation_end="2024-01-05", time_unit="D")
    assert _row(got, "a") == [2.0, 4.0, 4.0, 30.0]


def test_week_runs_monday_to_sunday():
    tx = _tx([("a", "2024-01-07", 1.0), ("a", "2024-01-08", 2.0), ("b", "2024-01-08", 1.0), ("b", "2024-01-14", 2.0)])
    got = rfm_summary(tx, observation_end="2024-01-14", time_unit="W")
    assert _row(got, "a") == [1.0, 1.0, 1.0, 2.0]  # Sunday, then the next Monday
    assert _row(got, "b") == [0.0, 0.0, 0.0, 0.0]  # Monday and Sunday of one week


def test_purchases_after_observation_end_are_ignored():
    tx = _tx(
        [
            ("a", "2024-01-02", 10.0),
            ("a", "2024-02-20", 50.0),  # after the end: ignored
            ("b", "2024-03-01", 10.0),  # only after the end: no row
            ("c", "2024-01-30", 10.0),
            ("c", "2024-02-01", 99.0),  # after the end but in its week: counts (lifetimes' rule)
        ]
    )
    weekly = rfm_summary(tx, observation_end="2024-01-30", time_unit="W")
    assert list(weekly.index) == ["a", "c"]
    assert _row(weekly, "a") == [0.0, 0.0, 4.0, 0.0]
    assert _row(weekly, "c") == [0.0, 0.0, 0.0, 0.0]
    daily = rfm_summary(tx, observation_end="2024-01-30", time_unit="D")
    assert _row(daily, "c") == [0.0, 0.0, 0.0, 0.0]
    assert daily.loc["a", "T"] == 28.0


def test_first_purchase_in_last_period_has_T_zero():
    tx = _tx([("a", "2024-01-01", 5.0), ("a", "2024-03-04", 7.0), ("new", "2024-03-06", 12.0)])
    got = rfm_summary(tx, time_unit="W")  # default end: the last order, 2024-03-06
    assert _row(got, "new") == [0.0, 0.0, 0.0, 0.0]
    assert _row(got, "a") == [1.0, 9.0, 9.0, 7.0]


def test_default_observation_end_is_the_last_order():
    tx = _tx([("a", "2024-01-01", 5.0), ("a", "2024-01-11", 7.0), ("b", "2024-01-21", 1.0)])
    pd.testing.assert_frame_equal(
        rfm_summary(tx, time_unit="D"), rfm_summary(tx, observation_end="2024-01-21", time_unit="D")
    )
    assert rfm_summary(tx, time_unit="D").loc["a", "T"] == 20.0


def test_months_count_calendar_months():
    tx = _tx([("a", "2024-01-31", 5.0), ("a", "2024-02-01", 6.0), ("a", "2024-03-01", 7.0), ("b", "2024-05-31", 1.0)])
    got = rfm_summary(tx, observation_end="2024-05-15", time_unit="M")
    assert list(got.index) == ["a", "b"]  # b's order is in the end's month
    assert _row(got, "a") == [2.0, 2.0, 4.0, 6.5]
    assert _row(got, "b") == [0.0, 0.0, 0.0, 0.0]


def test_missing_customers_and_dates_and_amounts_follow_lifetimes():
    tx = _tx(
        [
            ("a", "2024-01-01", 5.0),
            ("a", "2024-01-09", np.nan),  # no amount: sums as 0
            ("a", "2024-01-20", 3.0),
            (None, "2024-02-28", 9.0),  # no customer: left out (but its date still ends the window)
            ("b", None, 9.0),  # no date: left out
            ("b", "2024-01-02", 4.0),
        ]
    )
    got = rfm_summary(tx, time_unit="D")
    assert list(got.index) == ["a", "b"]
    assert _row(got, "a") == [2.0, 19.0, 58.0, 1.5]
    pd.testing.assert_frame_equal(got, _lifetimes(tx, freq="D"), check_exact=False, rtol=1e-12)


_customers = st.sampled_from(["a", "b", "c", "d", "e"])
_times = st.datetimes(min_value=dt.datetime(2023, 12, 1), max_value=dt.datetime(2024, 3, 31))
_amounts = st.floats(min_value=0, max_value=1e4, allow_nan=False).map(lambda x: round(x, 2))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(_customers, _times, _amounts), min_size=1, max_size=40),
    time_unit=st.sampled_from(["D", "W"]),
    end=st.one_of(st.none(), st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2024, 4, 10))),
)
def test_equals_lifetimes_on_random_logs(rows, time_unit, end):
    tx = _tx([(c, pd.Timestamp(t).isoformat(), a) for c, t, a in rows])
    end = None if end is None else end.isoformat()
    expected = _lifetimes(tx, freq=time_unit, end=end)
    got = rfm_summary(tx, observation_end=end, time_unit=time_unit)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ the contract


def test_result_shape_order_and_dtypes():
    tx = _tx([("c", "2024-01-05", 1.0), ("a", "2024-01-02", 2.0), ("b", "2024-01-03", 3.0), ("a", "2024-01-09", 4.0)])
    got = rfm_summary(tx.sample(frac=1, random_state=0))
    assert list(got.index) == ["a", "b", "c"]
    assert got.index.name == "customer_id"
    assert list(got.columns) == COLUMNS
    assert (got.dtypes == "float64").all()


def test_callers_frame_is_not_modified_or_shared():
    tx = _tx([("a", "2024-01-02", 2.0), ("a", "2024-01-20", 4.0), ("b", "2024-01-03", 3.0)])
    tx["note"] = ["x", "y", "z"]
    tx.index = [10, 20, 30]
    before = tx.copy(deep=True)
    got = rfm_summary(tx, observation_end="2024-01-31")
    pd.testing.assert_frame_equal(tx, before)
    assert not any(np.shares_memory(got[c].to_numpy(), tx["amount"].to_numpy()) for c in COLUMNS)
    got.loc["a", "monetary_value"] = -1.0
    pd.testing.assert_frame_equal(tx, before)


def test_column_overrides():
    tx = _tx([("a", "2024-01-02", 2.0), ("a", "2024-01-20", 4.0), ("b", "2024-01-03", 3.0)])
    foreign = tx.rename(columns={"customer_id": "kunde", "ordered_at": "datum", "amount": "umsatz"})
    expected = rfm_summary(tx, observation_end="2024-01-31")
    got = rfm_summary(
        foreign, observation_end="2024-01-31", customer_id_col="kunde", datetime_col="datum", monetary_col="umsatz"
    )
    pd.testing.assert_frame_equal(got, expected)
    without_money = rfm_summary(tx, observation_end="2024-01-31", monetary_col=None)
    pd.testing.assert_frame_equal(without_money, expected[COLUMNS[:3]])


def test_integer_ids_and_date_column():
    tx = pd.DataFrame(
        {"customer_id": [10, 2, 2], "ordered_at": [dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 5)], "amount": [1, 2, 3]}
    )
    got = rfm_summary(tx, time_unit="D")
    assert list(got.index) == [2, 10]
    assert _row(got, 2) == [1.0, 3.0, 3.0, 3.0]
    assert _row(got, 10) == [0.0, 0.0, 4.0, 0.0]


def test_observation_end_accepts_timestamps_and_periods():
    tx = _tx([("a", "2024-01-02", 2.0), ("a", "2024-01-20", 4.0)])
    expected = rfm_summary(tx, observation_end="2024-01-31", time_unit="D")
    for end in [dt.date(2024, 1, 31), dt.datetime(2024, 1, 31, 23, 0), pd.Timestamp("2024-01-31"), pd.Period("2024-01-31", "D")]:
        pd.testing.assert_frame_equal(rfm_summary(tx, observation_end=end, time_unit="D"), expected)


def test_empty_input_gives_empty_frame():
    tx = _tx([("a", "2024-01-02", 2.0)]).iloc[:0]
    got = rfm_summary(tx)
    assert got.empty and list(got.columns) == COLUMNS and got.index.name == "customer_id"
    assert (got.dtypes == "float64").all()


@pytest.mark.parametrize("time_unit", TIME_UNITS)
@pytest.mark.parametrize("dialect", ["postgres", "snowflake"])
def test_expression_compiles_for_other_engines(time_unit, dialect):
    tx = _tx([("a", "2024-01-02", 2.0)])
    expr = customer_table_expr(tx, time_unit=time_unit)
    assert isinstance(expr, ibis.Table)
    assert expr.columns == ("customer_id", *COLUMNS)
    sql = ibis.to_sql(expr, dialect=dialect)
    assert "GROUP BY" in sql.upper()


def test_docstring_examples_run():
    import doctest

    import crmkit.features

    failed, attempted = doctest.testmod(crmkit.features, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted >= 8 and failed == 0


# ------------------------------------------------------------------------ errors


def test_missing_column_names_it_and_what_was_found():
    tx = _tx([("a", "2024-01-02", 2.0)]).rename(columns={"amount": "value"})
    with pytest.raises(DataValidationError) as err:
        rfm_summary(tx)
    msg = str(err.value)
    assert msg.startswith("transactions: expected a column 'amount'")
    assert "found columns 'customer_id', 'ordered_at', 'value'" in msg
    assert "monetary_col=" in msg
    with pytest.raises(DataValidationError, match="expected a column 'kunde'.*customer_id_col="):
        rfm_summary(tx, customer_id_col="kunde", monetary_col="value")


def test_missing_column_of_an_ibis_table():
    t = ibis.memtable(_tx([("a", "2024-01-02", 2.0)]).drop(columns="ordered_at"))
    with pytest.raises(DataValidationError, match="expected a column 'ordered_at'.*datetime_col="):
        rfm_summary(t)


def test_unknown_time_unit_lists_the_allowed_ones():
    tx = _tx([("a", "2024-01-02", 2.0)])
    with pytest.raises(ParameterError, match=r"time_unit: expected one of 'D', 'W', 'M'.*found 'Y'"):
        rfm_summary(tx, time_unit="Y")
    assert issubclass(ParameterError, ValueError)


def test_wrong_column_types():
    tx = _tx([("a", "2024-01-02", 2.0)])
    as_text = tx.assign(ordered_at=["20240102"])
    with pytest.raises(DataValidationError, match=r"transactions.ordered_at: expected a date or date-time, found type string.*pd.to_datetime"):
        rfm_summary(as_text)
    with pytest.raises(DataValidationError, match=r"transactions.amount: expected a number, found type string"):
        rfm_summary(tx.assign(amount=["2.0"]))
    mixed = _tx([("a", "2024-01-02", 2.0), ("b", "2024-01-03", 1.0)]).astype({"customer_id": object})
    mixed.loc[1, "customer_id"] = 7
    with pytest.raises(DataValidationError, match=r"transactions.customer_id: expected values of one type, found a mix"):
        rfm_summary(mixed)
    aware = tx.assign(ordered_at=tx["ordered_at"].dt.tz_localize("Europe/Berlin"))
    with pytest.raises(DataValidationError, match=r"timezone-naive.*tz_localize\(None\)"):
        rfm_summary(aware)


def test_bad_arguments():
    tx = _tx([("a", "2024-01-02", 2.0)])
    with pytest.raises(ParameterError, match="observation_end: expected a date or date-time, found 'soon'"):
        rfm_summary(tx, observation_end="soon")
    with pytest.raises(ParameterError, match="transactions: expected a pandas DataFrame or an ibis Table, found list"):
        rfm_summary([("a", "2024-01-02", 2.0)])


# ---------------------------------------------------------------- customer_features


def _oracle_features(data, as_of: str, window: int = 90) -> pd.DataFrame:
    """customer_features re-derived with plain pandas, column by column."""
    day = pd.Timestamp(as_of)
    end = day + pd.Timedelta(days=1)
    since = end - pd.Timedelta(days=window)
    cust = data.customers[data.customers["created_at"] < end].set_index("customer_id").sort_index()
    out = pd.DataFrame(index=cust.index)
    out["tenure_days"] = (day - cust["created_at"].dt.normalize()).dt.days.astype(float)
    tx = data.transactions[data.transactions["ordered_at"] < end]
    g = tx.groupby("customer_id")
    out["orders"] = g["order_id"].nunique().reindex(out.index).fillna(0).astype(float)
    out["revenue"] = g["amount"].sum().reindex(out.index).fillna(0.0)
    out["avg_order_value"] = out["revenue"] / out["orders"].where(out["orders"] > 0)
    out["days_since_last_order"] = (day - g["ordered_at"].max().dt.normalize()).dt.days.reindex(out.index).astype(float)
    recent = tx[tx["ordered_at"] >= since].groupby("customer_id")
    out["orders_90d"] = recent["order_id"].nunique().reindex(out.index).fillna(0).astype(float)
    rev_cat = tx.pivot_table(index="customer_id", columns="category", values="amount", aggfunc="sum", fill_value=0.0)
    share = rev_cat.div(rev_cat.sum(axis=1), axis=0).reindex(out.index).fillna(0.0)
    for cat in share.columns:
        out[f"category_share__{str(cat).lower()}"] = share[cat]
    inter = data.interactions[(data.interactions["at"] < end) & (data.interactions["at"] >= since)]
    out["contacts_outbound_90d"] = (
        inter[inter["direction"] == "outbound"].groupby("customer_id").size().reindex(out.index).fillna(0).astype(float)
    )
    tk = data.tickets[data.tickets["opened_at"] < end]
    out["tickets_total"] = tk.groupby("customer_id").size().reindex(out.index).fillna(0).astype(float)
    rated = tk[tk["resolved_at"] < end]
    out["csat_mean"] = rated.groupby("customer_id")["csat"].mean().reindex(out.index).astype(float)
    email = data.consents[data.consents["channel"] == "email"]
    state = email.groupby("customer_id")["granted"].min().astype(float)
    later = email[email["updated_at"] >= end].groupby("customer_id").size()
    state[state.index.isin(later.index)] = np.nan
    has_rows = out.index.isin(data.consents["customer_id"])
    out["consent__email"] = state.reindex(out.index)
    out.loc[~has_rows, "consent__email"] = 0.0
    return out


def test_customer_features_match_a_pandas_oracle(small_world):
    got = features.customer_features(small_world.data, as_of="2025-03-31")
    want = _oracle_features(small_world.data, "2025-03-31")
    assert list(got.index) == list(want.index)
    assert len(got) < len(small_world.data.customers)  # customers created later are left out
    for col in want.columns:
        np.testing.assert_allclose(got[col].to_numpy(), want[col].to_numpy(), rtol=1e-9, err_msg=col)
    shares = got.filter(like="category_share__").sum(axis=1)
    np.testing.assert_allclose(shares[got["orders"] > 0], 1.0)


def test_customer_features_ignore_everything_after_as_of(small_world):
    data = small_world.data
    before = features.customer_features(data, as_of="2025-03-31")
    cut = pd.Timestamp("2025-04-01")
    trimmed = CRMData(
        customers=data.customers[data.customers["created_at"] < cut],
        transactions=data.transactions[data.transactions["ordered_at"] < cut],
        interactions=data.interactions[data.interactions["at"] < cut],
        tickets=data.tickets[data.tickets["opened_at"] < cut],
        consents=data.consents,
    )
    # ratings given after as_of are not known on the day
    trimmed.tickets = trimmed.tickets.assign(csat=trimmed.tickets["csat"].where(trimmed.tickets["resolved_at"] < cut))
    after = features.customer_features(trimmed, as_of="2025-03-31")
    pd.testing.assert_frame_equal(before, after)


def test_customer_features_with_missing_tables_have_fewer_columns():
    data = CRMData(
        customers=pd.DataFrame({"customer_id": ["a"], "created_at": pd.to_datetime(["2024-01-01"])}),
    )
    got = features.customer_features(data, as_of="2024-02-01")
    assert list(got.columns) == ["region", "acquisition_channel", "tenure_days"]
    assert got.loc["a", "tenure_days"] == 31.0
    with pytest.raises(ParameterError, match="as_of"):
        features.customer_features(data)  # no transactions to default the date from
    with pytest.raises(DataValidationError, match="customers: the table is required"):
        features.customer_features(CRMData(transactions=pd.DataFrame({"order_id": [], "customer_id": []})), as_of="2024-01-01")
