"""Benchmark of the contact-plan optimiser (crmkit.plan).

Synthetic instances of N customers × 5 offers × 4 channels (e-mail, SMS, push, call centre):
about 60 % of customer × channel pairs have consent, each customer has a random remaining
cap per channel (1–3 contacts) and across channels, values are heavy-tailed per customer ×
channel uplift × offer margin; the call centre has a capacity per day, there is a budget and
one offer has a maximum volume. The policy is built so capacity, budget and the volume cap
all bind.

Columns: size (customers), candidates (rows), seconds (prepare + solve, excluding building the
candidate table), objective (expected incremental profit of the integral plan), bound (LP
bound for milp; best Lagrangian dual value, ≥ the LP bound, for the decomposition), gap =
(bound − objective)/bound, solver. Small sizes are solved both ways for comparison.

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_plan.py [--sizes 1000,5000,100000,1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import crmkit.plan as pl

CHANNELS = ["email", "sms", "push", "phone"]
OFFERS = ["10% off", "flash sale", "£10 voucher", "free delivery", "double points"]


def policy_for(n: int) -> pl.ContactPolicy:
    return pl.ContactPolicy(
        pd.DataFrame({"channel": CHANNELS, "cost_per_contact": [0.02, 0.06, 0.005, 2.5],
                      "capacity_per_day": [np.nan, np.nan, np.nan, max(1, n // 2000)]}),
        pd.DataFrame({"scope": ["email", "all"], "kind": ["sliding", "calendar"], "window": ["7D", "month"], "max_weight": [3.0, 8.0]}),
        pd.DataFrame({"event": ["complaint", "purchase"], "days": [14, 3]}),
        pd.DataFrame({"offer": OFFERS, "weight": [1.0] * 5, "min_volume": [np.nan] * 5,
                      "max_volume": [n * 0.05, np.nan, np.nan, np.nan, np.nan], "channels": ["*"] * 5}),
        budget=n * 0.025,
    )


def make_candidates(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_ch, n_of = len(CHANNELS), len(OFFERS)
    consent = rng.random((n, n_ch)) < 0.6
    allowed_all = rng.choice([1.0, 2.0, 4.0, 8.0], size=n)
    allowed = np.minimum(rng.choice([1.0, 2.0, 3.0], size=(n, n_ch)), allowed_all[:, None])
    factor = rng.lognormal(0.0, 1.0, n)
    uplift = np.array([0.01, 0.015, 0.006, 0.08])
    margin = np.array([9.0, 7.0, 8.0, 6.0, 5.0])
    ci, cj = np.nonzero(consent)  # sorted by customer then channel
    m = len(ci)
    cust = np.repeat(ci, n_of)
    chan = np.repeat(cj, n_of)
    off = np.tile(np.arange(n_of), m)
    order = np.lexsort((chan, off, cust))  # customer, offer, channel (the policy's order)
    cust, chan, off = cust[order], chan[order], off[order]
    value = uplift[chan] * margin[off] * factor[cust] * rng.uniform(0.7, 1.3, len(cust))
    ids = pd.Categorical.from_codes(cust, categories=pd.Index([f"C{i:07d}" for i in range(n)]))
    cand = pd.DataFrame({
        "customer_id": ids,
        "offer": pd.Categorical.from_codes(off, categories=OFFERS),
        "channel": pd.Categorical.from_codes(chan, categories=CHANNELS),
        "expected_value": value,
        "cost": np.array([0.02, 0.06, 0.005, 2.5])[chan],
        "weight": 1.0,
        "allowed": allowed[cust, chan],
        "allowed_all": allowed_all[cust],
    })
    cand.attrs.update({"as_of": pd.Timestamp("2025-07-01"), "horizon_days": 7})
    return cand


def run(n: int, method: str, tol: float) -> dict:
    t0 = time.perf_counter()
    cand = make_candidates(n)
    t_build = time.perf_counter() - t0
    policy = policy_for(n)
    t0 = time.perf_counter()
    opt = pl.prepare(cand, policy)
    t_prep = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan = opt.solve(method=method, holdout_share=0.0, greedy=False, tol=tol)
    t_solve = time.perf_counter() - t0
    binding = ", ".join(plan.shadow_prices.loc[plan.shadow_prices["binding"], "kind"] + " " +
                        plan.shadow_prices.loc[plan.shadow_prices["binding"], "target"])
    return {"size": n, "candidates": len(cand), "build_s": round(t_build, 1), "seconds": round(t_prep + t_solve, 2),
            "solve_s": round(t_solve, 2), "objective": round(plan.objective, 2), "bound": round(plan.lp_bound, 2),
            "gap": f"{plan.gap:.4%}", "solver": plan.solver, "iterations": plan.iterations, "status": plan.status,
            "binding": binding}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,5000,100000,1000000")
    ap.add_argument("--tol", type=float, default=2e-4)
    args = ap.parse_args()
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        methods = ["milp", "lagrangian"] if n <= 5_000 else ["lagrangian"]
        for m in methods:
            rows.append(run(n, m, args.tol))
            print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    print()
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
