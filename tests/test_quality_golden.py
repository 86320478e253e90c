"""crmkit.quality.golden: survivorship rules with lineage, rows conserved, opt-outs win, revenue unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmkit.errors import DataValidationError, ParameterError
from crmkit.quality import single_customer_view
from crmkit.schema import CRMData


def _true_clusters(world) -> pd.DataFrame:
    person = world.truth.customers["person_id"]
    return pd.DataFrame({"customer_id": person.index.astype(str), "cluster_id": person.astype(str).to_numpy()})


@pytest.fixture(scope="module")
def scv(small_world):
    return single_customer_view(small_world.data, _true_clusters(small_world))


def test_rows_are_conserved_and_references_follow(scv, small_world):
    data = small_world.data
    rc = scv.row_counts.set_index("table")
    assert (rc["rows_in"] == rc["rows_out"] + rc["rows_merged"]).all()
    assert (rc["rows_in"] == pd.Series(data.row_counts())).all()
    n_dup = len(small_world.truth.duplicate_pairs)
    assert rc.at["customers", "rows_merged"] == scv.n_merged == n_dup
    assert rc.at["consents", "rows_merged"] == 5 * n_dup  # one row per channel and merged record
    for table in ("transactions", "interactions", "campaign_members", "opportunities", "tickets", "campaigns"):
        assert rc.at[table, "rows_merged"] == 0
    assert scv.data.integrity_problems() == {}
    # the golden id is the cluster's oldest record: the original, in the demo world
    originals = set(small_world.truth.duplicate_pairs["duplicate_of"])
    golden = set(scv.merge_map.loc[scv.merge_map["cluster_size"] > 1, "golden_id"])
    assert golden == originals
    assert scv.data.customers["customer_id"].is_unique


def test_orders_and_revenue_are_unchanged(scv, small_world):
    before, after = small_world.data.transactions, scv.data.transactions
    assert len(after) == len(before)
    assert after["amount"].sum() == pytest.approx(before["amount"].sum(), rel=1e-12)
    assert (after["order_id"].to_numpy() == before["order_id"].to_numpy()).all()
    # each order moved to the golden record of its customer, and nowhere else
    gm = scv.merge_map.set_index("customer_id")["golden_id"]
    assert (after["customer_id"].to_numpy() == gm.loc[before["customer_id"]].to_numpy()).all()
    s = scv.summary()
    assert s.at["revenue", "change"] == pytest.approx(0.0, abs=1e-6)
    assert s.at["customers", "after"] == len(scv.data.customers)
    buyers = after["customer_id"].nunique()
    assert s.at["revenue per customer who bought", "after"] == pytest.approx(after["amount"].sum() / buyers)
    assert s.at["revenue per customer who bought", "after"] >= s.at["revenue per customer who bought", "before"]


def test_an_opt_out_on_any_record_wins(scv, small_world):
    before = small_world.data.consents
    gm = scv.merge_map.set_index("customer_id")["golden_id"]
    expected = (
        before.assign(golden=gm.loc[before["customer_id"]].to_numpy(), g=before["granted"].astype(bool))
        .groupby(["golden", "channel"], observed=True)["g"].min()
    )
    after = scv.data.consents.set_index(["customer_id", "channel"])["granted"].astype(bool)
    after.index = after.index.set_names(["golden", "channel"])
    pd.testing.assert_series_equal(after.sort_index(), expected.sort_index(), check_names=False)
    cs = scv.consent_summary()
    assert (cs["granted_after"] <= cs["granted_before"]).all() and cs["opt_outs_won"].sum() > 0
    assert isinstance(scv.plot(), go.Figure)


def test_lineage_names_a_member_of_the_cluster(scv):
    lin = scv.lineage
    members = scv.merge_map.set_index("customer_id")["golden_id"]
    has_source = lin["source_customer_id"].notna()
    assert (members.loc[lin.loc[has_source, "source_customer_id"]].to_numpy() == lin.loc[has_source, "golden_id"].to_numpy()).all()
    assert set(lin["field"]) == set(scv.rules)
    assert (lin.loc[lin["field"] == "created_at", "source_customer_id"] == lin.loc[lin["field"] == "created_at", "golden_id"]).all()


def _toy():
    customers = pd.DataFrame(
        {
            "customer_id": ["a1", "a2", "a3", "b1"],
            "first_name": ["Jon", "John", "John", "Bea"],
            "email": [None, "old@x.org", "new@x.org", "bea@y.org"],
            "phone": ["0791", None, None, "0792"],
            "street": ["1 Oak Rd", "1 Oak Rd", None, "2 Elm St"],
            "created_at": pd.to_datetime(["2023-01-01", "2023-06-01", "2024-02-01", "2023-03-01"]),
            "source": ["shop", "crm", "web", "shop"],
        }
    )
    clusters = pd.DataFrame({"customer_id": ["a1", "a2", "a3", "b1"], "cluster_id": ["a", "a", "a", "b"]})
    return CRMData(customers=customers), clusters


def test_survivorship_rules_pick_the_right_record():
    data, clusters = _toy()
    scv = single_customer_view(data, clusters)
    gold = scv.data.customers.set_index("customer_id")
    assert list(gold.index) == ["a1", "b1"]
    assert gold.at["a1", "first_name"] == "John"  # most frequent (2 of 3)
    assert gold.at["a1", "email"] == "new@x.org"  # most recent with a value
    assert gold.at["a1", "phone"] == "0791"  # the only one with a value
    assert gold.at["a1", "created_at"] == pd.Timestamp("2023-01-01")  # earliest
    lin = scv.lineage.set_index("field")["source_customer_id"]
    assert lin["email"] == "a3" and lin["phone"] == "a1" and lin["first_name"] in {"a2", "a3"}

    other = single_customer_view(
        data, clusters, rules={"email": "earliest", "street": "most_complete", "first_name": "source_priority"},
        source_col="source", source_priority=["crm", "shop"],
    )
    g = other.data.customers.set_index("customer_id")
    assert g.at["a1", "email"] == "old@x.org"
    assert g.at["a1", "first_name"] == "John"  # from crm (a2)
    assert other.lineage.set_index("field").at["first_name", "source_customer_id"] == "a2"
    assert g.at["a1", "street"] == "1 Oak Rd"
    assert other.lineage.set_index("field").at["street", "source_customer_id"] in {"a1", "a2"}


def test_bad_input_is_refused():
    data, clusters = _toy()
    with pytest.raises(DataValidationError, match="one cluster row for every customer"):
        single_customer_view(data, clusters.iloc[:3])
    with pytest.raises(ParameterError, match="one of"):
        single_customer_view(data, clusters, rules={"email": "newest"})
    with pytest.raises(ParameterError, match="source_col"):
        single_customer_view(data, clusters, rules={"email": "source_priority"})
    with pytest.raises(DataValidationError, match="cluster_id"):
        single_customer_view(data, clusters.rename(columns={"cluster_id": "x"}))
    with pytest.raises(ParameterError, match="customers table"):
        single_customer_view(CRMData(), clusters)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), share=st.floats(0.0, 0.6))
def test_invariants_hold_for_any_clustering(small_world, seed, share):
    """Property: whatever the clusters, rows are conserved, revenue unchanged and no opt-out becomes an opt-in."""
    rng = np.random.default_rng(seed)
    data = small_world.data
    sub_ids = data.customers["customer_id"].iloc[:200].astype(str).to_numpy()
    cust = data.customers.iloc[:200]
    tx = data.transactions[data.transactions["customer_id"].isin(sub_ids)]
    cons = data.consents[data.consents["customer_id"].isin(sub_ids)]
    # random clusters: a share of records joins a random earlier record's cluster
    cluster = sub_ids.copy()
    for i in np.flatnonzero(rng.random(len(sub_ids)) < share):
        cluster[i] = cluster[rng.integers(0, len(sub_ids))]
    clusters = pd.DataFrame({"customer_id": sub_ids, "cluster_id": cluster})
    scv = single_customer_view(CRMData(customers=cust, transactions=tx, consents=cons), clusters)
    rc = scv.row_counts.set_index("table")
    assert (rc["rows_in"] == rc["rows_out"] + rc["rows_merged"]).all()
    assert rc.at["customers", "rows_out"] == clusters["cluster_id"].nunique()
    assert len(scv.data.transactions) == len(tx)
    assert scv.data.transactions["amount"].sum() == pytest.approx(tx["amount"].sum(), rel=1e-12)
    gm = scv.merge_map.set_index("customer_id")["golden_id"]
    out = cons.assign(golden=gm.loc[cons["customer_id"]].to_numpy())
    opted_out = set(map(tuple, out.loc[~out["granted"].astype(bool), ["golden", "channel"]].to_numpy()))
    after = scv.data.consents
    granted_after = set(map(tuple, after.loc[after["granted"].astype(bool), ["customer_id", "channel"]].to_numpy()))
    assert not (opted_out & granted_after)
    assert scv.data.customers["customer_id"].is_unique
