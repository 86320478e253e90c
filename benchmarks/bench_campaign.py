"""Campaign readout and uplift fit at scale (1M member rows by default).

Run on purpose, never as a test::

    python benchmarks/bench_campaign.py                 # 1,000,000 members
    python benchmarks/bench_campaign.py --members 200000 --bootstrap 2000

Members are simulated: three arms (treatment_a 45 %, treatment_b 40 %, control 15 %),
conversion 5-9 %, heavy-tailed revenue of converters (log-normal), two pre-period
columns and a five-level segment. Timed steps:

- ``readout`` conversion only (groupby + intervals + balance + segments);
- ``readout`` with revenue, bootstrap intervals (``--bootstrap`` resamples per arm) and cost;
- ``UpliftModel`` fit + predict, T-, X- and DR-learner (default logistic / ridge estimators);
- ``qini`` on the predictions.

Times are wall-clock seconds on this machine; the load average is printed with them,
since other work shares the CPU.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["treatment_a", "treatment_b", "control"], n, p=[0.45, 0.40, 0.15])
    pre_orders = rng.poisson(3, n).astype(float)
    pre_revenue = pre_orders * rng.gamma(2, 30, n)
    segment = rng.choice(["vip", "regular", "occasional", "bargain", "one-off"], n)
    base = 0.04 + 0.005 * np.minimum(pre_orders, 6)
    lift = np.where(group == "treatment_a", 0.03, np.where(group == "treatment_b", 0.015, 0.0)) * (pre_orders < 4)
    converted = rng.random(n) < base + lift
    revenue = np.where(converted, rng.lognormal(3.5, 1.1, n), 0.0)
    return pd.DataFrame({"group": group, "converted": converted, "revenue": revenue, "pre_orders": pre_orders,
                         "pre_revenue": pre_revenue, "segment": segment})


def timed(label, fn, rows):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    rows.append({"step": label, "seconds": round(dt, 2)})
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    import crmkit.campaign as cp

    rows: list[dict] = []
    m = timed("simulate members", lambda: simulate(args.members, args.seed), rows)
    cp.readout(m.head(1000))  # warm the imports (scipy, statsmodels) outside the timings
    timed("readout: conversion, balance, 5 segments", lambda: cp.readout(m, segment_col="segment"), rows)
    r = timed(f"readout: + revenue (bootstrap {args.bootstrap:,}), cost",
              lambda: cp.readout(m, revenue_col="revenue", cost_per_contact=0.02, segment_col="segment",
                                 n_bootstrap=args.bootstrap), rows)
    X = m[["pre_orders", "pre_revenue"]]
    with threadpool_limits(1):
        for method in ("t_learner", "x_learner", "dr_learner"):
            model = timed(f"UpliftModel({method}) fit", lambda: cp.UpliftModel(method).fit(X, m["group"], m["converted"]), rows)
            pred = timed(f"UpliftModel({method}) predict", lambda: model.predict(X), rows)
        q = timed("qini (treatment_a vs control)", lambda: cp.qini(m["converted"], m["group"], pred["treatment_a"],
                                                                   treated="treatment_a"), rows)
    table = pd.DataFrame(rows)
    print(f"members: {args.members:,}; load average {os.getloadavg()[0]:.2f}")
    print(table.to_string(index=False))
    print()
    print(r.sentence)
    print(f"Qini coefficient of the DR-learner, treatment_a: {q.coefficient:+.3f}")


if __name__ == "__main__":
    main()
