"""crmkit.segment: RFM scores by hand, the rule table, clustering invariances, profiles,
migration bookkeeping, saving and loading, and the errors a user sees.

The truth tests (does segmentation recover what the demo world planted) are in
tests/test_segment_truth.py.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmkit import segment
from crmkit.errors import DataValidationError, ParameterError, SourceError
from crmkit.schema import CRMData, pii_columns


# --------------------------------------------------------------------------- fixtures
def rfm_fixture() -> pd.DataFrame:
    """Eleven customers; the expected scores below are worked out by hand in the test."""
    return pd.DataFrame(
        {
            "days_since_last_order": [5, 10, 10, 30, 45, 60, 90, 200, 365, 500, np.nan],
            "orders": [12, 8, 8, 5, 3, 2, 1, 1, 1, 1, 0],
            "revenue": [1200, 900, 400, 500, 150, 90, 60, 40, 25, 10, 0],
        },
        index=pd.Index([f"c{i:02d}" for i in range(1, 12)], name="customer_id"),
        dtype="float64",
    )


@pytest.fixture(scope="module")
def kmeans_seg(small_world):
    return segment.segment_customers(small_world.data, method="kmeans", k=4, n_bootstrap=4, random_state=1)


@pytest.fixture(scope="module")
def world_features(kmeans_seg):
    return kmeans_seg.customer_features


# --------------------------------------------------------------------------- RFM by hand
def test_rfm_scores_agree_with_a_hand_computation():
    """Score = 1 + floor(5 × (average rank − ½) / n) over the 10 customers with orders.

    Recency (ranked on −days; c02 and c03 tie at ranks 8 and 9 → 8.5):
    ranks 10, 8.5, 8.5, 7, 6, 5, 4, 3, 2, 1 → R = 5 5 5 4 3 3 2 2 1 1.
    Frequency (four one-order customers tie at ranks 1-4 → 2.5; c02/c03 at 8.5):
    ranks 10, 8.5, 8.5, 7, 6, 5, 2.5 ×4 → F = 5 5 5 4 3 3 2 2 2 2.
    Monetary: ranks 10, 9, 7, 8, 6, 5, 4, 3, 2, 1 → M = 5 5 4 4 3 3 2 2 1 1.
    FM = round-half-up((F + M) / 2) = 5 5 5 4 3 3 2 2 2 2 (4.5 and 1.5 round up).
    """
    model = segment.RFMSegmentation().fit(rfm_fixture())
    s = model.scores_
    assert s["R"].tolist()[:10] == [5, 5, 5, 4, 3, 3, 2, 2, 1, 1]
    assert s["F"].tolist()[:10] == [5, 5, 5, 4, 3, 3, 2, 2, 2, 2]
    assert s["M"].tolist()[:10] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert s["FM"].tolist()[:10] == [5, 5, 5, 4, 3, 3, 2, 2, 2, 2]
    assert s.loc["c11", ["R", "F", "M", "FM"]].isna().all()
    # names from the grid: R4-5 × FM4-5 Champions, R3 FM3 Need attention, R1-2 FM2 Hibernating
    assert s["segment"].tolist() == ["Champions"] * 4 + ["Need attention"] * 2 + ["Hibernating"] * 4 + [segment.NO_ORDERS]
    assert s.loc["c11", "segment_id"] == 0
    # thresholds in the data's units: days (at most), orders and £ (at least) for scores 2..5
    th = model.thresholds_
    assert th.loc["days_since_last_order"].tolist() == [200, 60, 30, 10]
    assert th.loc["orders"].tolist() == [1, 2, 5, 8]
    assert th.loc["revenue"].tolist() == [40, 90, 400, 900]


def test_rfm_scores_new_customers_on_the_fitted_scale():
    model = segment.RFMSegmentation().fit(rfm_fixture())
    new = pd.DataFrame(
        {"days_since_last_order": [0.0, 1000.0], "orders": [1.0, 30.0], "revenue": [10.0, 5000.0]},
        index=pd.Index(["n1", "n2"], name="customer_id"),
    )
    s = model.scores(new)
    # n1: R 5 (more recent than every threshold), F 2 (one order earns 2 here), M 1 → FM 2 → Potential loyalists
    assert s.loc["n1", ["R", "F", "M", "FM"]].tolist() == [5, 2, 1, 2]
    assert s.loc["n1", "segment"] == "Potential loyalists"
    # n2: R 1, F 5, M 5 → Can't lose them
    assert s.loc["n2", "segment"] == "Can't lose them"
    # the fitted customers score the same through predict as at fit
    pd.testing.assert_series_equal(model.predict(rfm_fixture()), model.scores_["segment"].rename("segment"))


def test_quintile_scores_are_balanced_without_ties_and_shared_with_ties():
    s = segment.quintile_scores(pd.Series(np.arange(100.0)))
    assert s.value_counts().sort_index().tolist() == [20] * 5
    tied = segment.quintile_scores(pd.Series([7.0] * 50 + list(range(50))))
    assert tied.iloc[:50].nunique() == 1
    assert segment.quintile_scores(pd.Series([1.0, 2.0, 3.0]), higher_is_better=False).tolist() == [5, 3, 1]
    with pytest.raises(DataValidationError, match="missing"):
        segment.quintile_scores(pd.Series([1.0, np.nan]))


# --------------------------------------------------------------------------- the rule table
def _published(text: str) -> tuple[int, int]:
    lo, _, hi = str(text).partition("-")
    return int(lo), int(hi or lo)


def test_segment_names_follow_the_published_rule_table():
    grid = segment.rfm_grid()
    rules = segment.RFM_RULES.drop_duplicates("segment").set_index("segment")
    expected = {"Champions", "Loyal", "Potential loyalists", "New", "Promising", "Need attention", "About to sleep",
                "At risk", "Can't lose them", "Hibernating", "Lost"}
    assert set(grid.to_numpy().ravel()) == expected  # every one of the 11 reachable, nothing else
    for fm in grid.index:
        for r in grid.columns:
            name = grid.loc[fm, r]
            r_lo, r_hi = _published(rules.loc[name, "published_r"])
            f_lo, f_hi = _published(rules.loc[name, "published_fm"])
            assert r_lo <= r <= r_hi and f_lo <= fm <= f_hi, f"cell R{r} FM{fm} ({name}) is outside the published range"
    # every rule lies inside its published ranges too
    for row in segment.RFM_RULES.itertuples():
        r_lo, r_hi = _published(row.published_r)
        f_lo, f_hi = _published(row.published_fm)
        assert r_lo <= row.r_min <= row.r_max <= r_hi and f_lo <= row.fm_min <= row.fm_max <= f_hi, row.segment


def test_a_custom_rule_table_is_used_and_gaps_are_named():
    rules = pd.DataFrame({"segment": ["Best", "Rest"], "r_min": [4, 1], "r_max": [5, 3], "fm_min": [4, 1], "fm_max": [5, 3]})
    grid = segment.rfm_grid(rules)
    assert grid.loc[5, 5] == "Best" and grid.loc[1, 1] == "Rest" and grid.loc[5, 1] == "Other (no rule)"
    model = segment.RFMSegmentation(rules=rules).fit(rfm_fixture())
    assert set(model.scores_["segment"]) == {"Best", "Rest", segment.NO_ORDERS}
    lapsed_big_spender = pd.DataFrame({"days_since_last_order": [1000.0], "orders": [30.0], "revenue": [5000.0]},
                                      index=pd.Index(["n2"], name="customer_id"))
    assert model.predict(lapsed_big_spender).tolist() == ["Other (no rule)"]
    assert "Other (no rule)" in set(model.segment_names_)
    with pytest.raises(ParameterError, match="r_max"):
        segment.RFMSegmentation(rules=rules.drop(columns="r_max")).fit(rfm_fixture())
    with pytest.raises(ParameterError, match="whole scores from 1 to 5"):
        segment.rfm_grid(rules.assign(r_max=[6, 3]))
    with pytest.raises(ParameterError, match="reserved"):
        segment.rfm_grid(rules.assign(segment=["Best", segment.NO_ORDERS]))


def test_rfm_segmentation_of_the_demo_world_accounts_for_every_customer(small_world, world_features):
    seg = segment.segment_customers(world_features, method="rfm")
    s = seg.summary()
    assert s["customers"].sum() == len(small_world.data.customers) == seg.n_customers
    assert s["value_share"].sum() == pytest.approx(1.0)
    assert set(s["segment"]) <= set(segment.RFM_RULES["segment"]) | {segment.NO_ORDERS}
    # the published descriptions and actions come with the segments
    assert s.set_index("segment").loc["Champions", "description"].startswith("Bought recently")
    assert seg.actions().set_index("segment").loc["Lost", "action"].startswith("One low-cost")
    assert seg.rule_table()["segment"].iloc[0] == "Champions"
    assert len(seg.plot_rfm_grid().data[0].z) == 5
    th = seg.rfm_thresholds()  # days at most (falling with the score), orders and £ at least (rising)
    assert th.shape == (3, 4) and th.iloc[0].is_monotonic_decreasing and th.iloc[2].is_monotonic_increasing
    renamed = seg.rename({"Champions": "Best customers"})
    assert "Best customers" in renamed.segment_names and "Champions" not in renamed.segment_names
    assert renamed.predict(world_features).eq(renamed.assignments["segment"]).all()


# --------------------------------------------------------------------------- invariances
def _random_features(seed: int, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    orders = rng.poisson(rng.choice([1.0, 4.0, 15.0], n)).astype(float)
    aov = rng.gamma(4, 12, n)
    online = rng.beta(2, 2, n)
    frame = pd.DataFrame(
        {
            "orders": orders,
            "revenue": orders * aov,
            "avg_order_value": np.where(orders > 0, aov, np.nan),
            "days_since_last_order": np.where(orders > 0, rng.integers(0, 700, n), np.nan).astype(float),
            "days_since_first_order": np.where(orders > 0, rng.integers(700, 900, n), np.nan).astype(float),
            "revenue_90d": np.round(rng.random(n) * orders * aov * 0.3, 2),
            "sales_channel_share__online": np.where(orders > 0, online, 0.0),
            "sales_channel_share__store": np.where(orders > 0, 1 - online, 0.0),
        },
        index=pd.Index([f"K{i:04d}" for i in range(n)], name="customer_id"),
    )
    return frame


def _scaled(frame: pd.DataFrame, factor: float) -> pd.DataFrame:
    out = frame.copy()
    for col in ("revenue", "avg_order_value", "revenue_90d"):
        out[col] = out[col] * factor
    return out


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), factor=st.sampled_from([0.01, 1.17, 100.0, 1234.5]), shuffle=st.integers(0, 10_000))
def test_assignment_is_invariant_to_row_order_and_currency(seed, factor, shuffle):
    frame = _random_features(seed)
    other = _scaled(frame, factor).sample(frac=1.0, random_state=shuffle)
    rfm_a = segment.segment_customers(frame, method="rfm").assignments
    rfm_b = segment.segment_customers(other, method="rfm").assignments
    pd.testing.assert_frame_equal(rfm_a, rfm_b)
    km_a = segment.segment_customers(frame, method="kmeans", k=3, n_bootstrap=0, random_state=seed).assignments
    km_b = segment.segment_customers(other, method="kmeans", k=3, n_bootstrap=0, random_state=seed).assignments
    pd.testing.assert_frame_equal(km_a, km_b)


def test_mixture_assignment_is_invariant_to_row_order_and_currency():
    frame = _random_features(5, n=300)
    a = segment.segment_customers(frame, method="gmm", k=3, n_bootstrap=0).assignments
    b = segment.segment_customers(_scaled(frame, 100.0).iloc[::-1], method="gmm", k=3, n_bootstrap=0).assignments
    pd.testing.assert_frame_equal(a, b)


# --------------------------------------------------------------------------- clustering
def test_clustering_sets_aside_customers_without_orders_and_numbers_segments_by_value(kmeans_seg, world_features):
    a = kmeans_seg.assignments
    assert len(a) == len(world_features)  # rows in = rows segmented + rows set aside
    no_orders = world_features["orders"] == 0
    assert (a.loc[no_orders, "segment_id"] == 0).all() and (a.loc[~no_orders, "segment_id"] > 0).all()
    assert kmeans_seg.n_segmented + int(no_orders.sum()) == kmeans_seg.n_customers
    assert f"{int(no_orders.sum()):,} set aside" in kmeans_seg.rows_line()
    per_customer = world_features["revenue"].groupby(a["segment_id"]).mean().drop(index=0)
    assert per_customer.is_monotonic_decreasing
    s = kmeans_seg.summary()
    assert s["customers"].sum() == kmeans_seg.n_customers
    assert s.loc[s["segment_id"] != 0, "value_share"].sum() == pytest.approx(1.0)
    assert s["segment"].is_unique
    assert (s.loc[s["segment_id"] != 0, "stability"].between(0, 1)).all()


def test_stability_and_k_selection_are_reported(world_features):
    seg = segment.segment_customers(world_features, method="kmeans", k="auto", n_bootstrap=6, k_range=(3, 5))
    table = seg.k_selection.table
    assert table["k"].tolist() == [3, 4, 5] and table["chosen"].sum() == 1
    best = table.loc[table["silhouette"].idxmax()]
    within = table[table["silhouette"] >= best["silhouette"] - best["silhouette_se"]]
    assert seg.model.k_ == int(within["k"].min())  # the one-standard-error rule
    assert (table["silhouette_se"] > 0).all()
    st_ = seg.stability
    assert len(st_.ari) == 6 and np.all((st_.ari > -0.5) & (st_.ari <= 1.0))
    lo, hi = st_.ari_interval
    assert lo <= st_.ari_mean <= hi and st_.ari_se >= 0
    assert "adjusted Rand index" in st_.describe()
    assert seg.plot_k().layout.xaxis.title.text == "Number of segments (k)"
    assert len(seg.plot_stability().data[0].x) == seg.model.k_
    g = segment.segment_customers(world_features, method="gmm", k="auto", n_bootstrap=2, k_range=(3, 4))
    assert g.k_selection.criterion == "bic"
    assert g.model.k_ == int(g.k_selection.table.loc[g.k_selection.table["bic"].idxmin(), "k"])


def test_large_n_paths_fit_a_sample_and_assign_everyone(world_features):
    """k-means above ``fit_sample`` is fitted on a sample then polished on all; MiniBatchKMeans on request."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    sampled = segment.ClusterSegmentation("kmeans", k=3, n_bootstrap=0, fit_sample=300).fit(world_features)
    assert isinstance(sampled.model_, KMeans) and sampled.converged_
    assert (sampled.labels_[world_features["orders"] > 0] > 0).all()
    full = segment.ClusterSegmentation("kmeans", k=3, n_bootstrap=0).fit(world_features)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(full.labels_, sampled.labels_) > 0.8
    mini = segment.ClusterSegmentation("kmeans", k=3, n_bootstrap=0, minibatch_above=500).fit(world_features)
    assert isinstance(mini.model_, MiniBatchKMeans)
    assert mini.predict(world_features).eq(mini.labels_.map(mini.segment_names_)).all()


