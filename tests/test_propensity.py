"""Tests of crmkit.propensity.

References: DeLong, DeLong & Clarke-Pearson (1988), "Comparing the areas under two or
more correlated receiver operating characteristic curves", Biometrics 44:837–845 (the
AUC variance, checked here against its definition, the O(m·n) structural components);
Wilson (1927) score interval (checked against scipy's ``binomtest(...).proportion_ci``);
Cox (1958) recalibration (slope 1 and intercept 0 for calibrated scores).

Truth: the demo world (:mod:`crmkit.synth`) plants a BG/NBD buying process whose
per-purchase dropout probability is raised by bad service (``truth.churn_coefficients``);
see ``test_churn_model_recovers_the_demo_world``.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

from crmkit import features, propensity
from crmkit import _propensity_stats as pstats
from crmkit.errors import DataValidationError, ParameterError
from crmkit.propensity import PropensityModel, churn_dataset, evaluate, labelled_dataset, purchase_dataset
from crmkit.schema import CRMData

CUTOFF = "2025-09-30"
DAY_AFTER = pd.Timestamp(CUTOFF) + pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def churn(small_world):
    return churn_dataset(small_world.data, CUTOFF, horizon_days=90)


def _synthetic(n=2_000, seed=0):
    """A table that has nothing to do with crmkit's schema, with a known logit."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "colour": pd.array(rng.choice(["red", "green", "blue"], n), dtype="string"),
        }
    )
    logit = -0.5 + 1.5 * X["a"] - 1.0 * X["b"] + X["colour"].map({"red": 1.0, "green": 0.0, "blue": -1.0}).astype(float)
    y = pd.Series(rng.random(n) < 1 / (1 + np.exp(-logit)), name="responded")
    return X, y, 1 / (1 + np.exp(-logit))


# --------------------------------------------------------------------------- datasets


def test_churn_dataset_matches_an_independent_count(small_world, churn):
    data = small_world.data
    tx, cust = data.transactions, data.customers
    on_file = cust.loc[cust["created_at"] < DAY_AFTER, "customer_id"]
    at = tx["ordered_at"]
    recent = tx.loc[(at >= DAY_AFTER - pd.Timedelta(days=365)) & (at < DAY_AFTER), "customer_id"]
    population = sorted(set(on_file) & set(recent))
    after = set(tx.loc[(at >= DAY_AFTER) & (at < DAY_AFTER + pd.Timedelta(days=90)), "customer_id"])
    expected = pd.Series([c not in after for c in population], index=population)

    assert list(churn.X.index) == population
    assert churn.X.index.equals(churn.y.index)
    assert churn.y.dtype == bool and churn.y.name == "churned"
    np.testing.assert_array_equal(churn.y.to_numpy(), expected.to_numpy())
    assert 0.2 < churn.rate < 0.9
    # rows conserved: customers on file = population + set aside (with the reason)
    assert len(churn.X) + len(churn.set_aside) == len(on_file)
    assert set(churn.set_aside["reason"]) == {"no order in the 365 days up to the cutoff"}
    assert churn.set_aside.index.intersection(churn.X.index).empty
    # the definition says who and what, with the figures
    assert f"{len(population):,} customers who ordered in the 365 days up to 2025-09-30" in churn.definition
    assert "churned = no order in the 90 days after it (2025-10-01 to 2025-12-29)" in churn.definition
    assert churn.cutoff == pd.Timestamp(CUTOFF) and churn.horizon_days == 90
    assert churn.label_window == (DAY_AFTER, DAY_AFTER + pd.Timedelta(days=90))
    summ = churn.summary().set_index("measure")
    assert summ.loc["customers in the population", "value"] == len(population)
    assert summ.loc["churned (customers)", "value"] == int(expected.sum())
    assert summ.loc["churned rate", "low"] < churn.rate < summ.loc["churned rate", "high"]
    # the features are customer_features at the cutoff, restricted to the population, except
    # facts dated after the cutoff: consents changed later are unknown (missing), and only
    # ratings of tickets resolved by the cutoff count
    ref = features.customer_features(data, as_of=CUTOFF).loc[population]
    assert list(churn.X.columns) == list(ref.columns)
    plain = [c for c in ref.columns if not c.startswith("consent__") and c != "csat_mean"]
    pd.testing.assert_frame_equal(churn.X[plain], ref[plain])
    cons = data.consents
    changed = cons[cons["updated_at"] >= DAY_AFTER]
    for channel in ("email", "sms"):
        later = churn.X.index.isin(changed.loc[changed["channel"] == channel, "customer_id"])
        assert later.any() and churn.X.loc[later, f"consent__{channel}"].isna().all()
        col = f"consent__{channel}"
        pd.testing.assert_series_equal(churn.X.loc[~later, col], ref.loc[~later, col])
    tk = data.tickets
    rated = tk[(tk["opened_at"] < DAY_AFTER) & (tk["resolved_at"] < DAY_AFTER)].astype({"csat": "float64"})
    expected_csat = rated.groupby("customer_id")["csat"].mean().reindex(churn.X.index)
    np.testing.assert_allclose(churn.X["csat_mean"], expected_csat)
    assert any("consents changed after the cutoff" in n for n in churn.notes)
    frame = churn.to_frame()
    assert list(frame.columns)[-1] == "churned" and len(frame) == len(population)


