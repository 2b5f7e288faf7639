"""Streaming throughput and driver memory: 100k vs 1M NB201 encodings through params,flops.

Each size runs in its own driver process (so its peak RSS is its own) on a fresh local Ray with
2 scorer actors; the input is the 15,625-cell enumeration repeated under seeds 0..k-1
(7 seeds = 109,375 archs; 64 seeds = 1,000,000 archs). Prints archs/s end to end (actor start-up
included and excluded) and the driver's peak RSS, and their ratios.

    python bench/stream.py [--small-seeds 7] [--large-seeds 64]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time, logging
from archscore.engine import SweepConfig, run_sweep, read_results
seeds, out = int(sys.argv[1]), sys.argv[2]
t0 = time.monotonic()
summary = run_sweep(SweepConfig("nb201", ["params", "flops"], out, seeds=list(range(seeds)),
                                num_actors=2, gpus_per_actor=0, progress=False))
wall = time.monotonic() - t0
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"archs": summary.stats.items, "rows": summary.rows_written, "wall_s": wall,
                  "sweep_s": summary.seconds, "peak_rss_mb": rss_mb}))
"""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(l.split(":", 1)[1].strip() for l in fh if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def run(seeds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        proc = subprocess.run([sys.executable, "-c", CHILD, str(seeds), os.path.join(tmp, "out")],
                              capture_output=True, text=True, env=env, check=True)
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small-seeds", type=int, default=7)
    ap.add_argument("--large-seeds", type=int, default=64)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    small, large = run(args.small_seeds), run(args.large_seeds)
    print(f"{'archs':>10} {'rows':>10} {'sweep s':>8} {'archs/s':>10} {'archs/s (wall)':>15} {'driver peak RSS MB':>19}")
    for r in (small, large):
        print(f"{r['archs']:>10,} {r['rows']:>10,} {r['sweep_s']:>8.1f} {r['archs'] / r['sweep_s']:>10,.0f} "
              f"{r['archs'] / r['wall_s']:>15,.0f} {r['peak_rss_mb']:>19.0f}")
    print(f"peak RSS ratio (large/small): {large['peak_rss_mb'] / small['peak_rss_mb']:.3f}  (goal <= 1.2)")
    print(f"throughput at {large['archs']:,}: {large['archs'] / large['sweep_s']:,.0f} archs/s  (goal >= 100,000)")


if __name__ == "__main__":
    main()
