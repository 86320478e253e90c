"""The contact-plan what-if dashboard: seconds per slider change on the 100k demo world.

Run on purpose, never as a test::

    python benchmarks/bench_plan_whatif.py                    # 100,000 customers, seed 0
    python benchmarks/bench_plan_whatif.py --customers 20000 --repeats 1

Builds the demo world in memory, opens :class:`crmkit.dashboards.PlanWhatIfApp` on it
(data → eligibility → candidates → the prepared programme, timed once as *prepare*) and
then times ``app.set_inputs(...)`` — one re-optimisation plus the redraw of tiles, chart
and shadow prices, exactly what a slider move costs in Voila minus the browser's
round trip — for a sequence of changes a person would make. The goal is under 1 s per
change. "remembered" marks changes back to inputs seen before: the optimiser returns the
plan it made then (same inputs → same plan), so those take milliseconds. Times are wall-clock seconds on this machine; the load average is printed with
them, since other work shares the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd

CHANGES = [
    ("budget −25 %", lambda b: {"budget": 0.75 * b}),
    ("budget −50 %", lambda b: {"budget": 0.50 * b}),
    ("budget back", lambda b: {"budget": b}),
    ("e-mails per 7 days 3 → 2", lambda b: {"email_cap": 2}),
    ("e-mails per 7 days 2 → 1", lambda b: {"email_cap": 1}),
    ("e-mails per 7 days back to 3", lambda b: {"email_cap": 3}),
    ("contacts per month 8 → 4", lambda b: {"monthly_cap": 4}),
    ("contacts per month back to 8", lambda b: {"monthly_cap": 8}),
    ("calls per day 2,000 → 50", lambda b: {"call_capacity": 50}),
    ("calls per day 50 → 0", lambda b: {"call_capacity": 0}),
    ("calls per day back to 2,000", lambda b: {"call_capacity": 2000}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2, help="times the whole sequence of changes is run")
    ap.add_argument("--tol", type=float, default=1e-3, help="the app's solver tolerance (relative gap)")
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    import crmkit.synth as synth
    from crmkit.dashboards import PlanWhatIfApp

    print(f"# plan what-if benchmark — {platform.node()} · {os.cpu_count()} cores · load {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    world = synth.demo_world(args.customers, seed=args.seed)
    t_world = time.perf_counter() - t0
    with threadpool_limits(1):
        t0 = time.perf_counter()
        app = PlanWhatIfApp(data=world.data, tol=args.tol)
        t_open = time.perf_counter() - t0
        if app.plan_ is None:
            raise SystemExit(f"the app could not open: {app.message}")
        opt = app.optimizer_
        print(f"demo world: {args.customers:,} customers (seed {args.seed}) built in {t_world:.1f} s")
        print(f"candidate rows: {opt.n_rows:,} for {opt.n_customers:,} customers; prepare {app.prepare_seconds_:.1f} s, "
              f"page open (prepare + 2 solves) {t_open:.1f} s")
        budget = float(app.inputs["budget"])
        print(f"opening budget {budget:,.0f} (60% of the unconstrained plan's cost {app.unconstrained_cost_:,.0f})\n")
        rows = []
        for rep in range(args.repeats):
            for name, change in CHANGES:
                kw = change(budget)
                if "budget" in kw:
                    step = app.budget_slider.step
                    kw["budget"] = round(kw["budget"] / step) * step
                t0 = time.perf_counter()
                app.set_inputs(**kw)
                dt = time.perf_counter() - t0
                p = app.plan_
                rows.append({
                    "run": rep + 1, "change": name, "seconds": dt, "solve_seconds": p.seconds if p else np.nan,
                    "solver": p.solver if p else "error", "contacts": app.kpis["contacts"],
                    "profit": app.kpis["profit"], "gap": app.kpis["gap"],
                    "remembered": bool(getattr(opt, "last_memo_hit", False)),
                })
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False, formatters={
            "seconds": "{:.2f}".format, "solve_seconds": "{:.2f}".format, "contacts": "{:,}".format,
            "profit": "{:,.0f}".format, "gap": "{:.4%}".format}))
    s = table["seconds"]
    fresh = table.loc[~table["remembered"], "seconds"]
    print(f"\nper change: median {s.median():.2f} s, p90 {s.quantile(0.9):.2f} s, mean {s.mean():.2f} s, max {s.max():.2f} s; "
          f"not remembered ({len(fresh)}): median {fresh.median():.2f} s, p90 {fresh.quantile(0.9):.2f} s")
    print(f"per change: median {s.median():.2f} s, mean {s.mean():.2f} s, max {s.max():.2f} s; "
          f"under 1 s: {(s < 1).mean():.0%} of {len(s)} changes (goal: all). load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