def test_purchase_dataset_population_and_complement(small_world, churn):
    data = small_world.data
    buy = purchase_dataset(data, CUTOFF, horizon_days=90)
    on_file = data.customers.loc[data.customers["created_at"] < DAY_AFTER, "customer_id"]
    assert len(buy.X) == len(on_file) and buy.set_aside.empty
    assert buy.y.name == "purchased" and buy.y.dtype == bool
    assert f"Among the {len(on_file):,} customers on file on 2025-09-30" in buy.definition
    # on the churn population, purchased is exactly "not churned"
    np.testing.assert_array_equal(buy.y.loc[churn.X.index].to_numpy(), ~churn.y.to_numpy())
    active = purchase_dataset(data, CUTOFF, horizon_days=90, lookback_days=365)
    assert active.X.index.equals(churn.X.index)
    # customers who never ordered before the cutoff are in the default population
    assert (buy.X["orders"] == 0).sum() == (~on_file.isin(data.transactions.loc[
        data.transactions["ordered_at"] < DAY_AFTER, "customer_id"])).sum()


def _rewrite_the_future(world, cutoff) -> CRMData:
    """The same history up to the end of ``cutoff``, and a different one after it: every
    fact dated later is removed or changed. Features built at the cutoff must not move."""
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    d = world.data
    shift = pd.Timedelta(days=3)
    tickets = d.tickets[d.tickets["opened_at"] < end].copy()
    for col in ("first_response_at", "resolved_at"):
        tickets[col] = tickets[col].mask(tickets[col] >= end, tickets[col] + shift)
    later_rating = ~(tickets["resolved_at"] < end) & tickets["csat"].notna()
    tickets.loc[later_rating, "csat"] = 6 - tickets.loc[later_rating, "csat"]
    consents = d.consents.copy()
    later = consents["updated_at"] >= end
    consents.loc[later, "granted"] = ~consents.loc[later, "granted"]
    campaigns = d.campaigns[d.campaigns["start"] < end]
    members = d.campaign_members[d.campaign_members["campaign_id"].isin(campaigns["campaign_id"])]
    members = members[~(members["contacted_at"] >= end)].copy()
    running = members["campaign_id"].isin(campaigns.loc[campaigns["end"] >= end, "campaign_id"])
    members.loc[running, "converted"] = ~members.loc[running, "converted"]
    opps = d.opportunities[d.opportunities["created_at"] < end].copy()
    closed_later = opps["closed_at"] >= end
    opps.loc[closed_later, "closed_at"] = opps.loc[closed_later, "closed_at"] + shift
    opps.loc[closed_later, "won"] = ~opps.loc[closed_later, "won"].astype(bool)
    return CRMData(
        customers=d.customers[d.customers["created_at"] < end],
        consents=consents,
        transactions=d.transactions[d.transactions["ordered_at"] < end],
        interactions=d.interactions[d.interactions["at"] < end],
        campaigns=campaigns,
        campaign_members=members,
        opportunities=opps,
        tickets=tickets,
    )