def test_missing_tables_mean_fewer_features_not_a_crash(small_world):
    d = small_world.data
    only = CRMData(customers=d.customers, transactions=d.transactions)
    seg = segment.segment_customers(only, method="kmeans", k=3, features="full", n_bootstrap=0)
    assert "tickets_total" not in seg.features and "orders" in seg.features
    assert seg.n_customers == len(d.customers)
    assert segment.tables_needed("full") == ["customers", "transactions", "interactions", "tickets"]


def test_predict_assigns_new_customers_to_the_fitted_segments(small_world, kmeans_seg):
    # customers at an earlier date, features from data before it only, assigned by the fitted model
    early = segment.segmentation_features(small_world.data, "2024-06-30")
    assert len(early) < kmeans_seg.n_customers
    names = kmeans_seg.predict(early)
    assert set(names) <= set(kmeans_seg.segment_names) | {segment.NO_ORDERS}
    # the fitted customers are assigned where the fit put them
    again = kmeans_seg.predict(kmeans_seg.customer_features)
    assert (again == kmeans_seg.assignments["segment"]).all()


def test_results_hold_ids_only_no_personal_data(kmeans_seg, small_world):
    personal = set(pii_columns("customers"))
    assert personal.isdisjoint(kmeans_seg.to_frame().columns)
    assert personal.isdisjoint(kmeans_seg.customer_features.columns)
    ids = kmeans_seg.customer_ids(1)
    assert isinstance(ids, pd.Index) and len(ids) == (kmeans_seg.assignments["segment_id"] == 1).sum()
    assert set(ids) <= set(small_world.data.customers["customer_id"])
    by_name = kmeans_seg.customer_ids(kmeans_seg.segment_names[0])
    assert by_name.equals(ids)


