"""What scoring each architecture alone costs the torch predictors.

``predict`` runs one architecture at a time on one thread, so a score never depends on the other
architectures in the call (float32 kernels sum in a row-count-dependent order). This measures
that path against the batched forward it replaced (chunks of 4,096 rows, the machine's threads),
side by side in one run, on all 15,625 NB201 cells, for ``mlp`` (encoding) and ``renas`` (the
ReNAS tensor), each fitted for a few epochs on 156 labels of a synthetic target. It prints
archs/s of each path, their ratio, and how many scores differ between the two in their bits.

    python -m bench.predict_rows [--repeats 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from archscore.estimators.predictors import PREDICTORS
from archscore.spaces import get_space
from bench.stream import machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    space = get_space("nb201")
    archs = list(space.enumerate())
    params = space.costs_many(archs, space.macro())[0]
    train = np.random.default_rng(0).choice(len(archs), 156, replace=False)
    print(f"machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("model  features  batched archs/s  alone archs/s  alone/batched  scores differing in bits")
    for model, features in (("mlp", "encoding"), ("renas", "renas")):
        p = PREDICTORS.get(model)(space="nb201", features=features, epochs=3, batch_size=64)
        p.fit([archs[i] for i in train], np.log1p(params[train]))
        t, v = p._scaled(*p._inputs(space, p.features_, archs))  # noqa: SLF001 - the two paths, same inputs
        times = {"batched": [], "alone": []}
        for _ in range(args.repeats):  # interleaved, so drift hits both
            start = time.perf_counter()
            batched = p._forward(p.net_, t, v)
            times["batched"].append(time.perf_counter() - start)
            start = time.perf_counter()
            alone = p._forward_each(p.net_, t, v)
            times["alone"].append(time.perf_counter() - start)
        rate = {k: len(archs) / min(v) for k, v in times.items()}
        print(f"{model:6s} {features:9s} {rate['batched']:15,.0f}  {rate['alone']:13,.0f}  "
              f"{rate['alone'] / rate['batched']:13.3f}  {int((batched != alone).sum()):,} of {len(archs):,}")


if __name__ == "__main__":
    main()