def test_no_feature_leaks_information_from_after_the_cutoff(small_world, churn):
    other = _rewrite_the_future(small_world, CUTOFF)
    # the rewritten future really differs (so the comparison below can fail) ...
    d = small_world.data
    assert len(other.transactions) < len(d.transactions) and len(other.interactions) < len(d.interactions)
    assert (other.consents["granted"] != d.consents["granted"]).sum() > 100
    csat_then = d.tickets.loc[other.tickets.index, "csat"].astype("float64")
    assert (other.tickets["csat"].astype("float64") != csat_then).any()
    # ... and the features at the cutoff are identical
    rebuilt = churn_dataset(other, CUTOFF, observation_end="2025-12-31")
    pd.testing.assert_frame_equal(rebuilt.X, churn.X)
    assert rebuilt.X.index.equals(churn.X.index)


def test_dataset_errors_say_what_to_do(small_world):
    data = small_world.data
    with pytest.raises(ParameterError, match=r"runs past the end of the data.*on or before 2025-10-02"):
        churn_dataset(data, "2025-11-30", horizon_days=90)
    with pytest.raises(ParameterError, match="expected a date"):
        churn_dataset(data, "2025-09-30 12:00")
    with pytest.raises(ParameterError, match="expected a date"):
        churn_dataset(data, "not a date")
    with pytest.raises(ParameterError, match="horizon_days"):
        purchase_dataset(data, CUTOFF, horizon_days=0)
    with pytest.raises(ParameterError, match="no customer ordered in the 365 days up to 2022-06-30"):
        churn_dataset(data, "2022-06-30")
    with pytest.raises(DataValidationError, match="transactions: the table is required"):
        churn_dataset(CRMData(customers=data.customers), CUTOFF)
    bad = data.transactions.assign(ordered_at=data.transactions["ordered_at"].astype(str))
    with pytest.raises(DataValidationError, match=r"transactions\.ordered_at: expected date-times"):
        churn_dataset(CRMData(customers=data.customers, transactions=bad), CUTOFF)
    with pytest.raises(ParameterError, match="expected a crmkit.schema.CRMData"):
        churn_dataset(data.transactions, CUTOFF)


def test_scoring_features_follow_the_dataset_rules(small_world, churn):
    data = small_world.data
    same = propensity.scoring_features(data, CUTOFF)
    pd.testing.assert_frame_equal(same, churn.X)
    now = propensity.scoring_features(data)  # the day of the last order
    last = data.transactions["ordered_at"].max().normalize() + pd.Timedelta(days=1)
    recent = data.transactions.loc[data.transactions["ordered_at"] >= last - pd.Timedelta(days=365), "customer_id"]
    assert set(now.index) == set(recent) & set(data.customers["customer_id"])
    assert list(now.columns) == list(churn.X.columns)


def test_labelled_dataset_on_any_table_sets_aside_missing_targets():
    df = pd.DataFrame(
        {"id": list("abcde"), "spend": [1.0, 2.0, np.nan, 4.0, 5.0], "left": ["yes", "no", "yes", None, "no"]}
    )
    ds = labelled_dataset(df, "left", positive="yes", id_col="id")
    assert list(ds.y.index) == ["a", "b", "c", "e"] and ds.y.tolist() == [True, False, True, False]
    assert list(ds.set_aside.index) == ["d"] and list(ds.X.columns) == ["spend"]
    assert len(ds.X) + len(ds.set_aside) == len(df)
    with pytest.raises(ParameterError, match="say which value is the positive outcome"):
        labelled_dataset(df, "left")
    with pytest.raises(DataValidationError, match="expected a binary outcome"):
        labelled_dataset(df.assign(left=["a", "b", "c", "d", "e"]), "left", positive="a")
    with pytest.raises(DataValidationError, match="frame.nope"):
        labelled_dataset(df, "nope")


# --------------------------------------------------------------------------- the model


