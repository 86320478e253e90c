"""crmkit.plan.fatigue_curve: fatigue measured from history, and the planted truth recovered.

Truth test (demo world, 50,000 customers, seed 2): the demo world multiplies a contact's
uplift by exp(-k n), k = 0.3, n = outbound contacts in the previous 30 days. From the data
alone (campaign_members, campaigns, interactions) fatigue_curve must recover

- k: the true 0.3 inside the 95 % profile-likelihood interval and |k-hat - 0.3| < 0.12;
- the recommended cap: equal, within one contact, to the cap of the TRUE curve
  u0 exp(-0.3 n) (u0 = the planted uplifts averaged over the treated members) at the same
  value per response and cost per contact;
- the saturation point of the true curve (ceil(ln 10 / 0.3) = 8) inside the range over
  k's interval.

Checked by hand on seeds 0-7 (tests use seed 2 only): all eight pass; the largest
|k-hat - 0.3| was 0.103 (seed 5: k-hat 0.197, interval 0.108-0.313; cap 4 against 3).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.errors import DataValidationError, ParameterError
from crmkit.plan._fatigue import FatigueCurve, _members_with_n, fatigue_curve

TRUTH_WORLD = {"n_customers": 50_000, "seed": 2}
VALUE = 50.0  # value per response used in the truth test
THRESHOLD = 2.5  # the true curve stops paying between 2 and 3 recent contacts (cost chosen for that)


@pytest.fixture(scope="module")
def truth_world():
    from crmkit import synth

    return synth.demo_world(**TRUTH_WORLD)


def _true_u0(world) -> float:
    """The planted uplift (before fatigue) averaged over the treated members."""
    cm = world.data.campaign_members.reset_index(drop=True)
    seg = world.truth.segment_of.reindex(cm["customer_id"]).to_numpy()
    treated = (cm["group"] != "control").to_numpy()
    planted = world.truth.campaign_uplift.set_index(["campaign_id", "arm", "segment"])["uplift"]
    keys = list(zip(cm["campaign_id"][treated], cm["group"][treated], seg[treated]))
    return float(planted.loc[keys].mean())


@pytest.fixture(scope="module")
def truth_fit(truth_world):
    u0 = _true_u0(truth_world)
    k = truth_world.truth.fatigue_k
    cost = u0 * VALUE * math.exp(-k * THRESHOLD)
    fc = fatigue_curve(truth_world.data, value_per_response=VALUE, cost_per_contact=cost)
    return fc, u0, k, cost


def test_recent_contacts_are_measured_as_planted(truth_world):
    members, set_aside = _members_with_n(truth_world.data, truth_world.truth.fatigue_window_days)
    planted = truth_world.truth.member_response.reset_index(drop=True)
    treated = members["treated"].to_numpy() == 1
    assert len(members) == len(planted) and set_aside["rows"].sum() == 0
    # Contacted members: the exact count the world used for their fatigue multiplier.
    assert (members["n"].to_numpy()[treated] == planted["n_recent_contacts"].to_numpy()[treated]).all()
    # Held-out members were never contacted: their would-be time is estimated (campaign
    # start + median delay), so a few counts differ by one at the window's edges.
    diff = np.abs(members["n"].to_numpy()[~treated] - planted["n_recent_contacts"].to_numpy()[~treated])
    assert diff.max() <= 1 and (diff == 0).mean() > 0.95


def test_fatigue_rate_recovered(truth_fit):
    fc, _, k, _ = truth_fit
    assert fc.k_low < k < fc.k_high
    assert abs(fc.k - k) < 0.12
    assert fc.k_high - fc.k_low < 0.5  # informative, not a vacuous interval


def test_first_contact_uplift_recovered(truth_fit):
    fc, u0, _, _ = truth_fit
    assert fc.u0_low < u0 < fc.u0_high


def test_recommended_cap_matches_true_curve(truth_fit):
    fc, u0, k, cost = truth_fit
    true_cap = sum(1 for n in range(100) if u0 * math.exp(-k * n) * VALUE >= cost)
    assert true_cap == 3
    assert abs(fc.recommended_cap - true_cap) <= 1
    assert fc.cap_low <= fc.recommended_cap <= fc.cap_high


def test_saturation_point_recovered(truth_fit):
    fc, _, k, _ = truth_fit
    true_sat = math.ceil(math.log(10) / k)
    lo = math.ceil(math.log(10) / fc.k_high)
    hi = math.ceil(math.log(10) / fc.k_low)
    assert lo <= true_sat <= hi
    assert fc.saturation_point == math.ceil(math.log(10) / fc.k - 1e-12)


def test_binned_table_is_counted_and_its_intervals_are_right(truth_fit):
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        proportion_confint,
    )

    fc = truth_fit[0]
    t = fc.to_frame()
    assert int(t["treated_n"].sum()) == fc.n_treated and int(t["control_n"].sum()) == fc.n_control
    assert fc.n_members == fc.n_treated + fc.n_control
    assert t["n_recent_contacts"].tolist() == list(range(fc.max_contacts + 1))
    row = t.iloc[0]
    lo, hi = proportion_confint(row["treated_responses"], row["treated_n"], method="wilson")
    assert row["treated_low"] == pytest.approx(lo) and row["treated_high"] == pytest.approx(hi)
    ulo, uhi = confint_proportions_2indep(row["treated_responses"], row["treated_n"], row["control_responses"],
                                          row["control_n"], method="newcomb", compare="diff")
    assert row["uplift_low"] == pytest.approx(ulo) and row["uplift_high"] == pytest.approx(uhi)
    ok = t["treated_n"] > 0
    assert ((t["treated_low"] <= t["treated_rate"]) & (t["treated_rate"] <= t["treated_high"]))[ok].all()
    # The smooth fit's band holds the fitted curve.
    c = fc.curve
    assert ((c["uplift_smooth_low"] <= c["uplift_smooth"]) & (c["uplift_smooth"] <= c["uplift_smooth_high"])).all()
    # The decay curve is u0 exp(-k n).
    assert np.allclose(c["uplift_decay"], fc.u0 * np.exp(-fc.k * c["n_recent_contacts"]))


def test_no_control_trend_is_found_where_none_was_planted(truth_fit):
    fc = truth_fit[0]
    assert fc.beta_low < 0 < fc.beta_high


@settings(max_examples=40, deadline=None)
@given(cost=st.floats(0.001, 5.0), value=st.floats(5.0, 500.0))
def test_cap_is_the_count_of_contacts_that_pay(truth_fit, cost, value):
    fc = truth_fit[0]
    cap = fc.cap_for(cost, value)
    pays = fc.uplift(np.arange(1_000)) * value >= cost
    if cap is None:  # more than one contact a day still pays
        assert pays.sum() > fc.window_days
    else:
        assert cap == int(pays.sum()) and cap <= fc.window_days
        assert pays[:cap].all() and not pays[cap:].any()


def test_summary_describe_and_plot(truth_fit):
    fc = truth_fit[0]
    s = fc.summary()
    assert list(s.columns) == ["quantity", "estimate", "low", "high", "meaning"]
    assert s.set_index("quantity").loc["fatigue rate k", "estimate"] == pytest.approx(fc.k)
    text = fc.describe()
    assert f"k = {fc.k:.2f}" in text and f"up to {fc.recommended_cap} in any 30 days" in text
    fig = fc.plot()
    assert len(fig.data) == 4
    caps = fc.caps({"email": 0.02, "post": 0.85, "free": 0.0})
    assert list(caps["channel"]) == ["email", "post", "free"]
    assert caps["cap"].iloc[1] == fc.cap_for(0.85) and caps["cap"].iloc[0] >= caps["cap"].iloc[1]
    assert pd.isna(caps["cap"].iloc[2]) and caps["cap_text"].iloc[2] == "no limit"


def test_own_campaign_contact_is_never_counted(small_world):
    """A campaign contact logged a minute before contacted_at is still the member's own contact."""
    d = small_world.data
    base, _ = _members_with_n(d, 30)
    inter = d.interactions.copy()
    is_campaign = (inter["kind"] == "campaign").fillna(False).to_numpy()
    inter.loc[is_campaign, "at"] = inter.loc[is_campaign, "at"] - pd.Timedelta(minutes=1)
    shifted, _ = _members_with_n({"interactions": inter, "campaign_members": d.campaign_members,
                                  "campaigns": d.campaigns}, 30)
    assert (shifted["n"].to_numpy() == base["n"].to_numpy()).all()