# --------------------------------------------------------------------------- profiles and names
def test_profile_effects_are_standardised_differences_on_the_log_scale():
    f = pd.DataFrame({"orders": [1.0, 1.0, 3.0, 7.0], "category_share__toys": [0.0, 0.5, 0.5, 1.0]},
                     index=pd.Index(list("abcd"), name="customer_id"))
    labels = pd.Series([1, 1, 2, 2], index=f.index)
    p = segment.profile_segments(f, labels, value_col="orders")
    t = p.to_frame().set_index(["segment_id", "feature"])
    logged = np.log1p(f["orders"])
    expected = (logged[:2].mean() - logged.mean()) / logged.std(ddof=0)
    assert t.loc[(1, "orders"), "effect"] == pytest.approx(expected)
    assert t.loc[(2, "orders"), "mean"] == 5.0 and t.loc[(2, "orders"), "population_mean"] == 3.0
    assert t.loc[(2, "orders"), "mean_se"] == pytest.approx(np.std([3.0, 7.0], ddof=1) / np.sqrt(2))
    share = (f["category_share__toys"][2:].mean() - f["category_share__toys"].mean()) / f["category_share__toys"].std(ddof=0)
    assert t.loc[(2, "category_share__toys"), "effect"] == pytest.approx(share)
    s = p.summary().set_index("segment_id")
    assert s.loc[2, "value_share"] == pytest.approx(10 / 12)
    assert "frequent" in s.loc[2, "suggested_name"] and "toys-focused" in s.loc[2, "suggested_name"]


