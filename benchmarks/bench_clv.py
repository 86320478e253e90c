"""Time crmkit.clv against lifetimes, and score 10M customers in constant memory.

Run on purpose, never as a test::

    python benchmarks/bench_clv.py                      # everything (about 5–10 minutes)
    python benchmarks/bench_clv.py --skip-lifetimes-1m  # without lifetimes on 1M customers
    python benchmarks/bench_clv.py --score-millions 2   # score 2M instead of 10M

Sections, in one run:

1. **Fit BG/NBD** with ``crmkit.clv.BetaGeo`` and lifetimes' ``BetaGeoFitter``, side by
   side: on the 2,357-customer CDNOW summary (best of ``--repeats``), and on 1M synthetic
   customers drawn from the BG/NBD process with CDNOW's parameters — once in continuous
   time (every customer distinct) and once in whole weeks as ``rfm_summary`` makes it.
   Parameters and log-likelihoods are compared before a time is reported.
2. **Score** ``--score-millions`` million customers: expected purchases, P(alive), Gamma-Gamma
   spend and discounted CLV over 52 weeks, with :func:`crmkit.clv.iter_customer_value` on
   batches of 1M generated on the fly; peak traced memory (``tracemalloc``) is printed next
   to that of scoring a single 1M batch, and lifetimes' conditional expectation on 1M for
   comparison.
3. **Recover the demo world's truth** (``--recovery-customers``, default 100,000): per
   planted segment, the BG/NBD parameters (days) against their 95 % intervals.

Times are wall-clock seconds on a shared machine: the load average is printed at start
and end; compare numbers of one run only.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import resource
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

CDNOW_PARAMS = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4258}  # Fader, Hardie & Lee 2005
GG_PARAMS = {"p": 6.25, "q": 3.74, "v": 15.44}  # Fader & Hardie 2013 (note 025), CDNOW


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def lifetimes_module():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lifetimes

        return lifetimes


def synthetic(n: int, seed: int, *, weeks: bool = False, offset: int = 0) -> pd.DataFrame:
    """``n`` customers from the BG/NBD (CDNOW parameters) with Gamma-Gamma spend; T uniform 1–78 weeks.

    Built with numpy only (integer index from ``offset``), so generating a batch costs
    little next to scoring it. ``weeks=True`` rounds recency and T to whole weeks, as
    ``rfm_summary(time_unit="W")`` reports them.
    """
    rng = np.random.default_rng(seed)
    p = CDNOW_PARAMS
    T = rng.uniform(1.0, 78.0, n)
    lam = rng.gamma(p["r"], 1.0 / p["alpha"], n)
    drop = rng.beta(p["a"], p["b"], n)
    M = rng.poisson(lam * T)
    J = rng.geometric(np.clip(drop, 1e-12, 1.0))
    x = np.minimum(M, J)
    tx = np.zeros(n)
    has = x > 0
    tx[has] = T[has] * rng.beta(x[has], M[has] - x[has] + 1)
    nu = rng.gamma(GG_PARAMS["q"], 1.0 / GG_PARAMS["v"], n)
    m = np.where(has, rng.gamma(GG_PARAMS["p"] * np.maximum(x, 1), 1.0 / (nu * np.maximum(x, 1))), 0.0)
    if weeks:
        T = np.ceil(T)
        tx = np.minimum(np.round(tx), T)
        tx = np.where(has, np.maximum(tx, x.astype(float)), 0.0)  # one purchase per week at most
        T = np.maximum(T, tx)
    frame = pd.DataFrame(
        {"frequency": x.astype(float), "recency": tx, "T": T, "monetary_value": m},
        index=pd.RangeIndex(offset, offset + n, name="customer_id"),
    )
    frame.attrs["time_unit"] = "W"
    return frame


def timed(fn, repeats: int = 1):
    best, out = math.inf, None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def fit_rows(label: str, summary: pd.DataFrame, repeats: int, run_lifetimes: bool) -> list[dict]:
    import crmkit.clv as clv

    rows = []
    t_ours, ours = timed(lambda: clv.BetaGeo().fit(summary), repeats)
    rows.append({"data": label, "implementation": "crmkit BetaGeo", "seconds": t_ours,
                 "params": ours.params_.round(4).tolist(), "log_likelihood": ours.log_likelihood_})
    if run_lifetimes:
        fitter = lifetimes_module().BetaGeoFitter
        t_lt, lt = timed(lambda: fitter().fit(summary["frequency"], summary["recency"], summary["T"]), repeats)
        lt_params = lt.params_[["r", "alpha", "a", "b"]].to_numpy()
        rel = float(np.max(np.abs(lt_params / ours.params_.to_numpy() - 1)))
        rows.append({"data": label, "implementation": "lifetimes BetaGeoFitter", "seconds": t_lt,
                     "params": np.round(lt_params, 4).tolist(), "max_rel_diff": rel})
    else:
        rows.append({"data": label, "implementation": "lifetimes BetaGeoFitter", "seconds": float("nan"),
                     "params": "skipped"})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="best of N for the CDNOW fit")
    ap.add_argument("--fit-customers", type=float, default=1e6, help="synthetic customers for the large fit")
    ap.add_argument("--skip-lifetimes-1m", action="store_true", help="do not run lifetimes on the large data")
    ap.add_argument("--score-millions", type=int, default=10, help="millions of customers to score")
    ap.add_argument("--recovery-customers", type=int, default=100_000, help="demo world size; 0 skips the section")
    args = ap.parse_args(argv)

    import scipy

    import crmkit.clv as clv

    lt_mod = lifetimes_module()
    print(f"crmkit.clv benchmark — Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"pandas {pd.__version__}, lifetimes {lt_mod.__version__}")
    print(f"{os.cpu_count()} CPUs; load average at start: {load_average()}")

    # -- 1. fits ------------------------------------------------------------------------
    path = Path(lt_mod.__file__).parent / "datasets" / "cdnow_customers_summary.csv"
    cdnow = pd.read_csv(path, dtype={"ID": str}).set_index("ID")
    n_fit = int(args.fit_customers)
    rows = fit_rows("CDNOW, 2,357 customers", cdnow, args.repeats, True)
    big = synthetic(n_fit, seed=1)
    rows += fit_rows(f"synthetic {n_fit:,}, continuous time", big, 1, not args.skip_lifetimes_1m)
    big_w = synthetic(n_fit, seed=2, weeks=True)
    rows += fit_rows(f"synthetic {n_fit:,}, whole weeks", big_w, 1, not args.skip_lifetimes_1m)
    del big, big_w
    gc.collect()

    print("\n1. BG/NBD fit, crmkit vs lifetimes (seconds; speed-up = lifetimes / crmkit)")
    print(f"{'data':38s} {'implementation':26s} {'seconds':>9s} {'speed-up':>9s}  parameters r, alpha, a, b")
    for i in range(0, len(rows), 2):
        ours, theirs = rows[i], rows[i + 1]
        speed = theirs["seconds"] / ours["seconds"] if not math.isnan(theirs["seconds"]) else float("nan")
        print(f"{ours['data']:38s} {ours['implementation']:26s} {ours['seconds']:9.2f} {'':>9s}  {ours['params']}")
        extra = f" (max rel. diff {theirs['max_rel_diff']:.1e})" if "max_rel_diff" in theirs else ""
        print(f"{'':38s} {theirs['implementation']:26s} {theirs['seconds']:9.2f} {speed:8.1f}x  {theirs['params']}{extra}")
    print(f"CDNOW log-likelihood (crmkit): {rows[0]['log_likelihood']:,.2f}  (published: -9,582.43)")

    # -- 2. scoring -----------------------------------------------------------------------
    print("\n2. Scoring: expected purchases, P(alive), spend and CLV over 52 weeks at 10 % a year")
    first = synthetic(1_000_000, seed=10)
    bg = clv.BetaGeo().fit(first)
    gg = clv.GammaGamma().fit(first)
    print(f"   models fitted on the first batch: BG/NBD {bg.params_.round(3).tolist()}, Gamma-Gamma {gg.params_.round(2).tolist()}")

    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    one = clv.customer_lifetime_value(bg, gg, first, 52, "W", 0.10, "year", interval_draws=0)
    t_one = time.perf_counter() - t0
    peak_one = tracemalloc.get_traced_memory()[1] - base
    total_one = float(one.values["clv"].sum())
    del one
    gc.collect()

    n_batches = int(args.score_millions)

    def batches():
        for k in range(n_batches):
            yield synthetic(1_000_000, seed=100 + k, offset=k * 1_000_000)

    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    gen_seconds = 0.0
    score_seconds = 0.0
    total, customers = 0.0, 0
    it = batches()
    while True:
        t0 = time.perf_counter()
        batch = next(it, None)
        gen_seconds += time.perf_counter() - t0
        if batch is None:
            break
        t0 = time.perf_counter()
        for part in clv.iter_customer_value([batch], bg, gg, 52, "W", 0.10, "year"):
            total += float(part["clv"].sum())
            customers += len(part)
        score_seconds += time.perf_counter() - t0
        del batch
    peak_stream = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()

    lt_bg = lt_mod.BetaGeoFitter()
    lt_bg.params_ = bg.params_.copy()
    t_lt_score, _ = timed(
        lambda: lt_bg.conditional_expected_number_of_purchases_up_to_time(52, first["frequency"], first["recency"], first["T"])
    )
    t_ours_score, _ = timed(lambda: bg.expected_purchases(first, 52))
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'what':58s} {'customers':>12s} {'seconds':>9s} {'peak MB':>9s}")
    print(f"{'crmkit customer_lifetime_value, one frame':58s} {1_000_000:12,d} {t_one:9.2f} {peak_one / 2**20:9.0f}")
    print(f"{'crmkit iter_customer_value, 1M batches (scoring only)':58s} {customers:12,d} {score_seconds:9.2f} "
          f"{peak_stream / 2**20:9.0f}")
    print(f"{'  (generating the batches, not scoring)':58s} {'':12s} {gen_seconds:9.2f}")
    print(f"{'crmkit BetaGeo.expected_purchases (52 weeks)':58s} {1_000_000:12,d} {t_ours_score:9.2f}")
    print(f"{'lifetimes conditional_expected_number_of_purchases_up_to_time':58s} {1_000_000:12,d} {t_lt_score:9.2f}")
    print(f"   peak traced memory: {peak_one / 2**20:,.0f} MB for 1M in one frame (result included), "
          f"{peak_stream / 2**20:,.0f} MB while streaming {customers:,} (batch generation included); "
          f"process max RSS {maxrss_mb:,.0f} MB")
    print(f"   total expected value: {total:,.0f} over {customers:,} customers (1M frame: {total_one:,.0f})")

    # -- 3. demo world ---------------------------------------------------------------------
    if args.recovery_customers:
        from crmkit import synth

        n = int(args.recovery_customers)
        t0 = time.perf_counter()
        world = synth.demo_world(n, seed=0)
        t_world = time.perf_counter() - t0
        truth = world.truth
        drivers = truth.churn_drivers
        dup = set(truth.duplicate_pairs["customer_id"]) | set(truth.duplicate_pairs["duplicate_of"])
        keep = drivers.index[(drivers["n_tickets"] == 0).to_numpy()].difference(pd.Index(sorted(dup)))
        tx = world.data.transactions
        tx = tx[tx["customer_id"].isin(keep)]
        days = (tx["ordered_at"] - truth.start).dt.total_seconds() / 86_400
        g = days.groupby(tx["customer_id"])
        first_t = g.min()
        end = (truth.end - truth.start).total_seconds() / 86_400
        exact = pd.DataFrame({"frequency": (g.size() - 1).astype(float), "recency": g.max() - first_t, "T": end - first_t})
        segment = truth.customers.loc[exact.index, "segment"]
        print(f"\n3. Demo world ({n:,} customers, seed 0, built in {t_world:.1f} s): planted BG/NBD parameters (days) "
              "against the fit per segment")
        print("   customers: no service ticket, no duplicate record; exact order times (no day buckets)")
        print(f"{'segment':12s} {'customers':>9s} {'param':>6s} {'planted':>9s} {'estimate':>9s} {'95% interval':>22s} inside")
        inside = total_params = 0
        for name, planted in truth.segment_params.iterrows():
            sub = exact[(segment == name).to_numpy()]
            try:
                m = clv.BetaGeo().fit(sub, time_unit="D")
            except clv.ConvergenceError as exc:
                print(f"{name:12s} {len(sub):9,d}  did not converge: {str(exc)[:100]}…")
                continue
            ci = m.confidence_intervals()
            for k in ("r", "alpha", "a", "b"):
                ok = ci.loc[k, "low"] <= planted[k] <= ci.loc[k, "high"]
                inside += ok
                total_params += 1
                print(f"{name:12s} {len(sub):9,d} {k:>6s} {planted[k]:9.3f} {m.params_[k]:9.3f} "
                      f"{'[' + format(ci.loc[k, 'low'], '.3f') + ', ' + format(ci.loc[k, 'high'], '.3f') + ']':>22s} "
                      f"{'yes' if ok else 'NO'}")
        print(f"   {inside} of {total_params} planted values inside their 95 % intervals")

    print(f"\nload average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
