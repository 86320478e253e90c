"""Segmentation: truth recovered on the demo world, speed at 1M customers, the report at 100k.

Run on purpose, never as a test::

    python benchmarks/bench_segment.py                       # all three parts
    python benchmarks/bench_segment.py --parts truth --seeds 0,1 --customers 100000
    python benchmarks/bench_segment.py --parts scale --scale-customers 1000000
    python benchmarks/bench_segment.py --parts report --store /path/to/100k.duckdb

Parts:

``truth``
    For each seed, a demo world of ``--customers`` customers; the adjusted Rand index
    (ARI) between the planted segments and crmkit's segments, over all customers (those
    without orders form their own group) and over customers with orders only, for
    k-means (k chosen, and k = 5 as planted), the Gaussian mixture (k = 5) and the RFM
    grid; the bootstrap stability of each; and the *ceiling*: the ARI of the Bayes-optimal
    assignment computed from the planted parameters themselves
    (``tests/test_segment_truth.py::bayes_segments``), the best any method can reach.
    Seed 0 is the world the truth tests use (at 50,000 customers); seed 1 no test uses.
    Issue 4 asks for ARI ≥ 0.8 on 100,000 customers: on the demo world the Gaussian
    mixture reaches about 0.92 and k-means about 0.80, against a ceiling of about 0.98.
``scale``
    RFM scoring and k-means on ``--scale-customers`` customers: the customer-feature
    rows of a 100k demo world resampled (with replacement, fresh ids) to that size, so
    the timing covers crmkit.segment, not the feature query (which
    ``benchmarks/bench_rfm_summary.py`` and the engine benchmarks time).
``report``
    ``crmkit report segmentation`` (papermill + HTML) on a 100k demo store.

Times are wall-clock seconds on this machine; the load average is printed with them,
since other work shares the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def _load() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average n/a"


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def truth(seeds: list[int], n: int) -> pd.DataFrame:
    from sklearn.metrics import adjusted_rand_score as ari
    from test_segment_truth import bayes_segments

    from crmkit import segment, synth

    rows = []
    for seed in seeds:
        world, t_world = _timed(lambda: synth.demo_world(n, seed=seed))
        feats, t_feat = _timed(lambda: segment.segmentation_features(world.data))
        planted = world.truth.customers["segment"].reindex(feats.index).astype(str)
        buyers = feats["orders"] > 0
        print(f"seed {seed}: world {t_world:.1f} s, features {t_feat:.1f} s; {_load()}", flush=True)
        ceiling = bayes_segments(world).reindex(feats.index)
        rows.append({"seed": seed, "method": "Bayes ceiling (planted parameters)", "k": 5,
                     "ari_all": ari(planted, ceiling), "ari_buyers": ari(planted[buyers], ceiling[buyers]),
                     "stability_ari": np.nan, "stability_low": np.nan, "stability_high": np.nan, "seconds": np.nan})
        for method, k in (("kmeans", "auto"), ("kmeans", 5), ("gmm", 5), ("rfm", None)):
            seg, secs = _timed(lambda: segment.segment_customers(feats, method=method, k=k or "auto", random_state=seed))
            ids = seg.assignments["segment_id"]
            st = seg.stability
            rows.append(
                {
                    "seed": seed,
                    "method": {"kmeans": "k-means", "gmm": "Gaussian mixture", "rfm": "RFM grid"}[method],
                    "k": len(seg.segment_names),
                    "ari_all": ari(planted, ids),
                    "ari_buyers": ari(planted[buyers], ids[buyers]),
                    "stability_ari": st.ari_mean if st else np.nan,
                    "stability_low": st.ari_interval[0] if st else np.nan,
                    "stability_high": st.ari_interval[1] if st else np.nan,
                    "seconds": secs,
                }
            )
            print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 2, float_format="%.3f"), flush=True)
    return pd.DataFrame(rows)


def scale(n_target: int, seed: int = 0) -> pd.DataFrame:
    from crmkit import segment, synth

    base = segment.segmentation_features(synth.demo_world(100_000, seed=seed).data)
    rng = np.random.default_rng(seed)
    big = base.iloc[rng.integers(0, len(base), n_target)].copy()
    big.index = pd.Index([f"X{i:08d}" for i in range(n_target)], name="customer_id")
    print(f"{n_target:,} customers resampled from a 100k world; {_load()}", flush=True)
    rows = []
    for label, kwargs in (
        ("RFM scores + 11 segments + profile", {"method": "rfm"}),
        ("k-means k=5, no bootstrap", {"method": "kmeans", "k": 5, "n_bootstrap": 0}),
        ("k-means k=5 + 20 bootstrap refits", {"method": "kmeans", "k": 5, "n_bootstrap": 20}),
        ("k-means k auto (3-8) + 20 refits", {"method": "kmeans", "k": "auto", "n_bootstrap": 20}),
    ):
        seg, secs = _timed(lambda: segment.segment_customers(big, **kwargs))
        rows.append({"step": label, "customers": n_target, "segments": len(seg.segment_names), "seconds": secs,
                     "load": _load()})
        print(f"{label:40s} {secs:7.1f} s  ({_load()})", flush=True)
    return pd.DataFrame(rows)


def report(store: str | None, n: int) -> pd.DataFrame:
    from crmkit import io, report as rep, synth

    tmp = Path(tempfile.mkdtemp(prefix="crmkit-bench-seg-"))
    if store is None:
        store = str(io.save_store(synth.demo_world(n, seed=0).data, tmp / "store.duckdb", meta={"kind": "demo"}))
    rows = []
    for method in ("kmeans", "rfm"):
        run, secs = _timed(lambda: rep.run_report("segmentation", {"source": store, "method": method},
                                                  reports_dir=tmp / "reports", progress=False))
        rows.append({"report": f"segmentation (method={method})", "store": store, "ok": run.ok, "seconds": secs,
                     "load": _load()})
        print(f"report segmentation method={method}: {secs:.1f} s ({_load()})", flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default="truth,scale,report")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--scale-customers", type=int, default=1_000_000)
    p.add_argument("--store", default=None, help="a 100k demo store for the report part (default: build one)")
    a = p.parse_args(argv)
    parts = set(a.parts.split(","))
    print(f"python {platform.python_version()} · {os.cpu_count()} cores · {_load()}")
    pd.set_option("display.width", 200)
    if "truth" in parts:
        t = truth([int(s) for s in a.seeds.split(",")], a.customers)
        print("\n## Truth: planted segments vs crmkit (adjusted Rand index)\n")
        print(t.to_string(index=False, float_format="%.3f"))
    if "scale" in parts:
        s = scale(a.scale_customers)
        print("\n## Scale\n")
        print(s.to_string(index=False, float_format="%.1f"))
    if "report" in parts:
        r = report(a.store, a.customers)
        print("\n## Report\n")
        print(r.to_string(index=False, float_format="%.1f"))


if __name__ == "__main__":
    main()