def test_names_can_be_overridden(kmeans_seg):
    renamed = kmeans_seg.rename({1: "Our best"})
    assert renamed.summary().set_index("segment_id").loc[1, "segment"] == "Our best"
    assert (renamed.assignments.loc[renamed.assignments["segment_id"] == 1, "segment"] == "Our best").all()
    assert kmeans_seg.summary().set_index("segment_id").loc[1, "segment"] != "Our best"  # the original is unchanged
    assert renamed.model.predict(kmeans_seg.customer_features).eq(renamed.assignments["segment"]).all()
    with pytest.raises(ParameterError, match="distinct"):
        kmeans_seg.rename({1: "X", 2: "X"})
    with pytest.raises(ParameterError, match="expected 4 names"):
        kmeans_seg.rename(["a", "b"])
    given = segment.segment_customers(kmeans_seg.customer_features, method="kmeans", k=4, n_bootstrap=0,
                                      random_state=1, names=["A", "B", "C", "D"])
    assert given.segment_names == ["A", "B", "C", "D"]


def test_recommended_actions_follow_the_editable_rules(kmeans_seg):
    actions = kmeans_seg.actions()
    assert len(actions) == len(kmeans_seg.segment_names)
    assert actions.loc[0, "action"] == "Reward and retain"  # the top-value, recent segment
    custom = pd.DataFrame({"action": ["Call them"], "when": ["value > 0"], "how": ["phone"]})
    mine = kmeans_seg.actions(custom)
    assert mine.loc[0, "action"] == "Call them" and (mine["action"].iloc[1:].isin(["Call them", "No rule matched"])).all()
    with pytest.raises(ParameterError, match="cannot evaluate"):
        kmeans_seg.actions(custom.assign(when=["value >>> 0"]))