def _mixed(n=600, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    X = pd.DataFrame(
        {
            "x": np.where(rng.random(n) < 0.1, np.nan, x),
            "count": pd.array(np.where(rng.random(n) < 0.1, None, rng.poisson(3, n)), dtype="Int64"),
            "flag": rng.random(n) < 0.3,
            "region": pd.array(np.where(rng.random(n) < 0.1, None, rng.choice(["N", "S", "E"], n)), dtype="string"),
            "tier": pd.Categorical(rng.choice(["gold", "silver"], n)),
            "mixed": pd.Series(rng.choice(["1", 2, "three"], n), dtype=object),
        }
    )
    y = pd.Series(rng.random(n) < 1 / (1 + np.exp(-(2 * x + (X["tier"] == "gold")))), name="y")
    return X, y


@pytest.mark.parametrize("kind", ["logistic", "gbm"])
def test_model_is_a_scikit_learn_classifier(kind):
    X, y = _mixed()
    model = PropensityModel(kind, n_jobs=1, max_iter=50 if kind == "gbm" else None)
    assert set(model.get_params()) >= {"model", "calibrate", "random_state", "C", "cv"}
    twin = clone(model.set_params(calibrate=True, cv=3))
    assert twin.get_params() == model.get_params() and not hasattr(twin, "classes_")
    with pytest.raises(NotFittedError):
        twin.predict_proba(X)
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    scores = cross_val_score(clone(model).set_params(calibrate=False), X, y, cv=cv, scoring="roc_auc")
    assert scores.shape == (4,) and scores.mean() > 0.75
    fitted = twin.fit(X, y)
    assert fitted is twin
    assert list(fitted.classes_) == [False, True]
    assert fitted.numeric_features_ == ["x", "count", "flag"]
    assert fitted.categorical_features_ == ["region", "tier", "mixed"]
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert set(fitted.predict(X)) <= {False, True}
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(again.predict_proba(X), proba)


def test_model_handles_unseen_categories_missing_values_and_column_order():
    X, y = _mixed()
    model = PropensityModel("logistic").fit(X, y)
    new = pd.DataFrame(
        {
            "mixed": ["never seen", None],
            "tier": pd.Categorical(["platinum", None]),
            "region": pd.array(["Mars", None], dtype="string"),
            "flag": [True, False],
            "count": pd.array([None, None], dtype="Int64"),
            "x": [np.nan, 0.5],
            "extra": [1, 2],  # columns the model did not see are ignored
        }
    )
    p = model.predict_proba(new)[:, 1]
    assert np.all(np.isfinite(p)) and np.all((p > 0) & (p < 1))
    # the same rows in the original column order give the same answer
    np.testing.assert_allclose(model.predict_proba(new[list(X.columns)])[:, 1], p)
    with pytest.raises(DataValidationError, match="missing region"):
        model.predict_proba(new.drop(columns="region"))
    # the evaluation ignores the extra column too
    res = evaluate(model, X.assign(extra=1.0), y, n_bootstrap=50, n_repeats=1)
    assert set(res.drivers.index) == set(X.columns)


def test_model_refuses_unusable_input():
    X, y = _mixed()
    with pytest.raises(DataValidationError, match="two outcome classes"):
        PropensityModel().fit(X, pd.Series(True, index=X.index))
    with pytest.raises(DataValidationError, match="1 missing"):
        PropensityModel().fit(X, y.astype(object).mask(y.index == 5))
    with pytest.raises(DataValidationError, match=r"X\.signup: expected numbers or categories"):
        PropensityModel().fit(X.assign(signup=pd.Timestamp("2025-01-01")), y)
    with pytest.raises(ParameterError, match="model: expected 'logistic' or 'gbm'"):
        PropensityModel("svm").fit(X, y)
    with pytest.raises(DataValidationError, match="expected 600 outcomes"):
        PropensityModel().fit(X, y[:10])


def test_logistic_coefficients_have_the_planted_signs():
    X, y, _ = _synthetic()
    coef = PropensityModel().fit(X, y).coefficients().set_index("feature")["coefficient"]
    assert coef["a"] > 1.0 and coef["b"] < -0.6 and abs(coef["noise"]) < 0.15
    assert coef["colour = red"] > coef["colour = green"] > coef["colour = blue"]
    with pytest.raises(ParameterError, match="only a logistic model without calibration"):
        PropensityModel(calibrate=True, cv=2).fit(X, y).coefficients()


def test_grid_search_over_the_model():
    X, y, _ = _synthetic(600)
    grid = GridSearchCV(
        PropensityModel(n_jobs=1),
        {"C": [0.01, 1.0]},
        scoring="roc_auc",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    )
    grid.fit(X, y)
    assert grid.best_params_["C"] in (0.01, 1.0) and grid.best_score_ > 0.75


def test_calibration_repairs_distorted_probabilities():
    # Balanced class weights inflate every probability of a rare outcome; calibration
    # (cross-validated Platt scaling) brings them back to the observed rate.
    rng = np.random.default_rng(11)
    n = 4_000
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = pd.Series(rng.random(n) < 1 / (1 + np.exp(-(-3.0 + X["a"] + 0.5 * X["b"]))), name="bought")
    tr, te = slice(0, 2_500), slice(2_500, None)
    raw = PropensityModel(class_weight="balanced").fit(X[tr], y[tr])
    cal = PropensityModel(class_weight="balanced", calibrate=True).fit(X[tr], y[tr])
    r_raw = evaluate(raw, X[te], y[te], n_bootstrap=200, drivers=False)
    r_cal = evaluate(cal, X[te], y[te], n_bootstrap=200, drivers=False)
    assert r_raw.scores.mean() > 3 * r_raw.base_rate
    assert abs(r_cal.scores.mean() - r_cal.base_rate) < 0.01
    assert r_cal.calibration["intercept_low"] < 0 < r_cal.calibration["intercept_high"]
    assert r_raw.calibration["intercept_high"] < -1
    assert r_cal.brier < r_raw.brier and r_cal.brier_skill > 0
    assert abs(r_cal.auc - r_raw.auc) < 0.01  # calibration keeps the ranking (nearly)


# --------------------------------------------------------------------------- statistics


def _delong_by_definition(y, s):
    """DeLong's structural components straight from the definition (O(m·n))."""
    pos, neg = s[y], s[~y]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)


