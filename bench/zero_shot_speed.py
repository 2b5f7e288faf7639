"""The whole zero-shot suite fused against each reference's own code, side by side (issue 22's speed goal).

On the same NB201 networks (C=16, N=5) and the same synthetic batch of 64, interleaved per
architecture so that drift on a shared host hits both alike: the 2021 suite by the published
scripts' procedure (``bench.published_style``: zero-cost-nas's six measures on a copy each, the
NASWOT and EPE-NAS scripts), then each 2021-2025 proxy by its authors' code
(``bench/reference/zero_shot/``, checkouts under ``$ZSREF``), against archscore scoring all of them
in one fused group. Prints seconds per architecture per part and the ratio. VKDNW's reference runs
in a worker process under torch 2.0.1 (its code needs it): its time includes that process's start.

    ZSREF=/tmp/zsref python -m bench.zero_shot_speed [--archs 20]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.published_style import EIGHT, published, published_network
from bench.reference.zero_shot_vs_authors import PROXIES, load, reference_values
from bench.stream import machine
from archscore.engine.run.data import BatchCache
from archscore.engine.run.heap import retain_freed_memory
from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.spaces import get_space
from archscore.spaces.nb201 import NB201Macro

NEW = tuple(PROXIES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    heap = retain_freed_memory()
    space = get_space("nb201")
    archs = list(space.sample(args.archs, np.random.default_rng(0)))
    encodings = np.array([space.encode(a) for a in archs])
    x, y = BatchCache("synthetic", args.batch, (3, 32, 32), 10)(0)
    scripts = sorted({PROXIES[n][0] for n in NEW})
    refs = {s: load(s) for s in scripts}
    print(f"machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads, freed heap memory "
          f"{'kept' if heap else 'returned'}; {args.archs} random NB201 archs (seed 0), C=16 N=5, batch {args.batch}; "
          f"{len(EIGHT)} 2021 proxies + {len(NEW)} 2021-2025 ones")
    scorer = Scorer(ScoringPlan("nb201", EIGHT + NEW, estimator_config={"naswot": {"relu_modules": "name"}},
                                data="synthetic", batch_size=args.batch), device="cpu")
    scorer.score(WorkBatch(0, 0, encodings[:1], 0))  # warm-up for both: data batch, kernels
    seconds = {"2021 scripts": 0.0, **dict.fromkeys(scripts, 0.0)}
    fused = 0.0
    for i, arch in enumerate(archs):
        torch.manual_seed(0)
        parts = dict.fromkeys(("zero-cost-nas, six", "naswot", "epe_nas"), 0.0)
        published(published_network(space, arch, NB201Macro()), x, y, parts)
        seconds["2021 scripts"] += sum(parts.values())

        def build(arch=arch):
            torch.manual_seed(0)
            return space.build(arch, scorer.ctx.macro).train()
        for script in scripts:
            start = time.perf_counter()
            reference_values(script, refs[script], build, x, y, 0)
            seconds[script] += time.perf_counter() - start
        start = time.perf_counter()
        scorer.score(WorkBatch(i + 1, 0, encodings[i:i + 1], i))
        fused += time.perf_counter() - start
        print(f"  arch {i}: references {sum(seconds.values()):.0f} s, fused {fused:.0f} s so far", flush=True)
    n = len(archs)
    for part, total in seconds.items():
        print(f"  {part:22s} {total / n:8.2f} s/arch")
    baseline = sum(seconds.values()) / n
    print(f"{'references, each alone':24s} {baseline:8.2f} s/arch")
    print(f"{'archscore, fused':24s} {fused / n:8.2f} s/arch")
    print(f"speed-up: {baseline / (fused / n):.2f}x")


if __name__ == "__main__":
    main()
