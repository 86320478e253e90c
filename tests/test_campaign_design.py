"""Experiment design: sample size and power (checked by simulation), MDE, holdout share, randomised assignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import crmkit.campaign as cp
from crmkit.campaign import _stats
from crmkit.errors import DataValidationError, ParameterError


def test_sample_size_matches_statsmodels_and_reaches_the_power_by_simulation():
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    s = cp.sample_size(0.10, 0.03, power=0.8, alpha=0.05)
    expected = NormalIndPower().solve_power(proportion_effectsize(0.13, 0.10), alpha=0.05, power=0.8, ratio=1.0)
    assert s.n_per_arm == int(np.ceil(expected)) and s.n_control == s.n_per_arm and s.total == 2 * s.n_per_arm
    # simulate 4,000 experiments of that size: the pooled z-test rejects in about 80 % of them
    rng = np.random.default_rng(42)
    x_t = rng.binomial(s.n_per_arm, 0.13, 4000)
    x_c = rng.binomial(s.n_control, 0.10, 4000)
    rejected = _stats.pooled_z_pvalue(x_t, s.n_per_arm, x_c, s.n_control) < 0.05
    assert rejected.mean() == pytest.approx(0.80, abs=0.025)
    assert "80% power" in s.summary() and f"{s.n_per_arm:,}" in s.summary()
    assert s.to_frame()["members"].tolist() == [s.n_per_arm, s.n_control]


def test_sample_size_with_several_arms_and_an_unequal_holdout():
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    s = cp.sample_size(0.05, 0.01, arms=3, control_share=0.2)
    ratio = 0.2 / 0.4
    n1 = NormalIndPower().solve_power(proportion_effectsize(0.06, 0.05), alpha=0.025, power=0.8, ratio=ratio)
    assert s.alpha_per_comparison == pytest.approx(0.025)
    assert s.n_per_arm == int(np.ceil(n1)) and s.n_control == int(np.ceil(n1 * ratio))
    assert s.n_control / s.total == pytest.approx(0.2, abs=1e-3)
    assert "Bonferroni" in s.summary()


def test_revenue_sample_size_uses_the_t_test_power():
    from statsmodels.stats.power import TTestIndPower

    s = cp.sample_size_revenue(40.0, 2.0)
    n1 = TTestIndPower().solve_power(2.0 / 40.0, alpha=0.05, power=0.8, ratio=1.0)
    assert s.n_per_arm == int(np.ceil(n1)) and s.kind == "revenue"


def test_minimum_detectable_effect_inverts_the_sample_size():
    s = cp.sample_size(0.04, 0.008)
    mde = cp.minimum_detectable_effect(s.n_per_arm, s.n_control, 0.04)
    assert mde == pytest.approx(0.008, rel=2e-3)
    assert cp.minimum_detectable_effect(4 * s.n_per_arm, 4 * s.n_control, 0.04) < mde / 1.8


def test_holdout_share_is_the_smallest_with_enough_power():
    plan = cp.holdout_share(200_000, 0.03, 0.004)
    s = plan.smallest_share
    mde_at = cp.minimum_detectable_effect(round((1 - s) * 200_000), round(s * 200_000), 0.03)
    assert mde_at == pytest.approx(0.004, rel=0.01)
    assert plan.power_at_share == pytest.approx(0.8, abs=0.005)
    assert cp.minimum_detectable_effect(round((1 - s / 2) * 200_000), round(s / 2 * 200_000), 0.03) > 0.0045
    # a budget that contacts only 150,000 forces a 25 % holdout
    b = cp.holdout_share(200_000, 0.03, 0.004, budget=3_000, cost_per_contact=0.02)
    assert b.budget_share == pytest.approx(0.25) and b.share == pytest.approx(max(0.25, s))
    # too few customers: said, not a number
    none = cp.holdout_share(2_000, 0.03, 0.004)
    assert none.share is None and "cannot be detected" in none.summary()


def test_design_errors():
    with pytest.raises(ParameterError, match="baseline_rate"):
        cp.sample_size(1.5, 0.01)
    with pytest.raises(ParameterError, match="effect"):
        cp.sample_size(0.5, 0.6)
    with pytest.raises(ParameterError, match="arms"):
        cp.sample_size(0.1, 0.01, arms=1)
    with pytest.raises(ParameterError, match="std"):
        cp.sample_size_revenue(0, 1)


def _customers(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"segment": rng.choice(["vip", "regular", "new"], n, p=[0.1, 0.6, 0.3]),
         "revenue": rng.gamma(2, 50, n), "orders": rng.poisson(3, n)},
        index=pd.Index([f"C{i:05d}" for i in range(n)], name="customer_id"),
    )


def test_assign_meets_shares_within_strata_and_is_reproducible():
    f = _customers()
    arms = {"treatment_a": 0.45, "treatment_b": 0.40, "control": 0.15}
    a = cp.assign(f, arms, stratify="segment", random_state=3)
    out = a.to_frame()
    assert "group" not in f.columns and len(out) == len(f) and out.index.equals(f.index)
    tab = pd.crosstab(out["segment"], out["group"])
    sizes = f["segment"].value_counts()
    for seg, n in sizes.items():
        for arm, share in arms.items():
            assert abs(tab.loc[seg, arm] - share * n) <= 1  # exact up to rounding in every stratum
    again = cp.assign(f, arms, stratify="segment", random_state=3).to_frame()
    assert (again["group"] == out["group"]).all()
    other = cp.assign(f, arms, stratify="segment", random_state=4).to_frame()
    assert (other["group"] != out["group"]).mean() > 0.3
    b = a.balance.set_index("arm")
    assert b.loc["control", "planned_share"] == 0.15 and b["n"].sum() == len(f)
    assert b.loc["treatment_a", "share__vip"] == pytest.approx((out[out.group == "treatment_a"].segment == "vip").mean())
    r = f["revenue"]
    ta, c = r[out.group == "treatment_a"], r[out.group == "control"]
    assert b.loc["treatment_a", "smd__revenue"] == pytest.approx((ta.mean() - c.mean()) / np.sqrt((ta.var() + c.var()) / 2))
    assert b.filter(like="smd__").abs().max().max() < 0.15
    assert "within strata of segment" in a.summary()


def test_assign_errors():
    f = _customers(100)
    with pytest.raises(ParameterError, match="summing to 1"):
        cp.assign(f, {"treatment": 0.9, "control": 0.2})
    with pytest.raises(ParameterError, match="stratify: frame has no column 'region'"):
        cp.assign(f, stratify="region")
    with pytest.raises(DataValidationError, match="no rows"):
        cp.assign(f.iloc[:0])
