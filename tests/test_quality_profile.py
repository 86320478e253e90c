"""crmkit.quality.profile: every planted defect is counted exactly, load rejects count too, examples are masked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import phonenumbers
import plotly.graph_objects as go
import pytest

import crmkit.io
from crmkit.errors import ParameterError
from crmkit.privacy import scan_pii
from crmkit.quality import profile
from crmkit.quality._messy import messy_extract
from crmkit.schema import CRMData, TABLES

AS_OF = "2026-01-01"


def _rule(prof, table, column, rule):
    r = prof.rules[(prof.rules["table"] == table) & (prof.rules["column"] == column) & (prof.rules["rule"] == rule)]
    assert len(r) == 1, (table, column, rule, prof.rules[prof.rules["table"] == table][["column", "rule"]].values.tolist())
    return r.iloc[0]


@pytest.fixture(scope="module")
def clean(small_world):
    return profile(small_world.data, as_of=AS_OF)


def test_profile_of_the_demo_world(clean, small_world):
    data = small_world.data
    assert set(clean.tables.index) == set(TABLES)
    assert clean.tables["score"].between(0, 100).all()
    assert (clean.tables["rows_in"] == pd.Series(data.row_counts())).all()
    # the data model's own checks are among the rules, e.g. allowed channels and the csat range
    assert _rule(clean, "consents", "channel", "allowed values")["failed"] == 0
    assert _rule(clean, "tickets", "csat", "maximum")["checked"] == data.tickets["csat"].notna().sum()
    # what fails is counted exactly, against an independent count
    cust = data.customers
    invalid_phones = sum(not phonenumbers.is_valid_number(phonenumbers.parse(p, "GB")) for p in cust["phone"])
    assert _rule(clean, "customers", "phone", "phone number")["failed"] == invalid_phones
    assert _rule(clean, "customers", "email", "completeness")["failed"] == cust["email"].isna().sum() > 0
    # a table whose rules all pass scores 100; the score is the mean pass rate of the rules
    for table, row in clean.tables.iterrows():
        rules = clean.rules[(clean.rules["table"] == table) & (clean.rules["checked"] > 0)]
        assert row["score"] == pytest.approx(100 * rules["pass_rate"].mean())
        assert row["rules"] == len(rules)
    assert clean.tables.loc["transactions", "score"] == 100.0
    assert clean.integrity.empty
    # freshness: the newest order is the last day of the demo window
    assert clean.tables.loc["transactions", "age_days"] == (pd.Timestamp(AS_OF) - pd.Timestamp("2025-12-31")).days


def test_column_profile(clean, small_world):
    cols = clean.columns.set_index(["table", "column"])
    assert cols.loc[("customers", "customer_id"), "uniqueness"] == 1.0
    assert cols.loc[("customers", "email"), "completeness"] == pytest.approx(small_world.data.customers["email"].notna().mean())
    assert cols.loc[("consents", "channel"), "distinct"] == 5
    # no min/max shown for personal data
    assert pd.isna(cols.loc[("customers", "birth_date"), "min"])
    assert cols.loc[("transactions", "amount"), "min"] >= 0


def test_planted_defects_are_each_counted(small_world):
    d = small_world.data
    cust = d.customers.copy()
    cust.loc[[0, 1, 2], "email"] = ["not-an-address", "two@@at.com", "blank @x.com"]
    cust.loc[3, "birth_date"] = pd.Timestamp("2030-01-01")
    cust = pd.concat([cust, cust.iloc[[4]]], ignore_index=True)  # a repeated customer_id
    tx = d.transactions.copy()
    tx.loc[[0, 1], "ordered_at"] = pd.Timestamp("2027-05-01")
    tx.loc[[2, 3, 4, 5, 6], "customer_id"] = ["NOPE1", "NOPE2", "NOPE3", "NOPE4", "NOPE5"]
    tk = d.tickets.copy()
    resolved = tk.index[tk["resolved_at"].notna()][:4]
    tk.loc[resolved, "resolved_at"] = tk.loc[resolved, "opened_at"] - pd.Timedelta(hours=1)
    cons = d.consents.copy()
    flip = cons.iloc[[10, 20]].copy()
    flip["granted"] = ~flip["granted"]
    cons = pd.concat([cons, flip], ignore_index=True)
    inter = d.interactions.copy()
    inter["channel"] = inter["channel"].astype("string")
    inter.loc[0, "channel"] = "fax"
    data = CRMData(customers=cust, transactions=tx, tickets=tk, consents=cons, interactions=inter)

    prof = profile(data, as_of=AS_OF)
    assert _rule(prof, "customers", "email", "e-mail format")["failed"] == 3
    assert _rule(prof, "customers", "birth_date", "plausible birth date")["failed"] == 1
    assert _rule(prof, "customers", "customer_id", "unique key")["failed"] == 1
    assert _rule(prof, "transactions", "ordered_at", "not in the future")["failed"] == 2
    assert _rule(prof, "transactions", "customer_id", "customer_id → customers")["failed"] == 5
    assert _rule(prof, "tickets", "resolved_at", "resolved_at ≥ opened_at")["failed"] == 4
    assert _rule(prof, "consents", "channel", "one row per customer and channel")["failed"] == 2
    assert _rule(prof, "consents", "granted", "consents agree")["failed"] == 4  # both rows of each pair
    assert _rule(prof, "interactions", "channel", "allowed values")["failed"] == 1
    integ = prof.integrity.set_index("table")
    assert integ.loc["transactions", "rows"] == 5 and "NOPE1" in integ.loc["transactions", "example_values"]
    assert integ.loc["transactions", "example_keys"].startswith(tx.loc[2, "order_id"])
    # examples are masked: no address of the data appears in the rules frame
    bad = _rule(prof, "customers", "email", "e-mail format")
    assert "not-an-address" not in bad["examples"] and bad["examples"].startswith("n***")
    assert scan_pii(prof.rules, known=cust).empty
    # the defects lower the scores, and the worst rules lead with the biggest failure
    assert (prof.tables.loc[["customers", "transactions", "tickets", "consents"], "score"] < 100).all()
    worst = prof.worst_rules(3)
    assert worst["failed"].is_monotonic_decreasing and worst.iloc[0]["failed"] >= 5


def test_a_column_of_the_wrong_type_fails_its_type_rule_for_every_row(small_world):
    tx = small_world.data.transactions.head(50).copy()
    tx["amount"] = tx["amount"].astype(str)
    prof = profile(CRMData(transactions=tx), as_of=AS_OF)
    assert _rule(prof, "transactions", "amount", "type")["failed"] == 50
    assert _rule(prof, "transactions", "amount", "minimum")["failed"] == 0  # not run on the wrong type
    assert prof.tables.loc["transactions", "clean_row_share"] == 0.0


@pytest.fixture(scope="module")
def messy_loaded(tmp_path_factory):
    mx = messy_extract(600, random_state=21)
    folder = mx.write_csv(tmp_path_factory.mktemp("messy"))
    return mx, crmkit.io.load(folder)


def test_rows_set_aside_at_load_count_against_their_table(messy_loaded):
    mx, loaded = messy_loaded
    prof = profile(loaded, as_of=AS_OF)
    counts = loaded.report.counts.set_index("table")
    for table in ("customers", "transactions", "consents"):
        row = prof.tables.loc[table]
        assert row["rows_in"] == counts.at[table, "rows_in"] == len(mx.tables[table])
        assert row["rows_in"] == row["rows_used"] + row["rows_set_aside"]
    load_rules = prof.rules[prof.rules["category"] == "set aside at load"]
    by_reason = loaded.report.by_reason()
    assert len(load_rules) == len(by_reason) and load_rules["failed"].sum() == by_reason["rows"].sum()
    planted = mx.defects.groupby("table").size()
    assert load_rules.groupby("table")["failed"].sum().to_dict() == planted.to_dict()
    # orders of customers that do not exist are an integrity problem found at load
    integ = prof.integrity[prof.integrity["stage"] == "set aside at load"].set_index("table")
    assert integ.loc["transactions", "rows"] == (mx.defects["defect"] == "customer does not exist").sum()
    # the disagreeing consents are valid rows: found by the consistency rule, not the loader
    assert _rule(prof, "consents", "granted", "consents agree")["failed"] > 0
    # no raw personal data in what the report shows
    assert scan_pii(prof.rules, known=loaded.data.customers).empty
    assert scan_pii(prof.rules).empty
    assert (prof.tables["score"] < 100).all()


def test_plot_and_errors(clean):
    fig = clean.plot()
    assert isinstance(fig, go.Figure) and fig.layout.title.text and fig.layout.xaxis.title.text
    assert len(fig.data[0].y) == len(clean.tables)
    with pytest.raises(ParameterError, match="CRMData"):
        profile(pd.DataFrame())
    with pytest.raises(ParameterError, match="as_of"):
        profile(CRMData(customers=pd.DataFrame({"customer_id": ["a"], "created_at": [pd.Timestamp("2024-01-01")]})), as_of="soon")
    with pytest.raises(ParameterError, match="at least one table"):
        profile(CRMData())
    assert np.isfinite(clean.summary()["score"]).all()