def test_delong_matches_its_definition_and_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    y = rng.random(300) < 0.3
    s = np.round(rng.normal(size=300) + y, 1)  # rounded: many ties
    auc, var = pstats.delong_auc(y, s)
    ref_auc, ref_var = _delong_by_definition(y, s)
    assert auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert auc == pytest.approx(ref_auc, abs=1e-12) and var == pytest.approx(ref_var, rel=1e-10)
    # the stratified bootstrap agrees with DeLong on the standard error
    _, se_boot, lo, hi = pstats.bootstrap_auc(y, s, 2_000, np.random.default_rng(0))
    assert se_boot == pytest.approx(np.sqrt(var), rel=0.12)
    assert lo < auc < hi


def test_delong_interval_covers_the_true_auc():
    # Binormal scores: AUC = Phi(d / sqrt(2)). 400 samples of 60 positives and 90 negatives.
    rng = np.random.default_rng(1)
    d = 1.0
    true_auc = stats.norm.cdf(d / np.sqrt(2))
    y = np.r_[np.ones(60, bool), np.zeros(90, bool)]
    hits = 0
    for _ in range(400):
        s = np.r_[rng.normal(d, 1, 60), rng.normal(0, 1, 90)]
        _, _, lo, hi = pstats.auc_interval(y, s, 0.05)
        hits += lo <= true_auc <= hi
    assert 0.92 <= hits / 400 <= 0.98


def test_wilson_matches_scipy():
    k = np.array([0, 1, 7, 50, 99, 100])
    lo, hi = pstats.wilson_interval(k, 100, 0.1)
    ref = [stats.binomtest(int(x), 100).proportion_ci(confidence_level=0.9, method="wilson") for x in k]
    np.testing.assert_allclose(lo, [r.low for r in ref], atol=1e-12)
    np.testing.assert_allclose(hi, [r.high for r in ref], atol=1e-12)


def test_recalibration_matches_statsmodels():
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    rng = np.random.default_rng(8)
    p = rng.uniform(0.02, 0.9, 800)
    y = (rng.random(800) < 1 / (1 + np.exp(-(0.3 + 1.4 * np.log(p / (1 - p)))))).astype(float)
    got = pstats.recalibration(y, p, alpha=0.1)
    lp = np.log(p / (1 - p))
    slope = GLM(y, np.column_stack([np.ones(800), lp]), family=families.Binomial()).fit()
    icpt = GLM(y, np.ones((800, 1)), family=families.Binomial(), offset=lp).fit()
    assert got["slope"] == pytest.approx(slope.params[1], rel=1e-8)
    lo, hi = slope.conf_int(alpha=0.1)[1]
    assert (got["slope_low"], got["slope_high"]) == pytest.approx((lo, hi), rel=1e-6)
    assert got["intercept"] == pytest.approx(icpt.params[0], rel=1e-8)
    lo, hi = icpt.conf_int(alpha=0.1)[0]
    assert (got["intercept_low"], got["intercept_high"]) == pytest.approx((lo, hi), rel=1e-6)
    # perfectly separated outcomes: no estimate rather than nonsense
    assert np.isnan(pstats.recalibration([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])["slope"])


