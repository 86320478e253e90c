"""Time duplicate detection (``crmkit.quality.find_duplicates``) and measure how well it finds the truth.

Run on purpose, never as a test::

    python benchmarks/bench_duplicates.py                          # demo world 100k and 1M, messy 100k
    python benchmarks/bench_duplicates.py --sizes 1e5 --messy 2e4 --seed 7

For each size it builds the customers of a seeded demo world (``crmkit.synth.demo_world``:
3 % planted duplicate records) and, for ``--messy`` people, a client-like extract
(``crmkit.quality._messy``: 12 % of people with a second record carrying transpositions,
nicknames, swapped names, missing fields, moves …, 4 % households) loaded through
``crmkit.io.load``. It times, in one run each (wall-clock seconds):

- ``fit``: standardising the records, the prior, u by random sampling, two EM sessions;
- ``predict``: blocking, scoring every candidate pair, clustering at the threshold;

and reports precision and recall of the found clusters against the planted truth
(pairs of records of one person), with 95 % Wilson intervals, the process's CPU seconds
(user + system, all threads: robust to other jobs on a shared machine, where wall-clock
time is not) and peak memory.
The seeds default to 7 (demo) and 8 (messy): neither is used by the tests.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import crmkit.io  # noqa: E402
from crmkit import synth  # noqa: E402
from crmkit.quality._messy import messy_extract  # noqa: E402
from crmkit.quality.duplicates import DuplicateModel, match_quality  # noqa: E402


def _size(text: str) -> int:
    return int(float(text))


def _cpu() -> float:
    """CPU seconds of this process (user + system, all threads): what the work cost, whatever the load."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def run(name: str, customers: pd.DataFrame, truth: pd.DataFrame, threshold: float, seed: int) -> dict:
    gc.collect()
    cpu0 = _cpu()
    t0 = time.perf_counter()
    model = DuplicateModel(threshold=threshold, random_state=seed).fit(customers)
    t1 = time.perf_counter()
    result = model.predict()
    t2 = time.perf_counter()
    cpu = _cpu() - cpu0
    q = match_quality(result.clusters, truth)
    return {
        "data": name,
        "records": len(customers),
        "pairs scored": len(result.pairs),
        "fit s": t1 - t0,
        "predict s": t2 - t1,
        "total s": t2 - t0,
        "CPU s": cpu,
        "precision": q.at["precision", "value"],
        "precision 95% CI": f"{q.at['precision', 'ci_low']:.4f}–{q.at['precision', 'ci_high']:.4f}",
        "recall": q.at["recall", "value"],
        "recall 95% CI": f"{q.at['recall', 'ci_low']:.4f}–{q.at['recall', 'ci_high']:.4f}",
        "true pairs": int(q.at["recall", "out_of"]),
        "standardise s": model.timings_["standardise"],
        "u s": model.timings_["u sampling"],
        "EM s": model.timings_["EM"],
        "em iterations": "/".join(str(i) for i in model.training_["em_iterations"]),
        "peak GB": _peak_gb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e5,1e6", help="demo-world customer records, comma-separated")
    parser.add_argument("--messy", default="1e5", help="people in the client-like extract (0: skip)")
    parser.add_argument("--seed", type=int, default=7, help="demo-world seed (messy: seed + 1)")
    parser.add_argument("--threshold", type=float, default=0.9)
    args = parser.parse_args()

    import duckdb
    import splink

    print(
        f"Python {platform.python_version()}, pandas {pd.__version__}, duckdb {duckdb.__version__}, "
        f"splink {splink.__version__}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start"
    )
    rows = []
    for size in [_size(s) for s in args.sizes.split(",") if s.strip()]:
        t = time.perf_counter()
        world = synth.demo_world(size, seed=args.seed)
        customers, truth = world.data.customers, world.truth.duplicate_pairs
        del world
        gc.collect()
        print(f"demo world {size:,} (seed {args.seed}) built in {time.perf_counter() - t:.0f} s", flush=True)
        rows.append(run(f"demo world seed {args.seed}", customers, truth, args.threshold, 0))
        print(rows[-1], flush=True)
        del customers, truth
    n_messy = _size(args.messy)
    if n_messy:
        t = time.perf_counter()
        mx = messy_extract(n_messy, random_state=args.seed + 1)
        with tempfile.TemporaryDirectory() as folder:
            mx.write_csv(folder)
            loaded = crmkit.io.load(folder, tables=["customers"])
        customers = loaded.data.customers
        truth = mx.truth[mx.truth["customer_id"].isin(customers["customer_id"]) & mx.truth["duplicate_of"].isin(customers["customer_id"])]
        print(f"messy extract {n_messy:,} people (seed {args.seed + 1}) built and loaded in {time.perf_counter() - t:.0f} s", flush=True)
        rows.append(run(f"messy extract seed {args.seed + 1}", customers, truth, args.threshold, 0))
        print(rows[-1], flush=True)

    table = pd.DataFrame(rows)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}\n")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(
            table.to_string(
                index=False,
                formatters={
                    "records": "{:,}".format, "pairs scored": "{:,}".format, "true pairs": "{:,}".format,
                    "fit s": "{:.1f}".format, "predict s": "{:.1f}".format, "total s": "{:.1f}".format, "CPU s": "{:.1f}".format,
                    "standardise s": "{:.1f}".format, "u s": "{:.1f}".format, "EM s": "{:.1f}".format,
                    "precision": "{:.4f}".format, "recall": "{:.4f}".format, "peak GB": "{:.1f}".format,
                },
            )
        )


if __name__ == "__main__":
    main()
