"""crmkit.validation: coercion, rule checks, set-aside rows, conservation of rows."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmkit.errors import DataValidationError
from crmkit.schema import TABLES, pandera_schema
from crmkit.validation import validate, validate_table


def _customers(n=5):
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "created_at": [f"2024-01-0{i % 9 + 1}" for i in range(n)],
            "email": [f"p{i}@example.com" for i in range(n)],
            "region": ["North", "South", "East", "West", "North"][:n] + ["North"] * max(0, n - 5),
        }
    )


def _transactions():
    return pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
            "customer_id": ["c0", "c1", "c9", "c2", "c3", "c4"],
            "ordered_at": ["2024-02-01", "2024-02-02 10:11:12", "2024-02-03", "02/04/2024", "2024-02-05", ""],
            "amount": ["10", "-1", "5", "7.5", "N/A", "3"],
            "category": ["a", "b", "c", "d", "e", "f"],
        }
    )


def test_clean_data_passes_untouched():
    result = validate({"customers": _customers()})
    assert result.report.ok
    assert result.report.line() == "5 rows read: 5 used, 0 set aside."
    assert list(result.data.customers["customer_id"]) == [f"c{i}" for i in range(5)]
    assert str(result.data.customers["created_at"].dtype) == "datetime64[ns]"
    pandera_schema("customers").validate(result.data.customers)


def test_each_bad_row_is_set_aside_with_table_row_column_and_reason():
    result = validate({"customers": _customers(), "transactions": _transactions()})
    rej = result.rejects.set_index("row")
    assert sorted(rej.index) == [2, 3, 4, 5, 6]
    assert rej.loc[2, "column"] == "amount" and "expected a number ≥ 0" in rej.loc[2, "reason"]
    assert rej.loc[3, "reason"] == "customer_id not found in customers.customer_id"
    assert rej.loc[4, "column"] == "ordered_at" and "'02/04/2024'" in rej.loc[4, "reason"]
    assert rej.loc[5, "reason"] == "expected a number ≥ 0, found 'N/A'"
    assert rej.loc[6, "column"] == "ordered_at" and rej.loc[6, "reason"].startswith("missing value")
    assert (rej["table"] == "transactions").all()
    assert rej.loc[5, "key"] == "o5"
    counts = result.report.summary().set_index("table")
    assert counts.loc["transactions"].tolist() == [6, 1, 5]
    assert result.report.line() == "11 rows read: 6 used, 5 set aside (1 table with rejects: transactions)."
    # the raw rows are kept as read, with their reasons
    raw = result.rejected_rows["transactions"]
    assert raw["_row"].tolist() == [2, 3, 4, 5, 6] and raw.loc[3, "amount"] == "N/A"


def test_messages_say_where_expected_found_and_first_row():
    result = validate({"customers": _customers(), "transactions": _transactions()})
    msgs = "\n".join(result.report.messages())
    assert "transactions.amount: expected a number ≥ 0, found '-1.0' in 2 of 6 rows (first: row 2, order_id 'o2')" in msgs


def test_duplicate_keys_keep_the_first_and_set_aside_the_rest():
    cust = pd.concat([_customers(), _customers().iloc[[1]]], ignore_index=True)
    result = validate({"customers": cust})
    assert result.rejects["reason"].tolist() == ["duplicate customer_id (first seen in row 2); expected each value once"]
    assert result.rejects["row"].tolist() == [6]


def test_allowed_values_and_patterns():
    members = pd.DataFrame(
        {
            "campaign_id": ["k1"] * 4,
            "customer_id": ["c0", "c1", "c2", "c3"],
            "group": ["control", "treatment_a", "holdout", "treatment"],
            "converted": ["1", "0", "yes", "maybe"],
        }
    )
    campaigns = pd.DataFrame({"campaign_id": ["k1"], "channel": ["email"], "start": ["2024-01-01"]})
    result = validate({"customers": _customers(), "campaigns": campaigns, "campaign_members": members})
    rej = result.rejects.set_index("row")
    assert sorted(rej.index) == [3, 4]
    assert rej.loc[3, "column"] == "group"
    assert rej.loc[4, "column"] == "converted" and "'maybe'" in rej.loc[4, "reason"]
    assert result.data.campaign_members["converted"].tolist() == [True, False]


def test_missing_required_column_is_one_clear_error():
    with pytest.raises(DataValidationError, match=r"transactions.*expected the required column ordered_at, found columns"):
        validate({"transactions": _transactions().drop(columns="ordered_at")})


def test_input_frames_are_not_modified():
    tx = _transactions()
    before = tx.copy()
    validate({"customers": _customers(), "transactions": tx})
    pd.testing.assert_frame_equal(tx, before)


def test_dtypes_are_canonical(small_world):
    result = validate({name: df for name, df in small_world.data.tables().items()})
    assert result.report.ok, result.report
    for name, df in result.data.tables().items():
        pandera_schema(name).validate(df)


# --- property: rows are conserved under random corruption of valid data -------------

_CORRUPTIONS = ["", "N/A", "-5", "not a date", "2024-13-45", "   ", "maybe", "12,5", "∞", "c_unknown"]


@st.composite
def corrupted_tables(draw):
    n_cust = draw(st.integers(1, 12))
    customers = _customers(n_cust).astype(object)
    n_tx = draw(st.integers(0, 25))
    tx = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(n_tx)],
            "customer_id": [f"c{draw(st.integers(0, n_cust - 1))}" for _ in range(n_tx)],
            "ordered_at": ["2024-03-01"] * n_tx,
            "amount": ["9.99"] * n_tx,
        },
        dtype=object,
    )
    tables = {"customers": customers, "transactions": tx}
    for name, df in tables.items():
        n_cells = draw(st.integers(0, 2 * len(df)))
        for _ in range(n_cells):
            if len(df) == 0:
                break
            row = draw(st.integers(0, len(df) - 1))
            col = draw(st.sampled_from(list(df.columns)))
            df.iat[row, df.columns.get_loc(col)] = draw(st.sampled_from(_CORRUPTIONS))
        if len(df) and draw(st.booleans()):  # duplicate a row
            tables[name] = pd.concat([df, df.iloc[[draw(st.integers(0, len(df) - 1))]]], ignore_index=True)
    return tables


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted_tables())
def test_rows_in_equal_rows_used_plus_rows_set_aside(tables):
    result = validate(tables)
    counts = result.report.summary().set_index("table")
    for name, raw in tables.items():
        used = len(getattr(result.data, name))
        aside = int((result.rejects["table"] == name).sum())
        assert counts.loc[name, "rows_in"] == len(raw) == used + aside
        assert counts.loc[name, "rows_used"] == used and counts.loc[name, "rows_set_aside"] == aside
        # every set-aside row is named once, by its row number
        rows = result.rejects.loc[result.rejects["table"] == name, "row"]
        assert rows.is_unique and rows.between(1, len(raw)).all()
        pandera_schema(name).validate(getattr(result.data, name))
    assert result.data.integrity_problems() == {}


def test_every_table_has_a_schema_with_pii_marked():
    assert set(TABLES) == {
        "customers", "consents", "transactions", "interactions",
        "campaigns", "campaign_members", "opportunities", "tickets",
    }
    pii = {c for c, col in pandera_schema("customers").columns.items() if col.metadata["pii"]}
    assert pii == {"first_name", "last_name", "email", "phone", "street", "birth_date"}


def test_validate_table_rejects_unknown_table():
    with pytest.raises(DataValidationError, match="not a CRM table"):
        validate_table("orders", pd.DataFrame())
