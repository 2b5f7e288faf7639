"""Zero-shot throughput per space: seconds per architecture for the eight published proxies fused
(grad_norm, snip, grasp, fisher, jacob_cov, synflow, naswot, epe_nas), each space at its default
macro (NB201 C=16 N=5; NB101 C=128, 3x3 cells; DARTS C=32, 8 cells; NDS as sampled), on the same
random architectures per space (seeded) and one synthetic batch; one process, torch on
``--threads`` threads. Prints s/arch (mean and median over the architectures), the mean FLOPs of
those architectures, and each space's cost relative to NB201 measured in the same run.

    python -m bench.zero_shot_spaces [--archs 5] [--batch 64] [--threads 2] [--spaces nb201,nb101,...]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from archscore.engine.run.heap import retain_freed_memory
from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.spaces import get_space, list_spaces
from bench.stream import machine
from bench.zero_shot import EIGHT


def per_arch_seconds(space_name: str, encodings: list, batch: int) -> tuple[np.ndarray, int]:
    scorer = Scorer(ScoringPlan(space_name, EIGHT, data="synthetic", batch_size=batch))
    scorer.score(WorkBatch(0, 0, encodings[:1], 0))  # warm-up: data batch, kernels
    seconds, errors = [], 0
    for i, encoding in enumerate(encodings):
        start = time.perf_counter()
        rows = scorer.score(WorkBatch(1 + i, 0, [encoding], 0)).to_pylist()
        seconds.append(time.perf_counter() - start)
        errors += sum(r["status"] != "ok" for r in rows)
    return np.array(seconds), errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spaces", default=",".join(list_spaces()))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    retain_freed_memory()
    names = args.spaces.split(",")
    if "nb201" in names:
        names = ["nb201"] + [n for n in names if n != "nb201"]  # the reference row first
    print(f"machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"the eight proxies fused, {args.archs} random archs per space (seed 0), synthetic batch {args.batch}\n")
    print(f"{'space':14s} {'macro':28s} {'MFLOPs':>9s} {'s/arch mean':>12s} {'median':>8s} {'vs nb201':>9s} errors")
    reference = None
    for name in names:
        space = get_space(name)
        archs = space.sample(args.archs, np.random.default_rng(0))
        encodings = [space.encode(a) for a in archs]
        macro = space.macro()
        mflops = np.mean([space.flops(a, macro) for a in archs]) / 1e6
        seconds, errors = per_arch_seconds(name, encodings, args.batch)
        if name == "nb201":
            reference = seconds.mean()
        ratio = f"{seconds.mean() / reference:8.1f}x" if reference else f"{'-':>9s}"
        shown = ",".join(f"{k}={v}" for k, v in macro.as_dict().items() if k in ("C", "N", "stacks", "cell_bn"))
        print(f"{name:14s} {shown or 'sampled':28s} {mflops:9.1f} {seconds.mean():12.3f} {np.median(seconds):8.3f} "
              f"{ratio} {errors}", flush=True)


if __name__ == "__main__":
    main()