def test_plots_have_titles_and_axis_titles(kmeans_seg):
    for fig in (kmeans_seg.plot(), kmeans_seg.plot_profile(), kmeans_seg.plot_segment(1)):
        assert fig.layout.title.text
        assert fig.layout.xaxis.title.text
    assert "(%)" in kmeans_seg.plot().layout.xaxis.title.text


# --------------------------------------------------------------------------- migration
@pytest.fixture(scope="module")
def migration(small_world, kmeans_seg):
    return segment.segment_migration(kmeans_seg, small_world.data, from_date="2024-12-31")


def test_migration_rows_sum_to_one_and_customers_are_conserved(migration, small_world, kmeans_seg):
    assert np.allclose(migration.shares.sum(axis=1), 1.0)
    f = migration.flows
    assert f["base_before"] + f["new"] + f["returned"] == f["lapsed"] + f["base_after"]
    assert f["still_present"] + f["lapsed"] == f["base_before"]
    # independently: the base at each date is the customers with an order in the 365 days before it
    before = segment.segmentation_features(small_world.data, "2024-12-31")
    after = kmeans_seg.customer_features
    in_before = (before["orders"] > 0) & (before["days_since_last_order"] <= 365)
    in_after = (after["orders"] > 0) & (after["days_since_last_order"] <= 365)
    assert f["base_before"] == int(in_before.sum()) and f["base_after"] == int(in_after.sum())
    first_after = before.index[before["orders"] == 0].union(after.index.difference(before.index))
    assert f["new"] == int(in_after.reindex(first_after, fill_value=False).sum())
    # each column total is that segment's size at the later date, as assigned by the model
    c = migration.counts
    sizes = kmeans_seg.assignments.loc[in_after[in_after].index, "segment"].value_counts()
    for name in kmeans_seg.segment_names:
        assert c[name].sum() == sizes.get(name, 0)
    assert migration.states.shape[0] == c.to_numpy().sum()
    assert set(migration.states.columns) == {"from_state", "to_state"}
    se = migration.shares_se.to_numpy()
    assert np.all(np.isfinite(se)) and np.all(se >= 0)


