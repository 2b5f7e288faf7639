"""Engine overhead: the same cheap scorer through the engine versus a plain loop in one process.

Scores the 15,625 NB201 cells under 32 seeds (500,000 items) with ``params,flops`` three ways:
a plain loop calling :class:`archscore.engine.sweep.scoring.Scorer` (no output), the same loop writing the
exactly-once Parquet output, and the engine (2 Ray actors, bounded streaming, the same output).
Prints archs/s for each and the ratios, measured side by side in one run.

    python bench/overhead.py [--seeds 32] [--batch 1024]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import ray  # noqa: E402

from bench.stream import machine  # noqa: E402
from archscore.engine import EnumerateAll, SweepConfig, run_sweep  # noqa: E402
from archscore.engine.sweep.scoring import Scorer, ScoringPlan  # noqa: E402
from archscore.engine.run.sink import ResultSink  # noqa: E402
from archscore.engine.sweep.driver import work_batches  # noqa: E402
from archscore.spaces import get_space  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=32)
    ap.add_argument("--batch", type=int, default=1024)
    args = ap.parse_args()
    seeds = list(range(args.seeds))
    space = get_space("nb201")
    scorer = Scorer(ScoringPlan("nb201", ("params", "flops")))
    print(f"machine: {machine()}")
    scorer.score(next(work_batches(space, EnumerateAll(), seeds, args.batch, set())))  # warm the tables
    results = {}
    start = time.perf_counter()
    n = sum(len(scorer.score(b)) * 0 + len(b) for b in work_batches(space, EnumerateAll(), seeds, args.batch, set()))
    results["plain loop, scoring only"] = n / (time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        sink = ResultSink(f"{tmp}/loop", {"bench": "loop"}).open()
        for b in work_batches(space, EnumerateAll(), seeds, args.batch, set()):
            sink.add(b.batch_id, scorer.score(b))
        sink.flush()
        results["plain loop + Parquet output"] = n / (time.perf_counter() - start)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        summary = run_sweep(SweepConfig("nb201", ["params", "flops"], f"{tmp}/engine", seeds=seeds,
                                        batch_size=args.batch, num_actors=2, gpus_per_actor=0, progress=False))
        results["engine, 2 actors (incl. actor start)"] = n / summary.seconds
        results["engine, 2 actors (after actor start)"] = n / summary.stats.streaming_seconds
        ray.shutdown()
    base = results["plain loop, scoring only"]
    print(f"{n:,} items (archs x seeds), batch {args.batch}\n")
    print(f"{'way':40s} {'archs/s':>10s} {'vs plain loop':>14s}")
    for label, rate in results.items():
        print(f"{label:40s} {rate:>10,.0f} {rate / base:>13.2f}x")


if __name__ == "__main__":
    main()
