"""Time ``crmkit.features.rfm_summary`` against lifetimes and plain pandas.

Run on purpose, never as a test::

    python benchmarks/bench_rfm_summary.py                    # 1M and 10M rows
    python benchmarks/bench_rfm_summary.py --sizes 1e5,1e6 --repeats 5

For each size it builds seeded synthetic transactions (one customer per 10 rows on
average, three years of timestamps, amounts) and times, in one run:

- ``crmkit (pandas in)``: ``rfm_summary`` on the pandas frame (Ibis memtable → DuckDB);
- ``crmkit (DuckDB table)``: ``rfm_summary`` on a table of a DuckDB file, via Ibis;
- ``lifetimes``: ``lifetimes.utils.summary_data_from_transaction_data``;
- ``pandas groupby``: a hand-written vectorised pandas equivalent.

Times are wall-clock seconds, best of ``--repeats`` for sizes up to
``--repeat-below`` rows and a single run above. Every result is checked against
crmkit's before it is reported. Ratios are time / crmkit (pandas in) time.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2022-01-01")
DAYS = 3 * 365
OBSERVATION_END = "2024-09-30"


def make_transactions(n_rows: int, seed: int = 42) -> pd.DataFrame:
    """``n_rows`` seeded synthetic transactions over ``n_rows // 10`` customers."""
    rng = np.random.default_rng(seed)
    n_customers = max(n_rows // 10, 1)
    # Skewed activity: a few heavy buyers, many one-off buyers.
    weights = rng.gamma(0.5, 1.0, n_customers)
    customer = rng.choice(n_customers, size=n_rows, p=weights / weights.sum())
    # Each customer becomes active at some point; orders fall after that.
    active_from = rng.uniform(0, DAYS * 86400, n_customers)
    seconds = active_from[customer] + rng.uniform(0, 1, n_rows) * (DAYS * 86400 - active_from[customer])
    ordered_at = START.to_datetime64().astype("datetime64[us]") + (seconds * 1e6).astype("timedelta64[us]")
    labels = pd.array([f"C{i:08d}" for i in range(n_customers)], dtype="str")
    amount = np.round(rng.lognormal(3.5, 0.8, n_rows), 2)
    return pd.DataFrame(
        {
            "customer_id": labels.take(customer),
            "ordered_at": ordered_at,
            "amount": amount,
        }
    )


def pandas_groupby(tx: pd.DataFrame, observation_end: str) -> pd.DataFrame:
    """A vectorised pandas equivalent (weeks from Monday, same conventions as lifetimes)."""
    at = tx["ordered_at"]
    period = at.dt.normalize() - pd.to_timedelta(at.dt.day_of_week, unit="D")
    end = pd.Timestamp(observation_end).to_period("W").to_timestamp()
    keep = period <= end
    periods = (
        pd.DataFrame({"customer_id": tx["customer_id"][keep], "period": period[keep], "spend": tx["amount"][keep]})
        .groupby(["customer_id", "period"], sort=True)["spend"]
        .sum()
        .reset_index()
    )
    first = periods.groupby("customer_id")["period"].transform("min")
    grouped = periods.groupby("customer_id", sort=True)
    week = pd.Timedelta(days=7)
    out = pd.DataFrame(
        {
            "frequency": grouped.size() - 1,
            "recency": (grouped["period"].max() - grouped["period"].min()) / week,
            "T": (end - grouped["period"].min()) / week,
            "monetary_value": periods["spend"].where(periods["period"] > first).groupby(periods["customer_id"]).mean(),
        }
    )
    out["monetary_value"] = out["monetary_value"].fillna(0.0)
    return out.astype("float64")


def _time(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _same(a: pd.DataFrame, b: pd.DataFrame, name: str) -> None:
    a = a.copy()
    a.index.name = "customer_id"
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-9, check_index_type=False)
    except AssertionError as exc:
        raise SystemExit(f"{name} disagrees with crmkit: {exc}") from None


def run(n_rows: int, *, repeats: int, skip_lifetimes_above: int, workdir: Path) -> list[tuple[str, float | None]]:
    import duckdb
    import ibis

    from crmkit.features import rfm_summary

    tx = make_transactions(n_rows)
    print(
        f"\n{n_rows:,} transactions, {tx['customer_id'].nunique():,} customers, "
        f"{tx['ordered_at'].min():%Y-%m-%d} to {tx['ordered_at'].max():%Y-%m-%d}; observation end {OBSERVATION_END}; "
        f"time unit W; {repeats} repeat(s)",
        flush=True,
    )
    rows: list[tuple[str, float | None]] = []

    seconds, reference = _time(lambda: rfm_summary(tx, observation_end=OBSERVATION_END, time_unit="W"), repeats)
    rows.append(("crmkit rfm_summary (pandas in)", seconds))

    path = workdir / f"bench_{n_rows}.duckdb"
    raw = duckdb.connect(str(path))
    raw.register("df", tx)
    raw.execute("CREATE OR REPLACE TABLE transactions AS SELECT * FROM df")
    raw.close()
    con = ibis.duckdb.connect(str(path))
    table = con.table("transactions")
    seconds, result = _time(lambda: rfm_summary(table, observation_end=OBSERVATION_END, time_unit="W"), repeats)
    con.disconnect()
    path.unlink()
    _same(result, reference, "crmkit on a DuckDB table")
    rows.append(("crmkit rfm_summary (DuckDB table)", seconds))

    seconds, result = _time(lambda: pandas_groupby(tx, OBSERVATION_END), repeats)
    _same(result, reference, "pandas groupby")
    rows.append(("pandas groupby", seconds))

    if n_rows > skip_lifetimes_above:
        rows.append(("lifetimes summary_data_from_transaction_data", None))
    else:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from lifetimes.utils import summary_data_from_transaction_data
        seconds, result = _time(
            lambda: summary_data_from_transaction_data(
                tx, "customer_id", "ordered_at", monetary_value_col="amount",
                observation_period_end=OBSERVATION_END, freq="W",
            ),
            repeats,
        )
        _same(result, reference, "lifetimes")
        rows.append(("lifetimes summary_data_from_transaction_data", seconds))
    return rows


def _print_table(results: dict[int, list[tuple[str, float | None]]]) -> None:
    print()
    print(f"{'rows':>12}  {'implementation':<46} {'seconds':>9} {'vs crmkit':>10}")
    for n_rows, rows in results.items():
        base = rows[0][1]
        for name, seconds in rows:
            if seconds is None:
                print(f"{n_rows:>12,}  {name:<46} {'skipped':>9} {'':>10}")
            else:
                print(f"{n_rows:>12,}  {name:<46} {seconds:>9.2f} {seconds / base:>9.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e6,1e7", help="comma-separated row counts (default 1e6,1e7)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats for small sizes, best taken (default 3)")
    parser.add_argument("--repeat-below", type=float, default=2e6, help="repeat only sizes up to this (default 2e6)")
    parser.add_argument(
        "--skip-lifetimes-above", type=float, default=1e7,
        help="skip lifetimes for sizes above this many rows (default 1e7; lifetimes is single-threaded pandas)",
    )
    args = parser.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]

    import duckdb
    import ibis
    import lifetimes

    print(
        f"Python {platform.python_version()}, pandas {pd.__version__}, ibis {ibis.__version__}, "
        f"duckdb {duckdb.__version__}, lifetimes {lifetimes.__version__}; {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n_rows in sizes:
            repeats = args.repeats if n_rows <= args.repeat_below else 1
            results[n_rows] = run(
                n_rows, repeats=repeats, skip_lifetimes_above=int(args.skip_lifetimes_above), workdir=Path(tmp)
            )
    _print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
