"""Hard guarantees of the contact plan, property-tested with hypothesis.

Over random policies, histories, consents and candidate values, every plan (targets and
holdout alike) must respect consent, every sliding and calendar cap (counting outbound
history + the plan with message weights), quiet periods, capacity per day, the budget,
offer volumes and the offers per customer. The checker below is written from the rules'
definitions, independently of the optimiser's bookkeeping.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import crmkit.plan as pl
from crmkit.schema import CRMData

AS_OF = pd.Timestamp("2025-03-10")
CHANNELS = ["email", "sms", "phone"]


# ---------------------------------------------------------------------------- the independent checker
def _day(t) -> pd.Timestamp:
    return pd.Timestamp(t).normalize()


def consent_valid_on(consents: pd.DataFrame, cid: str, channel: str, day: pd.Timestamp) -> bool:
    """Latest consent row dated on/before ``day`` (undated = earliest) grants; ties must all grant."""
    rows = consents[(consents["customer_id"] == cid) & (consents["channel"] == channel)]
    if rows.empty:
        return False
    at = rows["updated_at"].fillna(pd.Timestamp("1900-01-01"))
    past = rows[at < day + pd.Timedelta(days=1)]
    if past.empty:
        return False
    at_p = past["updated_at"].fillna(pd.Timestamp("1900-01-01"))
    latest = past[at_p == at_p.max()]
    return bool(latest["granted"].astype(bool).all())


def violations(plan: pl.ContactPlan, data: CRMData, policy: pl.ContactPolicy, budget, horizon: int) -> list[str]:
    out = []
    rows = plan.rows.copy()
    rows["day"] = pd.to_datetime(rows["planned_date"]).dt.normalize()
    weights = dict(zip(policy.offers["offer"], policy.offers["weight"]))
    allowed_ch = {r["offer"]: (CHANNELS if r["channels"] == "*" else r["channels"].split(",")) for _, r in policy.offers.iterrows()}
    end = AS_OF + pd.Timedelta(days=horizon - 1)
    for _, r in rows.iterrows():
        # consent as of the plan date and on the planned day; no withdrawal dated after as_of
        for when in (AS_OF, r["day"]):
            if not consent_valid_on(data.consents, r["customer_id"], r["channel"], when):
                out.append(f"consent: {r['customer_id']} {r['channel']} on {when.date()}")
        if not AS_OF <= r["day"] <= end:
            out.append(f"date outside horizon: {r['day']}")
        if r["channel"] not in allowed_ch[r["offer"]]:
            out.append(f"offer {r['offer']} on disallowed channel {r['channel']}")
    # quiet periods
    for _, q in policy.quiet_periods.iterrows():
        tab, col = (data.tickets, "opened_at") if q["event"] == "complaint" else (data.transactions, "ordered_at")
        for _, ev in tab.iterrows():
            e = _day(ev[col])
            hit = rows[(rows["customer_id"] == ev["customer_id"]) & (rows["day"] >= e) & (rows["day"] <= e + pd.Timedelta(days=int(q["days"])))]
            if len(hit):
                out.append(f"quiet period {q['event']}: {ev['customer_id']}")
    # caps: history (weight 1) + plan (offer weight)
    inter = data.interactions
    hist = inter[inter["direction"] == "outbound"]
    events = pd.concat([
        pd.DataFrame({"customer_id": hist["customer_id"], "channel": hist["channel"], "day": pd.to_datetime(hist["at"]).dt.normalize(),
                      "w": 1.0, "planned": False}),
        pd.DataFrame({"customer_id": rows["customer_id"], "channel": rows["channel"], "day": rows["day"],
                      "w": rows["offer"].map(weights).astype(float), "planned": True}),
    ], ignore_index=True)
    for _, cap in policy.caps.iterrows():
        ev = events if cap["scope"] == "all" else events[events["channel"] == cap["scope"]]
        for cid, g in ev.groupby("customer_id"):
            planned_days = g.loc[g["planned"], "day"]
            if planned_days.empty:
                continue
            if cap["kind"] == "sliding":
                W = int(cap["window"].rstrip("Dd"))
                for pdays in planned_days:
                    for s in pd.date_range(pdays - pd.Timedelta(days=W - 1), pdays):
                        tot = g.loc[(g["day"] >= s) & (g["day"] <= s + pd.Timedelta(days=W - 1)), "w"].sum()
                        if tot > cap["max_weight"] + 1e-9:
                            out.append(f"sliding cap {cap['scope']} {W}D: {cid} window from {s.date()} has {tot}")
            else:
                if cap["window"] == "month":
                    key = g["day"].dt.to_period("M")
                else:
                    key = g["day"] - pd.to_timedelta(g["day"].dt.day_of_week, unit="D")  # Monday of the ISO week
                tot = g.groupby(key)["w"].sum()
                planned_keys = set(key[g["planned"]])
                for kk, v in tot.items():
                    if kk in planned_keys and v > cap["max_weight"] + 1e-9:
                        out.append(f"calendar cap {cap['scope']} {cap['window']}: {cid} {kk} has {v}")
    # capacity per day (contacts actually made = targets; the whole selection is checked too)
    cap_day = dict(zip(policy.channels["channel"], policy.channels["capacity_per_day"]))
    for (ch, day), n in rows.groupby(["channel", "day"]).size().items():
        if np.isfinite(cap_day[ch]) and n > np.floor(cap_day[ch]):
            out.append(f"capacity {ch} on {day.date()}: {n} > {cap_day[ch]}")
    if budget is not None and rows["cost"].sum() > budget + 1e-6:
        out.append(f"budget: {rows['cost'].sum()} > {budget}")
    per_cust = rows.groupby("customer_id").size()
    if (per_cust > policy.max_offers_per_customer).any():
        out.append("more offers per customer than allowed")
    if rows.duplicated(["customer_id", "offer"]).any():
        out.append("an offer on two channels to one customer")
    vol = rows.groupby("offer").size()
    for _, o in policy.offers.iterrows():
        n = int(vol.get(o["offer"], 0))
        if np.isfinite(o["max_volume"]) and n > o["max_volume"]:
            out.append(f"max volume {o['offer']}: {n} > {o['max_volume']}")
        if np.isfinite(o["min_volume"]) and n < o["min_volume"]:
            out.append(f"min volume {o['offer']}: {n} < {o['min_volume']}")
    return out


# ---------------------------------------------------------------------------- random worlds
@st.composite
def worlds(draw):
    n = draw(st.integers(1, 8))
    cids = [f"C{i}" for i in range(n)]
    day = st.integers(-45, 15)

    cons = []
    for c in cids:
        for ch in CHANNELS:
            for _ in range(draw(st.sampled_from([0, 1, 1, 2]))):
                when = draw(st.one_of(st.none(), day))
                cons.append({"customer_id": c, "channel": ch, "granted": draw(st.sampled_from([True, True, False])),
                             "updated_at": pd.NaT if when is None else AS_OF + pd.Timedelta(days=when, hours=draw(st.integers(0, 23)))})
    inter = []
    for c in cids:
        for _ in range(draw(st.integers(0, 6))):
            inter.append({"customer_id": c, "at": AS_OF + pd.Timedelta(days=draw(day), hours=draw(st.integers(0, 23))),
                          "channel": draw(st.sampled_from(CHANNELS + ["web"])),
                          "direction": draw(st.sampled_from(["outbound", "outbound", "inbound"])), "kind": "campaign"})
    tickets = [{"customer_id": draw(st.sampled_from(cids)), "opened_at": AS_OF + pd.Timedelta(days=draw(day))}
               for _ in range(draw(st.integers(0, 2)))]
    tx = [{"customer_id": draw(st.sampled_from(cids)), "ordered_at": AS_OF + pd.Timedelta(days=draw(day)), "amount": 10.0}
          for _ in range(draw(st.integers(0, 3)))]
    data = CRMData(
        customers=pd.DataFrame({"customer_id": cids, "created_at": AS_OF - pd.Timedelta(days=400)}),
        consents=pd.DataFrame(cons, columns=["customer_id", "channel", "granted", "updated_at"]),
        interactions=pd.DataFrame(inter, columns=["customer_id", "at", "channel", "direction", "kind"]).assign(
            interaction_id=lambda f: [f"I{i}" for i in range(len(f))]),
        tickets=pd.DataFrame(tickets, columns=["customer_id", "opened_at"]),
        transactions=pd.DataFrame(tx, columns=["customer_id", "ordered_at", "amount"]),
    )
    channels = pd.DataFrame({
        "channel": CHANNELS,
        "cost_per_contact": [draw(st.sampled_from([0.0, 0.05, 0.5, 2.0])) for _ in CHANNELS],
        "capacity_per_day": [draw(st.sampled_from([np.nan, np.nan, 0.0, 1.0, 2.0])) for _ in CHANNELS],
    })
    caps = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["sliding", "calendar"]))
        caps.append({"scope": draw(st.sampled_from(CHANNELS + ["all"])), "kind": kind,
                     "window": f"{draw(st.integers(1, 10))}D" if kind == "sliding" else draw(st.sampled_from(["week", "month"])),
                     "max_weight": float(draw(st.sampled_from([0, 1, 2, 3, 4, 6])))})
    quiet = [{"event": e, "days": draw(st.integers(0, 10))} for e in ("complaint", "purchase") if draw(st.booleans())]
    n_off = draw(st.integers(1, 3))
    offers = pd.DataFrame({
        "offer": [f"O{i}" for i in range(n_off)],
        "weight": [draw(st.sampled_from([0.5, 1.0, 2.0])) for _ in range(n_off)],
        "min_volume": [draw(st.sampled_from([np.nan] * 6 + [1.0, 2.0])) for _ in range(n_off)],
        "max_volume": [draw(st.sampled_from([np.nan, np.nan, 1.0, 3.0])) for _ in range(n_off)],
        "channels": [draw(st.sampled_from(["*", "email", "email,sms", "phone"])) for _ in range(n_off)],
    })
    policy = pl.ContactPolicy(channels, pd.DataFrame(caps, columns=["scope", "kind", "window", "max_weight"]),
                              pd.DataFrame(quiet, columns=["event", "days"]), offers,
                              max_offers_per_customer=draw(st.integers(1, 2)))
    values = pd.DataFrame([{"offer": o, "channel": c, "value": draw(st.sampled_from([0.0, 0.3, 1.0, 3.0, 7.0]))}
                           for o in offers["offer"] for c in CHANNELS])
    horizon = draw(st.integers(1, 10))
    budget = draw(st.sampled_from([None, 0.0, 1.0, 4.0]))
    method = draw(st.sampled_from(["milp", "lagrangian"]))
    share = draw(st.sampled_from([0.0, 0.1, 0.5]))
    return data, policy, values, horizon, budget, method, share


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(worlds())
def test_no_plan_breaks_consent_or_caps(world):
    data, policy, values, horizon, budget, method, share = world
    el = pl.eligibility(data, policy, AS_OF, horizon_days=horizon)
    cand = pl.candidates(data, policy, AS_OF, value=values, horizon_days=horizon, eligibility=el)
    try:
        plan = pl.optimize(cand, policy, budget=budget, eligibility=el, method=method, holdout_share=share, random_state=1)
    except pl.InfeasiblePolicyError as err:
        assert err.constraints, "an infeasible policy must name its constraints"
        if method == "lagrangian":  # the decomposition only gives up when the exact MILP agrees
            with pytest.raises(pl.InfeasiblePolicyError):
                pl.optimize(cand, policy, budget=budget, eligibility=el, method="milp")
        assume(False)
        return
    problems = violations(plan, data, policy, budget, horizon)
    assert not problems, problems
    # the holdout is drawn from the selection and never contacted twice
    assert set(plan.rows["group"]) <= {"target", "holdout"}
    assert plan.objective <= plan.lp_bound + 1e-6 * max(1.0, abs(plan.lp_bound))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(worlds())
def test_caps_change_in_what_if_still_safe(world):
    """Loosening/tightening caps through prepare(...).solve(caps=...) stays within the new caps."""
    data, policy, values, horizon, budget, method, share = world
    assume(len(policy.caps) > 0)
    el = pl.eligibility(data, policy, AS_OF, horizon_days=horizon)
    cand = pl.candidates(data, policy, AS_OF, value=values, horizon_days=horizon, eligibility=el, include_capped=True)
    opt = pl.prepare(cand, policy, eligibility=el)
    new_caps = {(r["scope"], r["window"]): r["max_weight"] + 1 for _, r in policy.caps.iterrows()}
    try:
        plan = opt.solve(budget=budget, caps=new_caps, method=method, holdout_share=share)
    except pl.InfeasiblePolicyError:
        assume(False)
        return
    loosened = policy.with_changes(caps=new_caps)
    assert not violations(plan, data, loosened, budget, horizon)


def test_checker_catches_a_broken_plan():
    """The checker itself can fail: a plan that e-mails a customer over the cap is flagged."""
    data = CRMData(
        customers=pd.DataFrame({"customer_id": ["A"], "created_at": [AS_OF]}),
        consents=pd.DataFrame({"customer_id": ["A"], "channel": ["email"], "granted": [True], "updated_at": [pd.NaT]}),
        interactions=pd.DataFrame({"customer_id": ["A"] * 3, "at": [AS_OF - pd.Timedelta(days=d) for d in (1, 2, 3)],
                                   "channel": ["email"] * 3, "direction": ["outbound"] * 3, "kind": ["campaign"] * 3}),
        tickets=pd.DataFrame({"customer_id": [], "opened_at": []}),
        transactions=pd.DataFrame({"customer_id": [], "ordered_at": [], "amount": []}),
    )
    policy = pl.ContactPolicy(
        pd.DataFrame({"channel": CHANNELS, "cost_per_contact": [0.0] * 3, "capacity_per_day": [np.nan] * 3}),
        pd.DataFrame({"scope": ["email"], "kind": ["sliding"], "window": ["7D"], "max_weight": [3.0]}),
        pd.DataFrame({"event": [], "days": []}),
        pd.DataFrame({"offer": ["O0"], "weight": [1.0], "min_volume": [np.nan], "max_volume": [np.nan], "channels": ["*"]}),
    )
    values = pd.DataFrame({"offer": "O0", "channel": CHANNELS, "value": 1.0})
    el = pl.eligibility(data, policy, AS_OF)
    assert el.allowed.loc["A", "email"] == 0
    assert "cap: email 3 in 7 days" in set(el.excluded["reason"])
    cand = pl.candidates(data, policy, AS_OF, value=values, eligibility=el)
    assert cand.empty  # no consent on sms/phone, e-mail capped
    plan = pl.optimize(cand, policy, eligibility=el, holdout_share=0.0)
    assert plan.rows.empty
    # forge a violating plan and check the checker sees it
    forged = plan.rows.copy()
    forged.loc[0] = {"customer_id": "A", "offer": "O0", "channel": "email", "planned_date": AS_OF, "group": "target",
                     "expected_value": 1.0, "cost": 0.0, "profit": 1.0, "value_sd": np.nan}
    from dataclasses import replace

    bad = replace(plan, rows=forged)
    problems = violations(bad, data, policy, None, 7)
    assert any(p.startswith("sliding cap email 7D") for p in problems)
    forged.loc[0, "channel"] = "sms"
    problems = violations(replace(plan, rows=forged), data, policy, None, 7)
    assert any(p.startswith("consent") for p in problems)
