"""Chaos: a sweep survives killed actors and a killed driver with exactly-once output.

1. A clean reference run: 10,000 sampled NB201 archs x seeds {0, 1} = 20,000 items, scored by
   ``params``, ``flops`` and the cheap ``echo`` estimator (its score is the encoding plus the seed;
   it sleeps 20 ms per batch of 20 so that the run lasts long enough to be hurt).
2. The same sweep while a chaos thread SIGKILLs a random scorer actor every few seconds.
3. The same sweep run by a separate driver process that is SIGKILLed at a random moment, then
   resumed by rerunning into the same directory.

For runs 2 and 3 prints rows expected / written / duplicated / lost and whether every score equals
the clean run's. Goal: 0 lost, 0 duplicated, identical scores.

    python bench/chaos.py [--items 10000] [--kill-every 3]
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import ray  # noqa: E402

from bench.stream import machine  # noqa: E402
from archscore.engine import Sample, SweepConfig, read_results, run_sweep  # noqa: E402
from archscore.engine.run.sink import MANIFEST  # noqa: E402

DRIVER = """
import sys
sys.path.insert(0, {root!r})
from bench.chaos import config
from archscore.engine import run_sweep
run_sweep(config(sys.argv[1], int(sys.argv[2]), None, address=sys.argv[3]))
"""


def config(out: str, items: int, pid_dir: str | None, address: str | None = None) -> SweepConfig:
    echo = {"sleep": 0.02, **({"pid_dir": pid_dir} if pid_dir else {})}
    return SweepConfig("nb201", ["params", "flops", "echo"], out, Sample(items, seed=11), seeds=[0, 1],
                       batch_size=20, estimator_config={"echo": echo}, gpus_per_actor=0, num_actors=2,
                       progress=False, plugins=["tests.chaos_plugin"], rows_per_part=3000, address=address)


def table(out: str) -> tuple[dict, int]:
    rows = read_results(out).to_pylist()
    keyed = {(r["input_index"], r["estimator"], r["seed"]): r["score"] for r in rows}
    return keyed, len(rows) - len(keyed)


def report(label: str, out: str, reference: dict, extra: str) -> None:
    got, duplicated = table(out)
    lost = len(set(reference) - set(got))
    same = all(got.get(k) == v for k, v in reference.items())
    print(f"{label:34s} {len(reference):>9,} {len(got) + duplicated:>9,} {duplicated:>11,} {lost:>6,} "
          f"{str(same):>11s}   {extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=10_000, help="sampled archs (x 2 seeds)")
    ap.add_argument("--kill-every", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        clean = run_sweep(config(f"{tmp}/clean", args.items, None))
        reference, _ = table(f"{tmp}/clean")
        print(f"clean run: {len(reference):,} rows in {time.monotonic() - start:.1f}s\n")
        print(f"{'run':34s} {'expected':>9s} {'written':>9s} {'duplicated':>11s} {'lost':>6s} "
              f"{'same score':>11s}   faults")
        # 2. actors killed every few seconds
        pids = Path(tmp, "pids")
        pids.mkdir()
        kills: list[int] = []
        stop = threading.Event()

        def chaos() -> None:
            while not stop.wait(args.kill_every):
                alive = [int(p.name) for p in pids.iterdir() if int(p.name) != os.getpid()]
                alive = [p for p in alive if os.path.exists(f"/proc/{p}")]
                if alive:
                    victim = rnd.choice(alive)
                    os.kill(victim, signal.SIGKILL)
                    kills.append(victim)

        thread = threading.Thread(target=chaos, daemon=True)
        thread.start()
        summary = run_sweep(config(f"{tmp}/chaos", args.items, str(pids)))
        stop.set()
        thread.join()
        s = summary.stats
        report("actors SIGKILLed during the run", f"{tmp}/chaos", reference,
               f"{len(kills)} actors killed, {s.retried} batches retried, {s.split} split, "
               f"{s.actors_replaced} replaced, {summary.seconds:.1f}s")
        # 3. driver killed at a random moment, then resumed
        out = f"{tmp}/driver"
        proc = subprocess.Popen([sys.executable, "-c", DRIVER.format(root=str(ROOT)), out, str(args.items),
                                 ray.get_runtime_context().gcs_address],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not (Path(out, MANIFEST).exists() and any(Path(out, MANIFEST).iterdir())):
            time.sleep(0.05)
        delay = rnd.uniform(0.5, 0.8 * clean.seconds)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = len(read_results(out))
        resumed = run_sweep(config(out, args.items, None))
        report("driver SIGKILLed, then resumed", out, reference,
               f"killed {delay:.1f}s after its first commit with {before:,} rows committed; "
               f"resume wrote {resumed.rows_written:,}")
    ray.shutdown()


if __name__ == "__main__":
    main()
