"""Truth tests of duplicate detection: the demo world's planted duplicates and a client-like extract.

Measured (random_state 0): demo world 2,000 records, seed 0 — precision 1.000 and recall
1.000 (60 of 60 pairs; seeds 1–3, which the tests do not use, the same); the client-like
extract of 1,000 people, seed 5 — precision 1.000 (147 of 147 found pairs), recall 0.993
(147 of 148 true pairs). The tests ask for ≥ 0.95 each. Larger sizes and other seeds are
measured in ``benchmarks/bench_duplicates.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import crmkit.io
from crmkit.errors import DataValidationError, ParameterError
from crmkit.privacy import scan_pii
from crmkit.quality import DuplicateModel, find_duplicates, match_quality, single_customer_view
from crmkit.quality._messy import messy_extract


@pytest.fixture(scope="module")
def found(small_world):
    return find_duplicates(small_world.data.customers, random_state=0)


def test_planted_duplicates_are_found(found, small_world):
    truth = small_world.truth.duplicate_pairs
    q = match_quality(found.clusters, truth)
    assert q.at["precision", "value"] >= 0.95 and q.at["recall", "value"] >= 0.95, q
    assert q.at["recall", "out_of"] == len(truth) == round(0.03 * 2000)
    # the interval is a real 95 % interval around the estimate
    assert q.at["recall", "ci_low"] < q.at["recall", "value"] <= q.at["recall", "ci_high"] <= 1
    assert found.n_duplicates == pytest.approx(len(truth), abs=3)


def test_clusters_and_pairs_are_consistent(found, small_world):
    ids = small_world.data.customers["customer_id"].astype(str)
    c = found.clusters
    assert len(c) == len(ids) and set(c["customer_id"]) == set(ids) and c["customer_id"].is_unique
    assert (c.groupby("cluster_id")["customer_id"].transform("min") == c["cluster_id"]).all()
    assert (c.groupby("cluster_id")["customer_id"].transform("size") == c["cluster_size"]).all()
    p = found.pairs
    assert p["match_probability"].between(0, 1).all() and (p["customer_id_l"] < p["customer_id_r"]).all()
    assert (p["is_match"] == (p["match_probability"] >= found.threshold)).all()
    # every matched pair ends in one cluster
    cl = c.set_index("customer_id")["cluster_id"]
    m = p[p["is_match"]]
    assert (cl.loc[m["customer_id_l"]].to_numpy() == cl.loc[m["customer_id_r"]].to_numpy()).all()
    s = found.summary()
    assert s.at["customer records", "value"] == 2000 and s.at["records merged away", "value"] == found.n_duplicates
    assert isinstance(found.plot(), go.Figure)


def test_a_lower_threshold_never_finds_fewer_matches(found):
    loose = found.model.predict(threshold=0.5)
    strict = found.model.predict(threshold=0.999)
    assert loose.n_people <= found.n_people <= strict.n_people


def test_the_model_learned_sensible_weights(found):
    params = found.model.params_
    assert params["m_probability"].between(0, 1).all() and params["u_probability"].between(0, 1).all()
    sums = params.groupby("comparison")["m_probability"].sum()
    assert np.allclose(sums, 1.0)
    weight = params.set_index(["comparison", "level"])["match_weight"]
    assert weight[("email", "Same e-mail")] > 10 and weight[("phone", "Same phone")] > 10
    assert weight[("birth_date", "All other comparisons")] < -5
    assert set(found.model.fields_) == {"name", "email", "phone", "address", "birth_date"}
    assert len(found.model.training_) == 2 and 0 < found.model.prior_ < 1e-3


def test_explanation_adds_up_and_shows_no_personal_data(found, small_world):
    pair = found.pairs[found.pairs["is_match"]].iloc[-1]
    w = found.explain(pair["customer_id_l"], pair["customer_id_r"])
    assert list(w["comparison"])[0] == "prior" and list(w["comparison"])[-1] == "final score"
    assert w["match_weight"].iloc[:-1].sum() == pytest.approx(w["match_weight"].iloc[-1])
    assert w["match_probability"].iloc[-1] == pytest.approx(pair["match_probability"])
    assert scan_pii(w, known=small_world.data.customers).empty
    fig = found.plot_explanation(pair["customer_id_l"], pair["customer_id_r"])
    assert isinstance(fig, go.Figure) and fig.layout.yaxis.title.text
    with pytest.raises(ParameterError, match="not among"):
        found.explain("C000001", "NOPE")


def test_example_clusters_are_masked(found, small_world):
    ex = found.examples(small_world.data.customers, n=3)
    assert ex["cluster_id"].nunique() == 3 and (ex.groupby("cluster_id").size() >= 2).all()
    assert scan_pii(ex, known=small_world.data.customers).empty
    assert ex["email"].dropna().str.contains(r"\*\*\*@", regex=True).all()
    assert ex["postcode"].dropna().str.endswith(" ***").all() and "city" not in ex.columns


def test_merging_the_found_duplicates_keeps_orders_revenue_and_opt_outs(found, small_world):
    data = small_world.data
    scv = single_customer_view(data, found)
    assert scv.n_merged == found.n_duplicates
    assert len(scv.data.transactions) == len(data.transactions)
    assert scv.data.transactions["amount"].sum() == pytest.approx(data.transactions["amount"].sum(), rel=1e-12)
    before = data.consents.assign(golden=data.consents["customer_id"].map(scv.merge_map.set_index("customer_id")["golden_id"]))
    opted_out = before.loc[~before["granted"].astype(bool), ["golden", "channel"]].drop_duplicates()
    after = scv.data.consents.set_index(["customer_id", "channel"])["granted"]
    assert not after.loc[list(opted_out.itertuples(index=False, name=None))].astype(bool).any()
    assert scv.data.integrity_problems() == {}


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    mx = messy_extract(1_000, random_state=5)
    loaded = crmkit.io.load(mx.write_csv(tmp_path_factory.mktemp("messy")), tables=["customers"])
    return mx, loaded.data.customers


def test_a_client_like_extract_with_typos(messy):
    """Transpositions, nicknames, swapped names, missing fields, moves: measured precision 1.000, recall 0.993."""
    mx, customers = messy
    ids = set(customers["customer_id"])
    truth = mx.truth[mx.truth["customer_id"].isin(ids) & mx.truth["duplicate_of"].isin(ids)]
    result = find_duplicates(customers, random_state=0)
    q = match_quality(result.clusters, truth)
    assert q.at["precision", "value"] >= 0.95 and q.at["recall", "value"] >= 0.95, q
    # each kind of variation is found in most cases, swapped names and nicknames included
    cl = result.clusters.set_index("customer_id")["cluster_id"]
    hit = cl.loc[truth["customer_id"]].to_numpy() == cl.loc[truth["duplicate_of"]].to_numpy()
    for kind in ("transposition", "swapped_names", "nickname", "missing", "moved", "new_email"):
        has = truth["variations"].str.contains(kind).to_numpy()
        assert has.sum() >= 5 and hit[has].mean() >= 0.85, (kind, hit[has].mean())
    # people sharing a household are not merged (or almost never)
    hh = mx.households
    merged = (cl.loc[hh["customer_id_l"]].to_numpy() == cl.loc[hh["customer_id_r"]].to_numpy()).mean()
    assert merged <= 0.05


def test_bad_input_is_refused(small_world):
    cust = small_world.data.customers
    with pytest.raises(DataValidationError, match="id column"):
        find_duplicates(cust.drop(columns="customer_id"))
    with pytest.raises(DataValidationError, match="each id once"):
        find_duplicates(pd.concat([cust.head(5), cust.head(1)]))
    with pytest.raises(DataValidationError, match="at least two of the fields"):
        find_duplicates(cust[["customer_id", "email", "created_at"]])
    with pytest.raises(ParameterError, match="threshold"):
        DuplicateModel(threshold=1.5).fit(cust)
    with pytest.raises(ParameterError, match="fit"):
        DuplicateModel().predict()
    with pytest.raises(DataValidationError, match="duplicate_of"):
        match_quality(pd.DataFrame({"customer_id": ["a"], "cluster_id": ["a"]}), pd.DataFrame({"x": [1]}))
