"""Time the operational-CRM calls (``crmkit.kpis``, ``crmkit.sales``) and the executive dashboard.

Run on purpose, never as a test::

    python benchmarks/bench_operations.py                    # 20,000 and 100,000 customers
    python benchmarks/bench_operations.py --sizes 100000,300000

For each size it builds the seeded demo world (not timed) and times, once each, the calls
the ``operations`` report and the ``executive`` dashboard make, in wall-clock seconds.
The first call of a process also pays for imports (statsmodels, scipy): the script
warms them up on a small world first.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import pandas as pd


def _timed(label: str, fn, rows: list, size: int):
    t = time.perf_counter()
    out = fn()
    rows.append((size, label, time.perf_counter() - t))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,100000", help="comma-separated numbers of customers")
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]

    import numpy as np
    import statsmodels

    from crmkit import kpis, sales, synth
    from crmkit.dashboards import ExecutiveApp

    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs; load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at start")
    print(f"Python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}, statsmodels {statsmodels.__version__}")

    warm = synth.demo_world(2_000, seed=0).data  # imports and first-call costs
    kpis.forecast_kpi(warm, "revenue")
    sales.cycle_times(warm)
    sales.win_rates(warm, "lead_source")

    rows: list = []
    for n in sizes:
        t = time.perf_counter()
        world = synth.demo_world(n, seed=0)
        built = time.perf_counter() - t
        d = world.data
        print(f"\n{n:,} customers: built in {built:.1f} s; {len(d.transactions):,} orders, "
              f"{len(d.opportunities):,} opportunities, {len(d.tickets):,} tickets")
        period, comparison = kpis.reporting_periods(d)
        _timed("kpis.kpi_table", lambda: kpis.kpi_table(d, period, comparison), rows, n)
        _timed("kpis.cohort_retention", lambda: kpis.cohort_retention(d), rows, n)
        _timed("kpis.forecast_kpi (revenue, 6 months + back-test)", lambda: kpis.forecast_kpi(d, "revenue"), rows, n)
        _timed("sales.funnel", lambda: sales.funnel(d), rows, n)
        _timed("sales.win_rates (owner)", lambda: sales.win_rates(d, "owner"), rows, n)
        _timed("sales.cycle_times", lambda: sales.cycle_times(d), rows, n)
        _timed("sales.pipeline_velocity (1,000 bootstrap)", lambda: sales.pipeline_velocity(d, random_state=0), rows, n)
        _timed(
            "sales.PipelineForecaster fit + predict (2,000 runs)",
            lambda: sales.PipelineForecaster(random_state=0).fit(d).predict(),
            rows,
            n,
        )
        _timed(
            "sales.backtest_pipeline_forecast (4 cut-offs)",
            lambda: sales.backtest_pipeline_forecast(d, 4, forecaster=sales.PipelineForecaster(random_state=0)),
            rows,
            n,
        )
        _timed("sales.service_levels", lambda: sales.service_levels(d), rows, n)
        _timed("sales.service_churn_link", lambda: sales.service_churn_link(d), rows, n)
        app = _timed("ExecutiveApp(data=...) (2 forecasts + first page)", lambda: ExecutiveApp(data=d), rows, n)
        _timed("ExecutiveApp.set_period (a change)", lambda: app.set_period("Last 12 months"), rows, n)

    print(f"\n{'customers':>10}  {'call':<55} {'seconds':>8}")
    for n, label, sec in rows:
        print(f"{n:>10,}  {label:<55} {sec:>8.2f}")
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the end")


if __name__ == "__main__":
    main()