@pytest.fixture(scope="module")
def synthetic_eval():
    X, y, p_true = _synthetic(3_000, seed=2)
    model = PropensityModel("logistic").fit(X[:1500], y[:1500])
    return evaluate(model, X[1500:], y[1500:], n_bootstrap=300, n_repeats=5), X[1500:], y[1500:], p_true[1500:], model


def test_evaluation_figures_are_right(synthetic_eval):
    from sklearn.metrics import brier_score_loss, roc_auc_score

    res, X, y, _, model = synthetic_eval
    p = model.predict_proba(X)[:, 1]
    assert res.n == 1500 and res.n_positive == int(y.sum())
    assert res.auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert res.auc_method == "DeLong" and res.auc_low < res.auc < res.auc_high
    assert res.auc_se == pytest.approx(np.sqrt(_delong_by_definition(y.to_numpy(), p)[1]), rel=1e-10)
    assert res.brier == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert res.brier_reference == pytest.approx(y.mean() * (1 - y.mean()))
    assert res.brier_low < res.brier < res.brier_high
    assert res.brier_skill == pytest.approx(1 - res.brier / res.brier_reference)
    assert res.brier_skill_low < res.brier_skill < res.brier_skill_high
    # a correctly specified logistic model is calibrated: intercept 0 and slope 1 inside the intervals
    c = res.calibration
    assert c["intercept_low"] < 0 < c["intercept_high"] and c["slope_low"] < 1 < c["slope_high"]
    rel = res.reliability
    assert rel["customers"].sum() == res.n and len(rel) == 10
    assert (rel["observed_low"] <= rel["observed"]).all() and (rel["observed"] <= rel["observed_high"]).all()
    inside = (rel["observed_low"] <= rel["mean_predicted"]) & (rel["mean_predicted"] <= rel["observed_high"])
    assert inside.sum() >= 8
    summ = res.summary().set_index("measure")
    assert summ.loc["ROC AUC", "value"] == res.auc and summ.loc["ROC AUC", "method"] == "DeLong, 95%"
    assert summ.loc["Brier score of the base rate", "value"] == res.brier_reference
    boot = evaluate(model, X, y, n_bootstrap=300, drivers=False, ci_method="bootstrap")
    assert boot.auc == res.auc and boot.auc_method == "stratified bootstrap"
    assert boot.auc_se == pytest.approx(res.auc_se, rel=0.2)