def test_migration_by_hand():
    """Four customers at two dates: one stays, one moves up, one lapses, one is new.

    Thresholds fitted on the RFM fixture: R from days ≤ 200/60/30/10, F from 1/2/5/8
    orders, M from £40/90/400/900.
    """
    model = segment.RFMSegmentation().fit(rfm_fixture())
    idx = pd.Index(["a", "b", "c", "d"], name="customer_id")
    before = pd.DataFrame({"days_since_last_order": [5.0, 300, 40, np.nan], "orders": [12.0, 1, 3, 0],
                           "revenue": [1200.0, 10, 150, 0]}, index=idx)
    after = pd.DataFrame({"days_since_last_order": [3.0, 4, 400, 2], "orders": [14.0, 9, 3, 1],
                          "revenue": [1500.0, 950, 150, 20]}, index=idx)
    m = segment.segment_migration(model, from_date="2024-01-01", to_date="2024-12-31",
                                  from_features=before, to_features=after)
    states = m.states
    assert states.loc["a"].tolist() == ["Champions", "Champions"]
    # b: 300 days (R1), one order (F2), £10 (M1) → FM 2 → Hibernating; then R5 F5 M5 → Champions
    assert states.loc["b"].tolist() == ["Hibernating", "Champions"]
    assert states.loc["c", "to_state"] == segment.LAPSED
    assert states.loc["d", "from_state"] == segment.NEW
    assert m.flows == {"base_before": 3, "new": 1, "returned": 0, "lapsed": 1, "still_present": 2,
                       "base_after": 3, "same_segment": 1}
    assert m.shares.loc[segment.NEW].sum() == pytest.approx(1.0)


def test_migration_plots_and_words(migration):
    heat = migration.plot("heatmap")
    assert heat.layout.title.text.startswith("Where customers moved")
    sankey = migration.plot("sankey")
    assert sum(sankey.data[0].link.value) == migration.counts.to_numpy().sum()
    assert "lapsed" in migration.describe()
    s = migration.summary()
    assert (s["customers_before"] - s["customers_after"] + s["net_change"] == 0).all()
    with pytest.raises(ParameterError, match="before to_date"):
        segment.segment_migration(migration_model := segment.RFMSegmentation().fit(rfm_fixture()),
                                  from_date="2025-01-01", to_date="2024-01-01",
                                  from_features=rfm_fixture(), to_features=rfm_fixture())
    assert migration_model is not None


