"""The contact policy as data, eligibility (consent, caps, quiet periods), contact pressure
and candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import crmkit.plan as pl
from crmkit.errors import DataValidationError, ParameterError
from crmkit.schema import CRMData

AS_OF = pd.Timestamp("2025-03-10")  # a Monday


def test_default_policy_rules_in_words():
    p = pl.ContactPolicy.default()
    text = p.describe()
    assert "at most 3 weight of e-mails in any 7 consecutive days" in text
    assert "at most 8 weight of contacts across all channels in a calendar month" in text
    assert "no marketing for 14 days after a complaint ticket" in text
    assert "call-centre call: £2.5 per contact, at most 2,000 a day" in text
    assert set(p.offers["offer"]) == {"10% off", "flash sale", "£10 voucher", "free delivery", "double points"}


@pytest.mark.parametrize("suffix", ["", ".xlsx"])
def test_policy_round_trips_through_frames_and_files(tmp_path, suffix):
    p = pl.ContactPolicy.default().with_changes(budget=1234.5, caps={"email": 2}, capacity={"phone": 150})
    q = pl.ContactPolicy.from_frames(p.to_frames())
    for name in ("channels", "caps", "quiet_periods", "offers"):
        pd.testing.assert_frame_equal(getattr(p, name), getattr(q, name))
    assert q.budget == 1234.5 and q.max_offers_per_customer == 1
    path = p.save(tmp_path / f"policy{suffix}")
    r = pl.ContactPolicy.load(path)
    assert r.budget == 1234.5
    pd.testing.assert_frame_equal(p.caps, r.caps, check_dtype=False)
    pd.testing.assert_frame_equal(p.channels, r.channels, check_dtype=False)


def test_with_changes_for_sliders():
    p = pl.ContactPolicy.default()
    q = p.with_changes(caps={("all", "month"): 5, "sms": 1}, capacity={"phone": 300}, budget=None)
    caps = q.caps.set_index(["scope", "window"])["max_weight"]
    assert caps[("all", "month")] == 5 and caps[("sms", "7D")] == 1 and caps[("email", "7D")] == 3
    assert q.channels.set_index("channel").loc["phone", "capacity_per_day"] == 300
    assert p.channels.set_index("channel").loc["phone", "capacity_per_day"] == 2000  # original untouched
    with pytest.raises(ParameterError, match="no cap matches"):
        p.with_changes(caps={"fax": 1})


@pytest.mark.parametrize("table,change,message", [
    ("caps", {"kind": "rolling"}, "expected 'sliding' or 'calendar'"),
    ("caps", {"window": "seven days"}, "sliding window such as '7D'"),
    ("channels", {"cost_per_contact": -1.0}, "cost_per_contact: expected a number ≥ 0"),
    ("quiet_periods", {"event": "birthday"}, "quiet_periods.event"),
])
def test_bad_policy_rows_are_named(table, change, message):
    frames = pl.ContactPolicy.default().to_frames()
    f = frames[table].copy()
    for col, val in change.items():
        f.loc[0, col] = val
    frames[table] = f
    with pytest.raises(ParameterError, match=message):
        pl.ContactPolicy.from_frames(frames)


def _tiny_data():
    d = lambda n, h=12: AS_OF + pd.Timedelta(days=n, hours=h)
    customers = pd.DataFrame({"customer_id": ["A", "B", "C", "D", "E"], "created_at": AS_OF - pd.Timedelta(days=500)})
    consents = pd.DataFrame([
        ("A", "email", True, d(-100)),
        ("B", "email", True, d(-100)), ("B", "email", False, d(-3)),        # withdrawn before the plan
        ("C", "email", True, d(-100)), ("C", "email", False, d(3)),         # withdrawal already recorded for later
        ("D", "email", True, pd.NaT),
        ("E", "email", True, d(-100)),
        ("A", "sms", False, d(-5)), ("A", "sms", True, d(-1)),              # re-granted
        ("D", "sms", True, d(4)),                                           # granted only after as_of
    ], columns=["customer_id", "channel", "granted", "updated_at"])
    inter = pd.DataFrame([
        ("A", d(-1), "email", "outbound"), ("A", d(-3), "email", "outbound"), ("A", d(-6), "email", "outbound"),  # 3 in 7 days
        ("D", d(-8), "email", "outbound"), ("D", d(-9), "email", "outbound"), ("D", d(-20), "email", "inbound"),
        ("E", d(-2), "email", "outbound"), ("E", d(-9), "sms", "outbound"),
    ], columns=["customer_id", "at", "channel", "direction"])
    inter["interaction_id"] = [f"I{i}" for i in range(len(inter))]
    tickets = pd.DataFrame({"customer_id": ["E"], "opened_at": [d(-10)]})
    tx = pd.DataFrame({"customer_id": ["D"], "ordered_at": [d(-30)], "amount": [20.0]})
    return CRMData(customers=customers, consents=consents, interactions=inter, tickets=tickets, transactions=tx)


def test_eligibility_consent_caps_and_quiet_periods():
    policy = pl.ContactPolicy(
        pd.DataFrame({"channel": ["email", "sms"], "cost_per_contact": [0.02, 0.06], "capacity_per_day": [np.nan, np.nan]}),
        pd.DataFrame({"scope": ["email", "all"], "kind": ["sliding", "calendar"], "window": ["7D", "month"], "max_weight": [3.0, 4.0]}),
        pd.DataFrame({"event": ["complaint", "purchase"], "days": [14, 3]}),
        pd.DataFrame({"offer": ["X"], "weight": [1.0], "min_volume": [np.nan], "max_volume": [np.nan], "channels": ["*"]}),
    )
    el = pl.eligibility(_tiny_data(), policy, AS_OF, horizon_days=7)
    a = el.allowed
    reasons = el.excluded.set_index(["customer_id", "channel"])["reason"]
    assert reasons[("A", "email")] == "cap: email 3 in 7 days"
    assert a.loc["A", "sms"] == 1.0  # re-granted; month has 3 past e-mails → 4 - 3 = 1 left across channels
    assert reasons[("B", "email")] == "no consent"
    assert reasons[("C", "email")] == "no consent"  # a recorded later withdrawal is honoured
    # D: e-mails on days -8 and -9 fall outside every 7-day window reaching the horizon, but inside
    # March: the monthly cap of 4 leaves 2
    assert a.loc["D", "email"] == 2.0
    assert reasons[("D", "sms")] == "no consent"  # granted only after as_of
    assert reasons[("E", "email")] == "quiet period: complaint"  # ticket 10 days ago, quiet 14 days
    assert el.allowed_all["A"] == 1.0
    c = el.counts.set_index("reason")
    assert c["pairs"].sum() == 5 * 2
    assert c.loc["eligible", "pairs"] == int((a.to_numpy() > 0).sum())


def test_sliding_window_counts_windows_that_reach_into_the_horizon():
    data = _tiny_data()
    policy = pl.ContactPolicy(
        pd.DataFrame({"channel": ["email", "sms"], "cost_per_contact": [0.0, 0.0], "capacity_per_day": [np.nan, np.nan]}),
        pd.DataFrame({"scope": ["email"], "kind": ["sliding"], "window": ["3D"], "max_weight": [2.0]}),
        pd.DataFrame({"event": [], "days": []}),
        pd.DataFrame({"offer": ["X"], "weight": [1.0], "min_volume": [np.nan], "max_volume": [np.nan], "channels": ["*"]}),
    )
    el = pl.eligibility(data, policy, AS_OF, horizon_days=1)
    # A: contacts on days -1 and -3: the 3-day window [-2, 0] holds 1 → 1 left
    assert el.allowed.loc["A", "email"] == 1.0
    # E: one on day -2 → window [-2, 0] holds 1 → 1 left
    assert el.allowed.loc["E", "email"] == 1.0
    el2 = pl.eligibility(data, policy.with_changes(caps={"email": 1}), AS_OF, horizon_days=1)
    assert el2.allowed.loc["E", "email"] == 0.0 and el2.allowed.loc["D", "email"] == 1.0


def test_missing_consents_table_is_an_error():
    data = _tiny_data()
    data.consents = None
    with pytest.raises(DataValidationError, match="consents"):
        pl.eligibility(data, pl.ContactPolicy.default(), AS_OF)


def test_contact_pressure_by_segment(small_world):
    data = small_world.data
    by = pd.Series(np.where(np.arange(len(data.customers)) % 2, "odd", "even"), index=data.customers["customer_id"])
    out = pl.contact_pressure(data, "2025-06-30", window_days=30, by=by, policy=pl.ContactPolicy.default())
    email = out[out["channel"] == "email"].set_index("segment")
    assert email["customers"].sum() == len(data.customers)
    inter = data.interactions
    m = (inter["direction"] == "outbound") & (inter["channel"] == "email") & (inter["at"] >= "2025-06-01") & (inter["at"] < "2025-07-01")
    assert email["contacts"].sum() == int(m.sum())
    assert ((out["share_contacted"] >= 0) & (out["share_contacted"] <= 1)).all()


def test_candidates_only_on_eligible_pairs_with_documented_values(small_world):
    data = small_world.data
    policy = pl.ContactPolicy.default()
    el = pl.eligibility(data, policy, "2025-06-30")
    cand = pl.candidates(data, policy, "2025-06-30", eligibility=el)
    ok = el.allowed.stack()
    ok = set(ok[ok > 0].index)
    assert set(zip(cand["customer_id"], cand["channel"])) <= ok
    fl = cand[cand["offer"] == "flash sale"]
    assert set(fl["channel"]) <= {"email", "sms", "push"}
    assert (cand["cost"] == cand["channel"].map(policy.channels.set_index("channel")["cost_per_contact"])).all()
    # value table by offer × channel is used as given
    table = pl.DEFAULT_VALUE_TABLE.assign(value=lambda t: t["value"] * 0 + 1.5)
    c2 = pl.candidates(data, policy, "2025-06-30", eligibility=el, value=table)
    assert (c2["expected_value"] == 1.5).all()
    # per-customer uplift × offer margin
    up = cand[["customer_id", "offer"]].drop_duplicates().assign(uplift=0.1)
    c3 = pl.candidates(data, policy, "2025-06-30", eligibility=el, uplift=up)
    margin = pl.DEFAULT_VALUE_TABLE.drop_duplicates("offer").set_index("offer")["margin"]
    np.testing.assert_allclose(c3["expected_value"], 0.1 * c3["offer"].map(margin))
    with pytest.raises(ParameterError, match="segment"):
        pl.candidates(data, policy, "2025-06-30", eligibility=el, value=table.assign(segment="x"))


def test_exclusion_counts_follow_what_if_caps(small_world):
    data = small_world.data
    policy = pl.ContactPolicy.default()
    el = pl.eligibility(data, policy, "2025-06-30")
    tighter = policy.with_changes(caps={"email": 0})
    direct = pl.eligibility(data, tighter, "2025-06-30").counts
    pd.testing.assert_frame_equal(el.counts_under(tighter), direct)
    assert el.counts_under(policy).equals(el.counts)
    c = direct.set_index("reason")
    assert c["pairs"].sum() == len(data.customers) * len(policy.channels)
    assert c.loc["cap: email 0 in 7 days", "pairs"] > 0