def test_lift_table_adds_up(synthetic_eval):
    res, X, y, _, _ = synthetic_eval
    lt = res.lift_table()
    assert list(lt.index) == list(range(1, 11)) and lt.index.name == "decile"
    assert lt["customers"].sum() == res.n and lt["responders"].sum() == res.n_positive
    np.testing.assert_allclose(lt["rate"] * lt["customers"], lt["responders"])
    np.testing.assert_allclose((lt["lift"] * lt["customers"]).sum() / res.n, 1.0)
    assert lt["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
    assert lt["cumulative_responders"].iloc[-1] == res.n_positive
    assert lt["lift"].iloc[0] > 1.5 > 0.5 > lt["lift"].iloc[-1]
    assert (lt["lift_low"] <= lt["lift"]).all() and (lt["lift"] <= lt["lift_high"]).all()
    assert (lt["mean_predicted"].diff().dropna() <= 0).all()
    # the per-customer frame agrees with the table
    frame = res.to_frame()
    by = frame.groupby("decile").agg(customers=("score", "size"), responders=("responded", "sum"))
    np.testing.assert_array_equal(by["customers"], lt["customers"])
    np.testing.assert_array_equal(by["responders"], lt["responders"])
    lows, highs = frame.groupby("decile")["score"].min(), frame.groupby("decile")["score"].max()
    assert (lows.iloc[:-1].to_numpy() >= highs.iloc[1:].to_numpy()).all()
    ventiles = res.lift_table(20)
    assert len(ventiles) == 20 and ventiles["customers"].sum() == res.n


def test_drivers_find_the_planted_effects(synthetic_eval):
    from sklearn.inspection import permutation_importance

    res, X, y, _, model = synthetic_eval
    d = res.drivers
    assert d.index[0] == "a"  # the largest planted effect (1.5 per SD)
    assert set(d.index[:3]) == {"a", "b", "colour"} and d.index[-1] == "noise"
    assert d.loc["a", "direction"] == "+" and d.loc["b", "direction"] == "-"
    assert d.loc["colour", "direction"] == "by category"
    assert (d.loc["colour", "low_value"], d.loc["colour", "high_value"]) == ("blue", "red")
    assert abs(d.loc["noise", "importance"]) < 0.005
    assert (d["importance_std"] >= 0).all()
    # the batched permutations agree with scikit-learn's permutation_importance
    ref = permutation_importance(model, X, y, scoring="roc_auc", n_repeats=5, random_state=0)
    for j, col in enumerate(X.columns):
        assert d.loc[col, "importance"] == pytest.approx(ref.importances_mean[j], abs=0.01)


class _Opaque:
    """A fitted classifier seen only through predict_proba and classes_ (no design matrix)."""

    def __init__(self, model):
        self.model, self.classes_ = model, model.classes_

    def predict_proba(self, X):
        return self.model.predict_proba(X)


@pytest.mark.parametrize("kind", ["logistic", "gbm"])
def test_drivers_on_the_design_matrix_equal_those_on_the_table(kind):
    # PropensityModel's drivers permute blocks of its design matrix; any other model's, the
    # table itself. With the same permutations both must give the same numbers.
    from crmkit import _propensity_drivers

    X, y = _mixed(400)
    model = PropensityModel(kind, calibrate=True, cv=3, max_iter=30, n_jobs=1).fit(X[:250], y[:250])
    kw = {"n_repeats": 2, "max_rows": None}
    fast = _propensity_drivers.drivers(model, X[250:], y[250:].to_numpy(), rng=np.random.default_rng(4), **kw)
    slow = _propensity_drivers.drivers(_Opaque(model), X[250:], y[250:].to_numpy(), rng=np.random.default_rng(4), **kw)
    pd.testing.assert_frame_equal(fast, slow, atol=1e-9, rtol=0)


@pytest.mark.parametrize("kind", ["reliability", "gains", "lift", "drivers", "roc"])
def test_plots_are_titled_plotly_figures(synthetic_eval, kind):
    import plotly.graph_objects as go

    res = synthetic_eval[0]
    fig = res.plot(kind)
    assert isinstance(fig, go.Figure) and fig.data
    assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert "responded" in fig.layout.title.text


def test_evaluate_refuses_unusable_input(synthetic_eval):
    res, X, y, _, model = synthetic_eval
    with pytest.raises(DataValidationError, match="expected customers with and without the outcome"):
        evaluate(model, X[y], y[y], drivers=False)
    with pytest.raises(DataValidationError, match="expected the classes the model was fitted on"):
        evaluate(model, X, y.map({True: "yes", False: "no"}), drivers=False)
    with pytest.raises(ParameterError, match="fitted classifier"):
        evaluate(PropensityModel, X, y)
    with pytest.raises(ParameterError, match="kind"):
        res.plot("pie")
    with pytest.raises(ParameterError, match="ci_method"):
        evaluate(model, X, y, ci_method="exact")


def test_works_on_a_scikit_learn_dataset():
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    ds = labelled_dataset(frame, "target", positive=0)  # 0 = malignant
    assert ds.y.sum() == 212 and len(ds.y) == 569
    X_tr, X_te, y_tr, y_te = ds.split(test_size=0.4, random_state=0)
    model = PropensityModel("gbm", calibrate=True, cv=3, max_iter=60, n_jobs=1).fit(X_tr, y_tr)
    res = evaluate(model, X_te, y_te, n_bootstrap=200, n_repeats=2)
    assert res.auc > 0.95 and res.auc_low > 0.9
    assert res.lift_table()["cumulative_gain"].iloc[3] > 0.9  # top 40% hold > 90% of malignant cases
    assert res.target == "target" and len(res.drivers) == 30


# --------------------------------------------------------------------------- truth


def _bgnbd_churn_probability(world, index, end, horizon_days):
    """P(no order in the horizon | own order history up to ``end``) under the process the demo
    world was drawn from: the mixture of its segments' BG/NBD (r, alpha, a, b) with their
    shares as prior (Fader, Hardie & Lee 2005, eq. 6 and the Gamma(r + x, alpha + T)
    posterior of lambda). The service effects on dropout are left out, so this is the best
    score that the order history alone supports."""
    from scipy.special import betaln, gammaln, logsumexp

    tx = world.data.transactions
    g = tx[(tx["ordered_at"] < end) & tx["customer_id"].isin(index)].groupby("customer_id")["ordered_at"]
    days = lambda td: (td.dt.total_seconds() / 86_400).reindex(index).to_numpy()  # noqa: E731
    x = (g.size() - 1).reindex(index).to_numpy(dtype=float)
    T, t_x = days(end - g.min()), days(g.max() - g.min())
    log_w, p_churn = [], []
    for s in world.truth.segment_params.itertuples():
        common = gammaln(s.r + x) - gammaln(s.r) + s.r * np.log(s.alpha)
        alive = betaln(s.a, s.b + x) - betaln(s.a, s.b) + common - (s.r + x) * np.log(s.alpha + T)
        gone = np.where(
            x > 0,
            betaln(s.a + 1, s.b + np.maximum(x, 1) - 1) - betaln(s.a, s.b) + common - (s.r + x) * np.log(s.alpha + t_x),
            -np.inf,
        )
        ll = np.logaddexp(alive, gone)
        quiet = ((s.alpha + T) / (s.alpha + T + horizon_days)) ** (s.r + x)
        log_w.append(np.log(s.share) + ll)
        p_churn.append(1 - np.exp(alive - ll) * (1 - quiet))
    log_w = np.array(log_w)
    return pd.Series((np.exp(log_w - logsumexp(log_w, axis=0)) * np.array(p_churn)).sum(axis=0), index=index)


@pytest.fixture(scope="module")
def world_20k():
    from crmkit import synth

    return synth.demo_world(20_000, seed=1)


def test_churn_model_recovers_the_demo_world(world_20k):
    """On the demo world the churn model gets close to the best score the order history
    supports, is calibrated, and finds the drivers with the planted signs: recency and
    frequency, and the number of service tickets (``truth.churn_coefficients``:
    ``n_tickets`` raises dropout).

    The segments' buying rhythms differ sharply (an occasional buyer often goes 90 days
    without an order at any recency, a VIP almost never unless gone). Gradient boosting
    follows that and is calibrated; a logistic regression, linear in the features, ranks
    as well (AUC 0.89) but is off by about 0.05 locally, so its probabilities are not
    asserted here. The drivers are read from the logistic model, whose permutation
    importances are stable enough to test a small planted effect like tickets."""
    ds = churn_dataset(world_20k.data, CUTOFF)
    X_tr, X_te, y_tr, y_te = ds.split(test_size=0.3, random_state=0)
    model = PropensityModel("gbm", random_state=0).fit(X_tr, y_tr)
    res = evaluate(model, X_te, y_te, n_bootstrap=300, n_repeats=3, drivers_max_rows=4_000)
    bayes = _bgnbd_churn_probability(world_20k, X_te.index, ds.label_window[0], 90)
    best_auc = pstats.delong_auc(y_te.to_numpy(), bayes.to_numpy())[0]
    # our reading of the world is right: the history-only Bayes score is calibrated
    assert abs(bayes.mean() - y_te.mean()) < 0.015
    # the model reaches the history-only Bayes AUC within 0.04, and is calibrated itself
    assert res.auc_low > 0.74 and res.auc > best_auc - 0.04
    # calibrated in the large and across the range (slope within 0.15 of 1)
    assert res.calibration["intercept_low"] < 0 < res.calibration["intercept_high"]
    assert abs(res.calibration["slope"] - 1) < 0.15 and res.calibration["ece"] < 0.03
    assert np.corrcoef(res.scores, bayes)[0, 1] > 0.85
    assert res.drivers.index[0] == "days_since_last_order"

    logistic = PropensityModel("logistic").fit(X_tr, y_tr)
    d = evaluate(logistic, X_te, y_te, n_bootstrap=0, n_repeats=3, drivers_max_rows=4_000).drivers
    assert set(d.index[:2]) == {"days_since_last_order", "orders_90d"}
    assert d.loc["days_since_last_order", "direction"] == "+" and d.loc["orders_90d", "direction"] == "-"
    assert d.loc["tickets_total", "direction"] == "+"
    assert d.loc["tickets_total", "importance"] > 2 * d.loc["tickets_total", "importance_std"]
    assert list(d.index).index("tickets_total") < 10
