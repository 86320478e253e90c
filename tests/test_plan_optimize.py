"""Optimisation of the contact plan: exact HiGHS MILP vs the HiGHS Lagrangian decomposition,
bounds, shadow prices, the greedy comparison, infeasible policies, holdout and dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import crmkit.plan as pl
from crmkit.errors import CrmkitError, ParameterError

CHANNELS = ["email", "sms", "push", "phone"]
OFFERS = ["A", "B", "C"]


def make_policy(capacity=(np.nan, np.nan, np.nan, 5.0), k=1, min_volume=(np.nan,) * 3, max_volume=(np.nan,) * 3):
    return pl.ContactPolicy(
        pd.DataFrame({"channel": CHANNELS, "cost_per_contact": [0.02, 0.06, 0.005, 2.5], "capacity_per_day": list(capacity)}),
        pd.DataFrame({"scope": ["email", "all"], "kind": ["sliding", "calendar"], "window": ["7D", "month"], "max_weight": [3.0, 8.0]}),
        pd.DataFrame({"event": ["complaint"], "days": [14]}),
        pd.DataFrame({"offer": OFFERS, "weight": [1.0, 1.0, 2.0], "min_volume": list(min_volume),
                      "max_volume": list(max_volume), "channels": ["*", "email,sms,push", "*"]}),
        max_offers_per_customer=k,
    )


def make_candidates(n_customers, seed, *, policy=None, consent=0.6):
    """Random candidates like pl.candidates makes: value heavy-tailed per customer, channel uplift."""
    rng = np.random.default_rng(seed)
    policy = policy or make_policy()
    och = policy.offer_channels()
    cost = dict(zip(policy.channels["channel"], policy.channels["cost_per_contact"]))
    uplift = {"email": 0.01, "sms": 0.015, "push": 0.006, "phone": 0.08}
    factor = rng.lognormal(0.0, 1.0, n_customers)
    rows = []
    for i in range(n_customers):
        allowed_all = float(rng.choice([1.0, 2.0, 4.0, 8.0]))
        for ch in CHANNELS:
            if rng.random() > consent:
                continue
            allowed = min(allowed_all, float(rng.choice([1.0, 2.0, 3.0])))
            for o in OFFERS:
                if ch in och[o]:
                    rows.append((f"C{i:05d}", o, ch, uplift[ch] * 8.0 * factor[i] * rng.uniform(0.7, 1.3), cost[ch],
                                 allowed, allowed_all))
    cand = pd.DataFrame(rows, columns=["customer_id", "offer", "channel", "expected_value", "cost", "allowed", "allowed_all"])
    cand["weight"] = cand["offer"].map(dict(zip(policy.offers["offer"], policy.offers["weight"])))
    cand = cand[cand["weight"] <= cand["allowed"]].reset_index(drop=True)
    cand.attrs.update({"as_of": pd.Timestamp("2025-07-01"), "horizon_days": 7})
    return cand


@pytest.mark.parametrize("seed,budget,k", [(0, 20.0, 1), (1, 60.0, 1), (2, None, 1), (3, 15.0, 2), (4, 40.0, 2)])
def test_decomposition_within_its_gap_of_the_exact_optimum(seed, budget, k):
    policy = make_policy(k=k, max_volume=(np.nan, 120.0, np.nan))
    cand = make_candidates(600, seed, policy=policy)
    exact = pl.optimize(cand, policy, budget=budget, method="milp", holdout_share=0.0, greedy=False)
    dec = pl.optimize(cand, policy, budget=budget, method="lagrangian", holdout_share=0.0, greedy=False)
    assert exact.solver == "highs-milp" and dec.solver == "highs-lagrangian"
    opt = exact.objective
    assert exact.lp_bound >= opt - 1e-6
    # the Lagrangian dual value is an upper bound on the optimum …
    assert dec.lp_bound >= opt - 1e-6 * max(1.0, opt)
    # … and the integral plan is within the reported gap of the optimum
    assert dec.objective <= opt + 1e-6
    assert (opt - dec.objective) <= dec.gap * dec.lp_bound + 1e-6
    if k == 1:  # per-customer polytope integral: the dual meets the LP bound
        assert dec.lp_bound == pytest.approx(exact.lp_bound, rel=2e-3)
        assert dec.gap < 2e-2  # small instance: a few marginal contacts weigh more than at scale


def test_greedy_is_never_better_than_the_exact_optimum():
    policy = make_policy()
    cand = make_candidates(500, 7, policy=policy)
    plan = pl.optimize(cand, policy, budget=25.0, method="milp", holdout_share=0.0)
    assert plan.greedy["objective"] <= plan.objective + 1e-6
    assert plan.greedy["difference"] == pytest.approx(plan.objective - plan.greedy["objective"])


def test_budget_shadow_price_matches_the_lp_bound_slope():
    policy = make_policy(capacity=(np.nan,) * 4)
    cand = make_candidates(400, 11, policy=policy)
    b, eps = 10.0, 0.05
    p0 = pl.optimize(cand, policy, budget=b, method="milp", holdout_share=0.0, greedy=False)
    p1 = pl.optimize(cand, policy, budget=b + eps, method="milp", holdout_share=0.0, greedy=False)
    sp = p0.shadow_prices.set_index("kind").loc["budget"]
    assert sp["binding"]
    assert (p1.lp_bound - p0.lp_bound) / eps == pytest.approx(sp["shadow_price"], rel=0.05)
    assert "One more £1 of budget is worth £" in sp["sentence"]


def test_capacity_binding_shadow_price_in_words():
    policy = make_policy(capacity=(np.nan, np.nan, np.nan, 2.0))
    cand = make_candidates(800, 3, policy=policy)
    plan = pl.optimize(cand, policy, budget=None, method="lagrangian", holdout_share=0.0, greedy=False)
    row = plan.shadow_prices.set_index("target").loc["phone"]
    assert row["binding"] and row["used"] == 14  # 2 a day × 7 days
    assert row["sentence"].startswith("One more call-centre call per day")
    assert row["shadow_price"] > 0


def test_min_volume_is_met_or_the_policy_is_named_infeasible():
    policy = make_policy(min_volume=(np.nan, 250.0, np.nan))
    cand = make_candidates(600, 5, policy=policy)
    plan = pl.optimize(cand, policy, budget=None, method="lagrangian", holdout_share=0.0, greedy=False)
    assert (plan.rows["offer"] == "B").sum() >= 250
    too_many = make_policy(min_volume=(np.nan, 10_000.0, np.nan))
    with pytest.raises(pl.InfeasiblePolicyError) as err:
        pl.optimize(cand, too_many, holdout_share=0.0)
    assert any("offer 'B': min_volume 10,000" in c for c in err.value.constraints)
    assert isinstance(err.value, CrmkitError)
    phone_only = pl.ContactPolicy(
        too_many.channels, too_many.caps, too_many.quiet_periods,
        too_many.offers.assign(min_volume=[100.0, np.nan, np.nan], channels=["phone", "*", "*"]))
    with pytest.raises(pl.InfeasiblePolicyError, match="capacity of its channels"):
        pl.optimize(cand, phone_only, holdout_share=0.0)
    with pytest.raises(pl.InfeasiblePolicyError, match="budget"):
        pl.optimize(cand, policy, budget=0.5, holdout_share=0.0)


def test_holdout_is_stratified_random_and_not_contacted():
    policy = make_policy()
    cand = make_candidates(1500, 9, policy=policy)
    seg = pd.Series(np.where(np.arange(1500) % 3 == 0, "gold", "silver"), index=[f"C{i:05d}" for i in range(1500)])
    plan = pl.optimize(cand, policy, budget=None, holdout_share=0.2, stratify=seg, random_state=4, greedy=False)
    rows = plan.rows
    for (offer, s), g in rows.assign(seg=rows["customer_id"].map(seg)).groupby(["offer", "seg"]):
        assert (g["group"] == "holdout").sum() == int(np.floor(0.2 * len(g) + 0.5))
    h = plan.holdout.set_index("offer")
    assert (h["n_target"] + h["n_holdout"]).sum() == len(rows)
    again = pl.optimize(cand, policy, budget=None, holdout_share=0.2, stratify=seg, random_state=4, greedy=False)
    pd.testing.assert_frame_equal(plan.rows, again.rows)
    other = pl.optimize(cand, policy, budget=None, holdout_share=0.2, stratify=seg, random_state=5, greedy=False)
    assert not plan.rows["group"].equals(other.rows["group"])
    # the expected profit is that of the targets only
    assert plan.expected_profit == pytest.approx(rows.loc[rows["group"] == "target", "profit"].sum())
    assert plan.expected_profit < plan.objective
    assert plan.profit_low < plan.expected_profit < plan.profit_high or np.isnan(plan.profit_low)


def test_dates_spread_within_capacity_and_horizon():
    policy = make_policy(capacity=(np.nan, np.nan, np.nan, 3.0))
    cand = make_candidates(900, 2, policy=policy)
    plan = pl.optimize(cand, policy, budget=None, holdout_share=0.1, greedy=False)
    d = pd.to_datetime(plan.rows["planned_date"])
    assert d.min() >= pd.Timestamp("2025-07-01") and d.max() <= pd.Timestamp("2025-07-07")
    per_day = plan.rows[plan.rows["channel"] == "phone"].groupby("planned_date").size()
    assert per_day.max() <= 3
    email = plan.rows[plan.rows["channel"] == "email"].groupby("planned_date").size()
    assert email.max() - email.min() <= 1  # round-robin over the days


def test_prepared_optimizer_reuses_arrays_and_follows_the_sliders():
    policy = make_policy()
    cand = make_candidates(800, 13, policy=policy)
    opt = pl.prepare(cand, policy)
    low = opt.solve(budget=5.0, greedy=False, holdout_share=0.0)
    high = opt.solve(budget=50.0, greedy=False, holdout_share=0.0)
    assert low.rows["cost"].sum() <= 5.0 + 1e-9 < high.rows["cost"].sum()
    assert high.objective >= low.objective
    more_phone = opt.solve(budget=None, capacity={"phone": 20}, greedy=False, holdout_share=0.0)
    assert (more_phone.rows["channel"] == "phone").sum() > (opt.solve(budget=None, greedy=False, holdout_share=0.0).rows["channel"] == "phone").sum()
    with pytest.raises(ParameterError, match="caps"):
        opt.solve(caps={"email": 1})  # caps need the eligibility (history usage) to be recomputed


def test_demo_world_plan_end_to_end(small_world):
    data = small_world.data
    policy = pl.ContactPolicy.default()
    el = pl.eligibility(data, policy, "2025-06-30")
    cand = pl.candidates(data, policy, "2025-06-30", eligibility=el, include_capped=True)
    assert set(cand["channel"]) <= set(policy.channels["channel"])
    opt = pl.prepare(cand, policy, eligibility=el)
    plan = opt.solve(budget=40.0, caps={"email": 1, ("all", "month"): 2})
    assert plan.rows["cost"].sum() <= 40.0 + 1e-9
    text = plan.summary()
    assert "Expected incremental profit" in text and "gap" in text
    assert set(plan.to_frame().columns) >= {"customer_id", "offer", "channel", "planned_date", "group", "expected_value"}
    assert plan.excluded["customers"].ge(0).all() and "no consent" in set(plan.excluded["reason"])
    fig = plan.plot()
    assert fig.layout.yaxis.title.text == "planned contacts"
    assert sum(sum(tr.y) for tr in fig.data) == (plan.rows["group"] == "target").sum()


def test_warm_started_solve_matches_a_fresh_one():
    """Cuts reused across solves (only right-hand sides change) must not change the answer."""
    policy = make_policy(max_volume=(np.nan, 150.0, np.nan))
    cand = make_candidates(1200, 21, policy=policy)
    warm = pl.prepare(cand, policy)
    warm.solve(budget=4.0, method="lagrangian", greedy=False, holdout_share=0.0)
    a = warm.solve(budget=16.0, capacity={"phone": 3}, method="lagrangian", greedy=False, holdout_share=0.0)
    b = pl.prepare(cand, policy).solve(budget=16.0, capacity={"phone": 3}, method="lagrangian", greedy=False, holdout_share=0.0)
    exact = pl.prepare(cand, policy).solve(budget=16.0, capacity={"phone": 3}, method="milp", greedy=False, holdout_share=0.0)
    for p in (a, b):
        assert p.lp_bound >= exact.lp_bound - 1e-6 * exact.lp_bound  # a valid bound …
        assert p.lp_bound == pytest.approx(exact.lp_bound, rel=1e-3)  # … that meets the LP bound (k = 1)
        assert p.objective <= exact.objective + 1e-6
        assert exact.objective - p.objective <= p.gap * p.lp_bound + 1e-6
        assert p.gap < 1e-2  # small, tight instance (budget £16 for 1,200 customers): the rounding costs most here
    assert a.lp_bound == pytest.approx(b.lp_bound, rel=1e-4)


def test_holdout_share_from_the_power_calculation():
    policy = make_policy()
    cand = make_candidates(2000, 8, policy=policy)
    plan = pl.optimize(cand, policy, budget=None, holdout_share="power", greedy=False,
                       power_params={"baseline_rate": 0.05, "effect": 0.03})
    from crmkit.campaign import holdout_share

    for _, r in plan.holdout.iterrows():
        n = r["n_target"] + r["n_holdout"]
        expected = min(holdout_share(int(n), 0.05, 0.03).share or 0.5, 0.5)
        assert r["n_holdout"] == int(np.floor(expected * n + 0.5))
    with pytest.raises(ParameterError, match="power_params"):
        pl.optimize(cand, policy, holdout_share="power")


def test_same_inputs_give_the_same_plan_whatever_came_between():
    """A slider that returns to a value shows exactly the plan it showed before; a warm-started
    plan and a fresh one are both within their reported gap of the optimum (so of each other)."""
    policy = make_policy(max_volume=(np.nan, 150.0, np.nan))
    cand = make_candidates(1200, 22, policy=policy)
    opt = pl.prepare(cand, policy)
    kw = {"method": "lagrangian", "greedy": False, "holdout_share": 0.1, "tol": 1e-3}
    a1 = opt.solve(budget=16.0, **kw)
    b = opt.solve(budget=6.0, capacity={"phone": 2}, **kw)
    a2 = opt.solve(budget=16.0, **kw)
    pd.testing.assert_frame_equal(a1.to_frame(), a2.to_frame())
    assert a1.objective == a2.objective and a1.lp_bound == a2.lp_bound
    pd.testing.assert_frame_equal(a1.volumes, a2.volumes)
    pd.testing.assert_frame_equal(a1.shadow_prices, a2.shadow_prices)
    # the raw solve is remembered as well (a different holdout share rebuilds only the plan)
    a3 = opt.solve(budget=16.0, **{**kw, "holdout_share": 0.0})
    assert opt.last_memo_hit and a3.objective == a1.objective
    # B after A vs B on a fresh optimiser: both valid, and within their reported gaps of each other
    fresh_b = pl.prepare(cand, policy).solve(budget=6.0, capacity={"phone": 2}, **kw)
    assert b.rows["cost"].sum() <= 6.0 + 1e-9 and fresh_b.rows["cost"].sum() <= 6.0 + 1e-9
    assert abs(b.objective - fresh_b.objective) <= max(b.gap * b.lp_bound, fresh_b.gap * fresh_b.lp_bound) + 1e-9
    # and the fresh optimize() at A agrees with the warm A within the gap
    fresh_a = pl.optimize(cand, policy, budget=16.0, **kw)
    assert abs(a2.objective - fresh_a.objective) <= max(a2.gap * a2.lp_bound, fresh_a.gap * fresh_a.lp_bound) + 1e-9
    # a Generator seed draws a new holdout each time: not remembered
    g1 = opt.solve(budget=16.0, **{**kw, "random_state": np.random.default_rng(1)})
    assert g1 is not a1 and g1.objective == a1.objective


def test_exact_solve_prints_nothing(capfd, monkeypatch):
    """HiGHS' MILP writes a diagnostic line to file descriptor 1 from C++; it is silenced."""
    import contextlib

    import crmkit.plan._optimize as opt_mod

    policy = make_policy(k=2, max_volume=(np.nan, 120.0, np.nan), min_volume=(20.0, np.nan, np.nan))
    cand = make_candidates(300, 1, policy=policy)

    def solve():
        return pl.optimize(cand, policy, budget=12.0, method="milp", holdout_share=0.0, greedy=False)

    with monkeypatch.context() as m:  # without the redirection this instance does print (the test can fail)
        m.setattr(opt_mod, "quiet_stdout", contextlib.nullcontext)
        loud = solve()
    assert "HighsMipSolverData" in capfd.readouterr().out
    quiet = solve()
    print("still printing")  # Python's own stdout is restored after the solve
    out, err = capfd.readouterr()
    assert out == "still printing\n" and "Highs" not in err
    assert quiet.objective == loud.objective


def test_forgotten_inputs_are_solved_again_to_the_same_plan(monkeypatch):
    """With a memory of one solve, inputs seen long ago are re-solved: the warm start comes from
    the first solve of the structure (kept), so the plan is the same as the first time."""
    import crmkit.plan._optimize as opt_mod

    monkeypatch.setattr(opt_mod, "MEMO_SIZE", 1)
    policy = make_policy(max_volume=(np.nan, 150.0, np.nan))
    cand = make_candidates(1200, 23, policy=policy)
    opt = pl.prepare(cand, policy)
    kw = {"method": "lagrangian", "greedy": False, "holdout_share": 0.0, "tol": 1e-3}
    first = {b: opt.solve(budget=b, **kw) for b in (16.0, 9.0, 5.0)}
    again = {b: opt.solve(budget=b, **kw) for b in (5.0, 9.0, 16.0, 9.0)}
    assert len(opt._memo) <= 2  # one remembered + the pinned anchor input
    for b, p in again.items():
        pd.testing.assert_frame_equal(p.to_frame(), first[b].to_frame())
        assert p.objective == first[b].objective and p.lp_bound == first[b].lp_bound