def test_rows_without_outcome_are_set_aside(small_world):
    d = small_world.data
    cm = d.campaign_members.copy()
    cm["converted"] = cm["converted"].astype("boolean")
    cm.loc[cm.index[:7], "converted"] = pd.NA
    fc = fatigue_curve({"interactions": d.interactions, "campaign_members": cm, "campaigns": d.campaigns},
                       value_per_response=40, cost_per_contact=0.1)
    assert isinstance(fc, FatigueCurve)
    assert fc.set_aside["rows"].sum() == 7 and fc.n_members + 7 == len(cm)
    assert fc.value_source == "given" and fc.cost_per_contact == 0.1


def test_defaults_come_from_the_data(small_world):
    fc = fatigue_curve(small_world.data)
    cm = small_world.data.campaign_members
    won = cm[(cm["group"] != "control") & cm["converted"].astype(bool)]
    assert fc.value_per_response == pytest.approx(won["revenue"].mean())
    assert 0.005 <= fc.cost_per_contact <= 0.85


def test_bad_input_is_named(small_world):
    d = small_world.data
    with pytest.raises(DataValidationError, match="interactions"):
        fatigue_curve({"campaign_members": d.campaign_members, "campaigns": d.campaigns})
    with pytest.raises(DataValidationError, match="campaign_members: fatigue_curve needs the column"):
        fatigue_curve({"interactions": d.interactions, "campaign_members": d.campaign_members.drop(columns="converted"),
                       "campaigns": d.campaigns})
    no_control = d.campaign_members[d.campaign_members["group"] != "control"]
    with pytest.raises(DataValidationError, match="control"):
        fatigue_curve({"interactions": d.interactions, "campaign_members": no_control, "campaigns": d.campaigns})
    with pytest.raises(ParameterError, match="window_days"):
        fatigue_curve(d, window_days=0)
    with pytest.raises(ParameterError, match="cost_per_contact"):
        fatigue_curve(d, cost_per_contact=-1)


def test_the_cautious_model_with_a_control_trend_still_covers_the_truth(truth_world, truth_fit):
    """control_trend=True lets the no-contact rate move with n: a wider interval, same truth inside."""
    fc = truth_fit[0]
    cautious = fatigue_curve(truth_world.data, value_per_response=VALUE, cost_per_contact=truth_fit[3],
                             control_trend=True)
    k = truth_world.truth.fatigue_k
    assert cautious.control_trend and cautious.k_low < k < cautious.k_high
    assert cautious.k_high - cautious.k_low > fc.k_high - fc.k_low
    assert cautious.beta_control == pytest.approx(cautious.decay_fit.params[len(cautious._campaign_weights)])