# --------------------------------------------------------------------------- saving and loading
@pytest.fixture
def empty_store(tmp_path):
    path = tmp_path / "store.duckdb"
    duckdb.connect(str(path)).close()
    return path


def test_a_saved_segmentation_loads_back_and_predicts_the_same(kmeans_seg, empty_store):
    store, model_path = segment.save_segmentation(kmeans_seg, empty_store)
    assert model_path.parent == store.parent and model_path.is_file()
    con = duckdb.connect(str(store), read_only=True)
    try:
        cols = [r[0] for r in con.execute("DESCRIBE segments").fetchall()]
        n = con.execute("SELECT count(*) FROM segments").fetchone()[0]
    finally:
        con.close()
    assert cols == ["customer_id", "segment_id", "segment", "method", "as_of"]
    assert n == kmeans_seg.n_customers
    back = segment.load_segmentation(store)
    pd.testing.assert_series_equal(back.assignments["segment"], kmeans_seg.assignments["segment"])
    assert (back.predict(kmeans_seg.customer_features) == kmeans_seg.assignments["segment"]).all()
    assert back.meta["method"] == "kmeans" and back.meta["format_version"] == segment._store.FORMAT_VERSION
    # a named segmentation lives beside the default one
    segment.save_segmentation(kmeans_seg.rename({1: "Top"}), store, name="workshop")
    assert segment.load_segmentation(store, name="workshop").assignments["segment"].eq("Top").any()
    assert not segment.load_segmentation(store).assignments["segment"].eq("Top").any()


def test_loading_checks_versions_and_presence(kmeans_seg, empty_store):
    import joblib

    with pytest.raises(SourceError, match="missing"):
        segment.load_segmentation(empty_store)
    _, model_path = segment.save_segmentation(kmeans_seg, empty_store)
    payload = joblib.load(model_path)
    joblib.dump({**payload, "sklearn": "0.1.0"}, model_path)
    with pytest.raises(SourceError, match="scikit-learn 0.1.0"):
        segment.load_segmentation(empty_store)
    joblib.dump({**payload, "format_version": 99}, model_path)
    with pytest.raises(SourceError, match="format"):
        segment.load_segmentation(empty_store)
    with pytest.raises(ParameterError, match="lower-case"):
        segment.save_segmentation(kmeans_seg, empty_store, name="Bad Name; DROP")
    with pytest.raises(SourceError, match="no DuckDB store"):
        segment.save_segmentation(kmeans_seg, empty_store.with_name("absent.duckdb"))


# --------------------------------------------------------------------------- errors a user sees
def test_bad_input_gets_clear_errors(world_features):
    f = world_features
    with pytest.raises(ParameterError, match="method: expected one of 'rfm', 'kmeans', 'gmm'"):
        segment.segment_customers(f, method="dbscan")
    with pytest.raises(ParameterError, match="k: expected a whole number of segments"):
        segment.segment_customers(f, method="kmeans", k=1)
    with pytest.raises(DataValidationError, match="expected a column 'loyalty_points'"):
        segment.segment_customers(f, method="kmeans", k=3, features=["orders", "loyalty_points"])
    with pytest.raises(ParameterError, match="features: expected one of"):
        segment.segment_customers(f, method="kmeans", k=3, features="everything")
    dup = pd.concat([f.iloc[:3], f.iloc[:1]])
    with pytest.raises(DataValidationError, match="repeated customer ids"):
        segment.segment_customers(dup, method="rfm")
    with pytest.raises(DataValidationError, match="expected columns 'orders'"):
        segment.segment_customers(f.drop(columns="orders"), method="kmeans", k=3)
    with pytest.raises(DataValidationError, match="need at least"):
        segment.segment_customers(f.iloc[:5], method="kmeans", k=4)
    with pytest.raises(ParameterError, match="as_of: expected a date"):
        segment.segmentation_features(CRMData(), "not a date")
    with pytest.raises(DataValidationError, match="transactions"):
        segment.segmentation_features(CRMData(customers=pd.DataFrame({"customer_id": ["a"]})))
