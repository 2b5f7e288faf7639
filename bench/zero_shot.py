"""Zero-shot proxies: each alone versus all fused, seconds per architecture, side by side.

20 random NB201 cells (C=16, N=5, 10 classes), one synthetic batch of 64 (the cost does not
depend on pixel values), torch on 2 threads. For every proxy alone and for the fused suite of the
eight published ones (grad_norm, snip, grasp, fisher, jacob_cov, synflow, naswot, epe_nas), prints
seconds per architecture, the fused speed-up over the sum of the singles, and whether the fused
scores equal the one-at-a-time ones.

    python bench/zero_shot.py [--archs 20] [--batch 64] [--threads 2] [--device cpu]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.stream import machine
from archscore.engine.run.heap import retain_freed_memory
from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.spaces import get_space

EIGHT = ("grad_norm", "snip", "grasp", "fisher", "jacob_cov", "synflow", "naswot", "epe_nas")
OTHERS = ("plain", "l2_norm", "zen", "synflow_bn")


def run(names: tuple[str, ...], encodings: np.ndarray, batch: int, device: str) -> tuple[float, dict]:
    scorer = Scorer(ScoringPlan("nb201", names, data="synthetic", batch_size=batch), device=device)
    scorer.score(WorkBatch(0, 0, encodings[:1], 0))  # warm-up: data batch, kernels
    start = time.perf_counter()
    rows = scorer.score(WorkBatch(1, 0, encodings, 0)).to_pylist()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = (time.perf_counter() - start) / len(encodings)
    return elapsed, {(r["input_index"], r["estimator"]): r["score"] for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    heap = retain_freed_memory()  # as the engine's actors do
    space = get_space("nb201")
    encodings = np.array([space.encode(a) for a in space.sample(args.archs, np.random.default_rng(0))])
    print(f"machine: {machine()}; torch {torch.__version__} on {args.device}, {torch.get_num_threads()} threads, "
          f"freed heap memory {'kept' if heap else 'returned to the OS'}")
    print(f"{args.archs} random NB201 archs, C=16 N=5, batch {args.batch}\n")
    singles, alone = {}, {}
    print(f"{'proxy':12s} {'s/arch alone':>13s}")
    for name in EIGHT + OTHERS:
        singles[name], scores = run((name,), encodings, args.batch, args.device)
        alone.update(scores)
        print(f"{name:12s} {singles[name]:13.3f}")
    fused, scores = run(EIGHT, encodings, args.batch, args.device)
    total = sum(singles[n] for n in EIGHT)
    same = all(np.array_equal(np.float64(scores[k]), np.float64(alone[k]), equal_nan=True) for k in scores)
    print(f"\n{'eight, one at a time':24s} {total:8.3f} s/arch")
    print(f"{'eight, fused':24s} {fused:8.3f} s/arch   ({1 / fused:.2f} archs/s)")
    print(f"speed-up fused vs one at a time: {total / fused:.2f}x; fused scores equal single scores: {same}")
    everything, _ = run(EIGHT + OTHERS, encodings, args.batch, args.device)
    print(f"{'all twelve, fused':24s} {everything:8.3f} s/arch")
    if args.device == "cpu":
        per_arch = engine_run(encodings, args.batch, args.threads)
        print(f"{'eight, fused, engine':24s} {per_arch:8.3f} s/arch   ({args.threads} actors x 1 thread, "
              f"after actor start-up: {total / per_arch:.2f}x vs one at a time)")


def engine_run(encodings: np.ndarray, batch: int, actors: int) -> float:
    """The engine's own deployment on this machine: one single-threaded actor per core."""
    import os
    import tempfile

    import ray

    from archscore.engine import FromIterable, SweepConfig, run_sweep

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=actors, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            summary = run_sweep(SweepConfig("nb201", list(EIGHT), tmp, FromIterable(encodings.tolist()),
                                            batch_size=1, data="synthetic", data_batch_size=batch,
                                            num_actors=actors, gpus_per_actor=0, progress=False))
    finally:
        ray.shutdown()
    return summary.stats.streaming_seconds / len(encodings)


if __name__ == "__main__":
    main()
