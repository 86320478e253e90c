"""Campaign readouts: the Hillstrom e-mail experiment, interval coverage, revenue, checks, errors, demo-world data access."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import crmkit.campaign as cp
from crmkit.campaign import _stats
from crmkit.campaign._readout import _bootstrap_means
from crmkit.errors import DataValidationError, ParameterError

# Kevin Hillstrom's MineThatData e-mail analytics challenge (2008): 64,000 customers randomised
# to a men's e-mail, a women's e-mail or no e-mail; per-arm counts derived from the published
# rates (visit 18.28 % / 15.14 % / 10.62 %, conversion 1.25 % / 0.88 % / 0.57 %).
HILLSTROM = pd.DataFrame(
    {
        "arm": ["mens_email", "womens_email", "no_email"],
        "n": [21_307, 21_387, 21_306],
        "visits": [3_894, 3_238, 2_262],
        "purchases": [267, 189, 122],
    }
)


def _hillstrom(outcome="visits"):
    return HILLSTROM.rename(columns={outcome: "conversions"})[["arm", "n", "conversions"]]


# --------------------------------------------------------------------------- Hillstrom


def test_hillstrom_visit_rates_and_intervals_match_statsmodels():
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint, proportions_ztest

    r = cp.readout_from_counts(_hillstrom("visits"), control="no_email", outcome_name="visit")
    t = r.to_frame().set_index("arm")
    # the published visit rates
    assert (100 * t["rate"]).round(2).tolist() == [18.28, 15.14, 10.62]
    assert t.loc["no_email", "is_control"] and t.index.tolist() == ["mens_email", "womens_email", "no_email"]
    pvals = []
    for arm in ["mens_email", "womens_email"]:
        x1, n1 = HILLSTROM.set_index("arm").loc[arm, ["visits", "n"]]
        x0, n0 = HILLSTROM.set_index("arm").loc["no_email", ["visits", "n"]]
        lo, hi = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff", alpha=0.05)
        np.testing.assert_allclose([t.loc[arm, "diff_low"], t.loc[arm, "diff_high"]], [lo, hi], rtol=1e-10)
        np.testing.assert_allclose(t.loc[arm, "diff"], x1 / n1 - x0 / n0, rtol=1e-12)
        wl, wh = proportion_confint(x1, n1, alpha=0.05, method="wilson")
        np.testing.assert_allclose([t.loc[arm, "rate_low"], t.loc[arm, "rate_high"]], [wl, wh], rtol=1e-10)
        _, p = proportions_ztest([x1, x0], [n1, n0])
        np.testing.assert_allclose(t.loc[arm, "p_value"], p, rtol=1e-8)
        pvals.append(p)
    holm = multipletests(pvals, method="holm")[1]
    np.testing.assert_allclose(t.loc[["mens_email", "womens_email"], "p_value_adjusted"], holm, rtol=1e-8)
    # differences in points, as published rates imply: +7.66 and +4.52
    assert (100 * t["diff"]).round(2).tolist()[:2] == [7.66, 4.52]


def test_hillstrom_alpha_changes_the_level():
    from statsmodels.stats.proportion import confint_proportions_2indep

    r = cp.readout_from_counts(_hillstrom("purchases"), control="no_email", alpha=0.10)
    t = r.to_frame().set_index("arm")
    lo, hi = confint_proportions_2indep(189, 21_387, 122, 21_306, method="newcomb", alpha=0.10)
    np.testing.assert_allclose([t.loc["womens_email", "diff_low"], t.loc["womens_email", "diff_high"]], [lo, hi], rtol=1e-10)
    assert "90 % CI" in r.sentence


def test_hillstrom_conversion_sentence():
    r = cp.readout_from_counts(_hillstrom("purchases"), control="no_email", cost_per_contact=0.10)
    assert r.sentence.startswith(
        "Mens Email raised the conversion rate from 0.57 % to 1.25 % (+0.68 points, 95 % CI +0.50 to +0.86), "
        "the best of 2 arms"
    )
    assert "contacts cost £2,131" in r.sentence  # 21,307 × 0.10
    assert r.summary().startswith(r.sentence)
    # counts carry no rows: balance cannot be checked; no planned shares: the SRM check is skipped, and said so
    assert set(r.checks["status"]) == {"skipped"}
    assert "skipped" in r.summary()


def test_one_sign_style_in_sentence_and_summary():
    # a campaign that lowered conversion: the points and the money carry the same typographic minus
    counts = pd.DataFrame({"arm": ["treatment", "control"], "n": [1000, 1000], "conversions": [40, 55],
                           "revenue_sum": [2000.0, 2600.0], "revenue_sumsq": [400_000.0, 500_000.0]})
    r = cp.readout_from_counts(counts, cost_per_contact=0.5)
    assert r.sentence.startswith("The campaign did not change the conversion rate detectably: 4.00 % against 5.50 % "
                                 "without contact (−1.50 points, 95 % CI −3.41 to +0.38)")
    assert "−£" in r.sentence
    for text in (r.sentence, r.summary()):
        # no ASCII hyphen used as a sign before a number or a currency symbol
        assert not re.search(r"(^|[\s(])-[\d£]", text), text
    assert "relative lift −27 %" in r.summary()


def test_sentence_when_nobody_converted_anywhere():
    m = pd.DataFrame({"group": ["treatment"] * 80 + ["control"] * 20, "converted": False, "revenue": 0.0})
    r = cp.readout(m, revenue_col="revenue", cost_per_contact=0.02, pre_period_cols=[])
    assert r.sentence.startswith("No arm changed the conversion rate measurably: nobody converted in either group "
                                 "(100 members)")
    # the net result is the cost of 80 contacts at £0.02, in pence, not "−£0" with an empty interval
    assert r.sentence.endswith("the contacts brought no incremental revenue, so the net result is the contacts' "
                               "cost, −£1.60.")
    assert "£0 to" not in r.sentence and "−£0" not in r.summary() and "−0" not in r.summary()
    # the same rate in every arm: no arm changed it, and no "best of" arm is named
    m2 = pd.DataFrame({"group": ["a"] * 50 + ["b"] * 50 + ["control"] * 50, "converted": [True, False] * 75})
    s2 = cp.readout(m2, pre_period_cols=[]).sentence
    assert s2.startswith("No arm changed the conversion rate measurably: 50.00 % converted in every group")
    assert "best of" not in s2


def test_holm_matches_statsmodels_with_ties_and_missing_values():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    for _ in range(8):  # statsmodels' multipletests runs gc.collect() on each call: keep the loop short
        p = np.round(rng.random(rng.integers(1, 25)) ** 3, 3)
        np.testing.assert_allclose(_stats.holm(p), multipletests(p, method="holm")[1], rtol=1e-12)
    np.testing.assert_allclose(_stats.holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])


# --------------------------------------------------------------------------- coverage


def test_difference_interval_covers_the_truth_95_percent_of_the_time():
    rng = np.random.default_rng(20240601)
    n_sim, n_t, n_c, p_t, p_c = 2_000, 400, 150, 0.12, 0.07
    x_t = rng.binomial(n_t, p_t, n_sim)
    x_c = rng.binomial(n_c, p_c, n_sim)
    lo, hi = _stats.newcombe_diff(x_t, n_t, x_c, n_c, 0.05)
    covered = (lo <= p_t - p_c) & (p_t - p_c <= hi)
    assert 0.93 <= covered.mean() <= 0.97
    # and the readout uses exactly these intervals
    for i in range(5):
        r = cp.readout_from_counts(pd.DataFrame({"arm": ["treatment", "control"], "n": [n_t, n_c],
                                                 "conversions": [x_t[i], x_c[i]]}))
        row = r.to_frame().iloc[0]
        np.testing.assert_allclose([row["diff_low"], row["diff_high"]], [lo[i], hi[i]], rtol=1e-12)


def test_member_rows_and_counts_give_the_same_conversion_table():
    rng = np.random.default_rng(3)
    m = pd.DataFrame({"group": rng.choice(["a", "b", "control"], 3000, p=[0.4, 0.4, 0.2])})
    m["converted"] = rng.random(3000) < 0.1
    r1 = cp.readout(m, pre_period_cols=[])
    counts = m.groupby("group")["converted"].agg(n="size", conversions="sum").reset_index().rename(columns={"group": "arm"})
    r2 = cp.readout_from_counts(counts)
    cols = ["arm", "n", "conversions", "rate", "rate_low", "rate_high", "diff", "diff_low", "diff_high",
            "relative_lift", "p_value", "p_value_adjusted"]
    pd.testing.assert_frame_equal(r1.to_frame()[cols], r2.to_frame()[cols])


# --------------------------------------------------------------------------- revenue


def _revenue_members(seed=0, n_t=4000, n_c=1000):
    rng = np.random.default_rng(seed)
    g = np.repeat(["treatment", "control"], [n_t, n_c])
    conv = rng.random(n_t + n_c) < np.where(g == "treatment", 0.08, 0.05)
    rev = np.where(conv, rng.lognormal(3.5, 1.0, n_t + n_c), 0.0)  # heavy-tailed spend of converters
    return pd.DataFrame({"group": g, "converted": conv, "revenue": rev})


def test_revenue_columns_are_consistent_and_welch_matches_scipy():
    from scipy import stats

    m = _revenue_members()
    r = cp.readout(m, revenue_col="revenue", cost_per_contact=0.5, n_bootstrap=2000, random_state=1)
    row = r.to_frame().iloc[0]
    t, c = m[m.group == "treatment"].revenue, m[m.group == "control"].revenue
    assert row["revenue_per_customer"] == pytest.approx(t.mean())
    assert row["rpc_diff"] == pytest.approx(t.mean() - c.mean())
    assert row["rpc_p_value"] == pytest.approx(stats.ttest_ind(t, c, equal_var=False).pvalue, rel=1e-8)
    assert row["incremental_revenue"] == pytest.approx(row["rpc_diff"] * 4000)
    assert row["incremental_revenue_low"] == pytest.approx(row["rpc_diff_low"] * 4000)
    assert row["cost"] == pytest.approx(2000.0)
    assert row["net_revenue"] == pytest.approx(row["incremental_revenue"] - 2000.0)
    assert row["roi"] == pytest.approx(row["net_revenue"] / 2000.0)
    assert row["roi_low"] < row["roi"] < row["roi_high"]
    assert row["incremental_conversions"] == pytest.approx(row["diff"] * 4000)
    # the bootstrap interval is close to Welch's on this size, but not identical (it is a bootstrap)
    w = stats.ttest_ind(t, c, equal_var=False).confidence_interval(0.95)
    assert row["rpc_diff_low"] == pytest.approx(w.low, abs=0.25 * (w.high - w.low))
    assert row["rpc_diff_high"] == pytest.approx(w.high, abs=0.25 * (w.high - w.low))
    assert row["rpc_diff_low"] != pytest.approx(w.low, rel=1e-6)
    assert "bootstrap" in r.summary() and "heavy-tailed" in r.summary()
    assert "earned" in r.sentence or "lost" in r.sentence
    # reproducible with the same random_state
    r2 = cp.readout(m, revenue_col="revenue", cost_per_contact=0.5, n_bootstrap=2000, random_state=1)
    assert r2.to_frame().iloc[0]["rpc_diff_low"] == row["rpc_diff_low"]


def test_fast_bootstrap_has_the_distribution_of_plain_resampling():
    rng = np.random.default_rng(5)
    v = np.where(rng.random(3000) < 0.1, rng.lognormal(3, 1, 3000), 0.0)
    fast = _bootstrap_means(v, 4000, np.random.default_rng(1))
    plain = v[np.random.default_rng(2).integers(0, len(v), (4000, len(v)))].mean(axis=1)
    assert fast.mean() == pytest.approx(plain.mean(), rel=0.01)
    assert fast.std() == pytest.approx(plain.std(), rel=0.06)
    assert np.quantile(fast, 0.975) == pytest.approx(np.quantile(plain, 0.975), rel=0.03)


def test_counts_with_revenue_sums_use_a_normal_approximation():
    from scipy import stats

    m = _revenue_members(seed=2)
    r1 = cp.readout(m, revenue_col="revenue", pre_period_cols=[])
    g = m.groupby("group")
    counts = pd.DataFrame({"n": g.size(), "conversions": g.converted.sum(), "revenue_sum": g.revenue.sum(),
                           "revenue_sumsq": g.revenue.apply(lambda s: (s**2).sum())}).reset_index(names="arm")
    r2 = cp.readout_from_counts(counts)
    a, b = r1.to_frame().iloc[0], r2.to_frame().iloc[0]
    assert b["rpc_diff"] == pytest.approx(a["rpc_diff"])
    assert b["rpc_p_value"] == pytest.approx(a["rpc_p_value"], rel=1e-8)
    t, c = m[m.group == "treatment"].revenue, m[m.group == "control"].revenue
    w = stats.ttest_ind(t, c, equal_var=False).confidence_interval(0.95)
    assert (b["rpc_diff_low"], b["rpc_diff_high"]) == pytest.approx((w.low, w.high), rel=1e-8)
    assert "normal-approximation" in r2.summary() and "no bootstrap" in r2.summary()


# --------------------------------------------------------------------------- checks


def test_sample_ratio_mismatch_is_flagged_against_planned_shares():
    from scipy import stats

    ok = pd.DataFrame({"arm": ["treatment", "control"], "n": [8_480, 1_520], "conversions": [500, 70]})
    r = cp.readout_from_counts(ok, planned_shares={"treatment": 0.85, "control": 0.15})
    srm = r.checks.set_index("check").loc["sample ratio"]
    assert srm["ok"] and srm["status"] == "ok"
    assert srm["p_value"] == pytest.approx(stats.chisquare([8480, 1520], [8500, 1500]).pvalue)
    bad = ok.assign(n=[8_300, 1_700])
    r = cp.readout_from_counts(bad, planned_shares={"treatment": 0.85, "control": 0.15})
    assert not r.checks.set_index("check").loc["sample ratio", "ok"]
    assert any("MISMATCH" in w for w in r.warnings)
    assert "MISMATCH" in r.summary()


def test_pre_period_imbalance_is_warned():
    rng = np.random.default_rng(7)
    m = pd.DataFrame({"group": np.repeat(["treatment", "control"], [2000, 600])})
    m["converted"] = rng.random(len(m)) < 0.1
    m["pre_orders"] = rng.poisson(3, len(m)).astype(float)
    m["pre_revenue"] = rng.gamma(2, 50, len(m)) + np.where(m.group == "treatment", 30.0, 0.0)  # broken randomisation
    r = cp.readout(m)
    chk = r.checks.set_index("check")
    assert chk.loc["balance: pre_orders (treatment vs control)", "ok"]
    bad = chk.loc["balance: pre_revenue (treatment vs control)"]
    assert not bad["ok"] and bad["statistic"] > 0.1
    assert len(r.warnings) == 1 and "pre_revenue" in r.warnings[0] and cp.BALANCE_RULE in r.warnings[0]
    b = r.balance.set_index("column").loc["pre_revenue"]
    assert b["smd"] == pytest.approx(bad["statistic"]) and b["smd_low"] > 0


def _balance_frame(n_t, n_c, shift, seed):
    rng = np.random.default_rng(seed)
    m = pd.DataFrame({"group": np.repeat(["treatment", "control"], [n_t, n_c])})
    m["converted"] = rng.random(len(m)) < 0.1
    for j in range(12):  # twelve covariates drawn from one distribution in both groups (plus a shift)
        m[f"pre_x{j}"] = rng.normal(0, 1, len(m)) + np.where(m.group == "treatment", shift, 0.0)
    return m


def test_chance_gaps_in_a_small_control_group_are_not_flagged():
    # randomised correctly, control of 100: several |SMD| exceed 0.1 by chance alone
    m = _balance_frame(900, 100, 0.0, seed=1)
    r = cp.readout(m)
    b = r.balance
    assert (b["smd"].abs() > cp.SMD_LIMIT).sum() >= 3  # the old |SMD| > 0.1 rule would have flagged these
    chance = b[(b["smd"].abs() > cp.SMD_LIMIT) & (b["p_value"] >= cp.BALANCE_ALPHA)
               & (b["smd_low"] <= 0) & (b["smd_high"] >= 0)]
    assert len(chance) >= 3 and chance["ok"].all()
    # the interval is the large-sample one: SMD ± 1.96·sqrt((n_t + n_c)/(n_t n_c) + SMD²/(2(n_t + n_c)))
    se = np.sqrt(1000 / 90_000 + b["smd"] ** 2 / 2000)
    np.testing.assert_allclose(b["smd_high"] - b["smd"], 1.959963984540054 * se, rtol=1e-9)
    assert r.warnings == [] or all("imbalanced" in w for w in r.warnings)
    assert b["ok"].sum() >= len(b) - 1  # at most a chance flag among 12 columns
    # a real imbalance of the same small groups (a 0.5 SD shift) is flagged
    r2 = cp.readout(_balance_frame(900, 100, 0.5, seed=1))
    assert not r2.balance["ok"].any() and len(r2.warnings) == 12
    # 1,000 per group: a gap of 0.105 SD is beyond chance (its interval excludes 0) though p is not below 0.01;
    # flagged by the |SMD| rule alone
    big = _balance_frame(1000, 1000, 0.0, seed=3)
    tr = big.group == "treatment"
    big.loc[tr, "pre_x0"] += 0.105 - (big.loc[tr, "pre_x0"].mean() - big.loc[~tr, "pre_x0"].mean())
    row = cp.readout(big).balance.set_index("column").loc["pre_x0"]
    assert row["smd"] > cp.SMD_LIMIT and row["smd_low"] > 0 and row["p_value"] >= cp.BALANCE_ALPHA and not row["ok"]


def test_segment_breakdown_is_holm_adjusted_across_all_tests():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(11)
    n = 6000
    m = pd.DataFrame({"group": rng.choice(["a", "b", "control"], n), "segment": rng.choice(list("PQRS"), n)})
    m["converted"] = rng.random(n) < np.where(m.group == "control", 0.05, 0.08)
    r = cp.readout(m, segment_col="segment", pre_period_cols=[])
    s = r.segments
    tests = s[~s["is_control"]]
    assert len(tests) == 8 and set(s["segment"]) == set("PQRS")
    np.testing.assert_allclose(tests["p_value_adjusted"], multipletests(tests["p_value"], method="holm")[1], rtol=1e-10)
    assert (tests["diff_low_simultaneous"] <= tests["diff_low"]).all()
    assert "Holm" in r.segments_note and "8" in r.segments_note and r.segments_note in r.summary()
    fig = r.plot_segments()
    assert len(fig.data[-1].x) == 8


def test_segment_without_control_or_arm_members_is_not_compared_nor_counted_by_holm():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(3)
    n = 3000
    m = pd.DataFrame({"group": rng.choice(["a", "b", "control"], n), "segment": rng.choice(list("PQR"), n)})
    m.loc[(m.segment == "R") & (m.group == "control"), "segment"] = "P"  # R: treated members, no control
    m.loc[(m.segment == "Q") & (m.group == "b"), "segment"] = "P"  # Q: no members in arm b
    m["converted"] = rng.random(n) < 0.1
    m.loc[m.segment == "R", "converted"] = False  # a rate of 0 gave the old code's p = 1.0
    r = cp.readout(m, segment_col="segment", pre_period_cols=[])
    s = r.segments
    r_rows = s[(s["segment"] == "R") & ~s["is_control"]]
    assert len(r_rows) == 2 and r_rows["n"].gt(0).all()
    for col in ["diff", "diff_low", "diff_high", "p_value", "p_value_adjusted", "diff_low_simultaneous",
                "diff_high_simultaneous", "relative_lift"]:
        assert r_rows[col].isna().all(), col
    assert s.loc[(s["segment"] == "R") & s["is_control"], "n"].item() == 0
    # only P·a, P·b and Q·a were compared: Holm over those 3, Bonferroni at alpha / 3
    tests = s[~s["is_control"] & s["p_value"].notna()]
    assert sorted(zip(tests["segment"], tests["arm"])) == [("P", "a"), ("P", "b"), ("Q", "a")]
    np.testing.assert_allclose(tests["p_value_adjusted"], multipletests(tests["p_value"], method="holm")[1], rtol=1e-10)
    from statsmodels.stats.proportion import confint_proportions_2indep

    qa = s.set_index(["segment", "arm"]).loc[("Q", "a")]
    qc = s.set_index(["segment", "arm"]).loc[("Q", "control")]
    lo, hi = confint_proportions_2indep(qa["conversions"], qa["n"], qc["conversions"], qc["n"], method="newcomb",
                                        alpha=0.05 / 3)
    np.testing.assert_allclose([qa["diff_low_simultaneous"], qa["diff_high_simultaneous"]], [lo, hi], rtol=1e-10)
    note = r.segments_note
    assert note.startswith("Segment breakdown: 3 comparisons") and "all 3" in note
    assert "R (no control members)" in note and "Q (no members in b)" in note
    assert r.segments_note in r.summary()
    assert len(r.plot_segments().data[-1].x) == 3


# --------------------------------------------------------------------------- errors


def test_errors_are_clear():
    m = pd.DataFrame({"group": ["treatment", "control"] * 50, "converted": [True, False] * 50})
    with pytest.raises(ParameterError, match=r"no arm 'holdout'.*'control', 'treatment'"):
        cp.readout(m, control="holdout")
    with pytest.raises(DataValidationError, match=r"converted: expected a binary outcome .*found 2 in 3 rows \(first: row 0\)"):
        cp.readout(m.assign(converted=np.where(np.arange(100) < 3, 2, m.converted.astype(int))))
    with pytest.raises(DataValidationError, match=r"revenue: expected revenue >= 0.*row 4"):
        cp.readout(m.assign(revenue=np.where(np.arange(100) == 4, -5.0, 1.0)), revenue_col="revenue")
    cat = m.assign(group=pd.Categorical(m.group, categories=["treatment", "control", "treatment_b"]))
    with pytest.raises(DataValidationError, match=r"'treatment_b' have 0 members"):
        cp.readout(cat)
    with pytest.raises(DataValidationError, match=r"'treatment_b'.*0 members"):
        cp.readout(m, planned_shares={"treatment": 0.4, "treatment_b": 0.4, "control": 0.2})
    with pytest.raises(DataValidationError, match=r"arm\(s\) 'b' have 0 members"):
        cp.readout_from_counts(pd.DataFrame({"arm": ["a", "b", "control"], "n": [10, 0, 10], "conversions": [1, 0, 1]}))
    with pytest.raises(ParameterError, match="group_col: members has no column 'arm'"):
        cp.readout(m, group_col="arm")
    with pytest.raises(ParameterError, match="alpha"):
        cp.readout(m, alpha=5)


def test_rows_with_missing_values_are_set_aside_and_counted():
    rng = np.random.default_rng(1)
    m = pd.DataFrame({"group": rng.choice(["treatment", "control"], 500), "converted": rng.random(500) < 0.2,
                      "revenue": rng.gamma(1, 10, 500)})
    m["converted"] = m["converted"].astype("boolean")
    m.loc[[3, 7], "converted"] = pd.NA
    m.loc[[9], "group"] = None
    m.loc[[11, 12, 13], "revenue"] = np.nan
    r = cp.readout(m, revenue_col="revenue")
    assert r.n_rows == 500 and r.n_set_aside == 6
    assert r.to_frame()["n"].sum() == 494
    assert r.rejects.set_index("row")["reason"].to_dict() == {
        3: "converted missing", 7: "converted missing", 9: "group missing",
        11: "revenue missing", 12: "revenue missing", 13: "revenue missing"}
    assert "6 of 500 rows were set aside" in r.summary()


# --------------------------------------------------------------------------- demo-world data access


def test_list_campaigns_and_members_on_the_demo_world(small_world, demo_store):
    data = small_world.data
    listed = cp.list_campaigns(data)
    assert listed["campaign_id"].tolist() == sorted(data.campaigns["campaign_id"].astype(str))
    counts = data.campaign_members.groupby("campaign_id").size()
    assert listed.set_index("campaign_id")["n_members"].to_dict() == counts.to_dict()
    assert listed.set_index("campaign_id").loc["CMP05", "arms"] == "treatment_a, treatment_b, control"
    pd.testing.assert_frame_equal(cp.list_campaigns(str(demo_store)), listed)

    m = cp.campaign_members(data, "CMP05")
    raw = data.campaign_members[data.campaign_members.campaign_id == "CMP05"]
    assert len(m) == len(raw) and set(m["group"]) == {"treatment_a", "treatment_b", "control"}
    assert m["converted"].dtype == bool and (m["revenue"] >= 0).all()
    assert m["converted"].sum() == int(raw["converted"].sum())
    for col in cp.PRE_PERIOD_COLUMNS:
        assert col in m.columns
    with pytest.raises(ParameterError, match=r"no campaign 'CMP99'.*known ids: CMP01, CMP02"):
        cp.campaign_members(data, "CMP99")


def test_pre_period_covariates_use_only_data_before_the_start(small_world):
    from dataclasses import replace

    data = small_world.data
    start = pd.Timestamp(data.campaigns.set_index("campaign_id").loc["CMP03", "start"])
    m = cp.campaign_members(data, "CMP03")
    # drop everything dated on or after the start: the covariates must not move
    cut = replace(
        data,
        transactions=data.transactions[data.transactions["ordered_at"] < start],
        interactions=data.interactions[data.interactions["at"] < start],
    )
    m_cut = cp.campaign_members(cut, "CMP03")
    cols = [c for c in cp.PRE_PERIOD_COLUMNS]
    pd.testing.assert_frame_equal(m[cols], m_cut[cols])
    # and the orders of the pre-period window are counted
    tx = data.transactions
    win = tx[(tx.ordered_at < start) & (tx.ordered_at >= start - pd.Timedelta(days=365))]
    expected = win.groupby("customer_id")["order_id"].nunique().reindex(m.customer_id).fillna(0).to_numpy()
    np.testing.assert_array_equal(m["pre_orders"].to_numpy(), expected)


def test_readout_of_a_demo_campaign_has_a_plain_sentence_and_plot(small_world):
    m = cp.campaign_members(small_world.data, "CMP05", segments=small_world.truth.segment_of)
    r = cp.readout(m, revenue_col="revenue", cost_per_contact=0.02, segment_col="segment", n_bootstrap=500)
    assert re.match(r"^Treatment [AB] (raised|lowered|did not change)[^.]* the conversion rate .*\d\.\d\d %.*95 % CI .*\.$",
                    r.sentence)
    assert r.to_frame()["arm"].tolist()[-1] == "control"
    fig = r.plot()
    assert list(fig.data[0].y) == ["treatment_a", "treatment_b"]
    assert r.segments is not None and set(r.segments["segment"]) <= set(small_world.truth.segment_of.unique())


def test_members_with_rfm_or_saved_segments(small_world, tmp_path):
    from dataclasses import replace

    import crmkit.io
    import crmkit.segment as seg

    data = small_world.data
    store = crmkit.io.save_store(data, tmp_path / "store.duckdb")
    rfm = cp.campaign_members(str(store), "CMP04", segments="rfm")
    assert rfm["segment"].notna().all() and set(rfm["segment"]) <= set(seg.RFM_RULES["segment"]) | {seg.NO_ORDERS}
    # a saved segmentation's model assigns the members from their features before the start:
    # a store without anything dated from the start on gives the same labels
    fitted = seg.segment_customers(data, method="rfm")
    seg.save_segmentation(fitted, store)
    saved = cp.campaign_members(str(store), "CMP04", segments="segments")
    assert saved["segment"].notna().all() and set(saved["segment"]) <= set(fitted.assignments["segment"])
    start = pd.Timestamp(data.campaigns.set_index("campaign_id").loc["CMP04", "start"])
    cut = replace(data, transactions=data.transactions[data.transactions["ordered_at"] < start],
                  interactions=data.interactions[data.interactions["at"] < start])
    cut_store = crmkit.io.save_store(cut, tmp_path / "cut.duckdb")
    seg.save_segmentation(fitted, cut_store)
    pd.testing.assert_series_equal(cp.campaign_members(str(cut_store), "CMP04", segments="segments")["segment"],
                                   saved["segment"])
    pd.testing.assert_series_equal(cp.campaign_members(str(cut_store), "CMP04", segments="rfm")["segment"], rfm["segment"])


def test_balance_with_a_one_member_control_is_skipped_and_keeps_its_columns():
    """A control group of one has no variance: the balance check says so instead of breaking callers."""
    members = pd.DataFrame({
        "group": ["treatment"] * 18 + ["control"],
        "converted": [True, False] * 9 + [False],
        "pre_orders": np.arange(19, dtype=float),
    })
    r = cp.readout(members)
    assert list(r.balance.columns[:3]) == ["column", "arm", "mean_arm"] and r.balance.empty
    row = r.checks[r.checks["check"] == "pre-period balance"].iloc[0]
    assert row["status"] == "skipped" and "fewer than 2 members" in row["message"]
