"""``oneshot`` scoring speed against the forward-pass compute bound of its scoring set.

The bound is what this CPU could do if scoring were nothing but the subnets' multiply-adds:
(FLOPs per image of each scored subnet, NB201's count of multiply-adds, x images scored) /
measured multiply-adds per second. The rate is measured in the same run, two ways: the supernet's
own dominant op (a 3x3 convolution at the cell's width, resolution and scoring batch: what the
subnets can reach at best) and a large single-precision matrix product (the CPU's peak). Where
the measured rate is under half the convolution bound, a profile of one subnet's scoring says
where the time goes. The same subnets are also run as stand-alone networks
(``space.build``) on the same batches: the supernet's own overhead is the ratio.

    python -m bench.oneshot_bound --fmnist ../shared/data/fashion-mnist \\
        [--checkpoint runs/oneshot-budget/default-s0 --archs 50 --eval-batches 4 --threads 2]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.stream import machine


def rate_of(fn, macs: float, repeats: int = 5) -> float:
    """Multiply-adds per second of ``fn`` (the best of ``repeats`` after a warm-up)."""
    fn()
    best = min(_timed(fn) for _ in range(repeats))
    return macs / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    import torch

    from archscore.engine.run.data import DataSpec, input_shape_of, load_images
    from archscore.estimators.one_shot import Heuristics, SupernetTrainer
    from archscore.spaces import get_space

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fmnist", required=True)
    ap.add_argument("--checkpoint", default=None, help="a supernet train run directory (default: untrained weights)")
    ap.add_argument("--archs", type=int, default=50)
    ap.add_argument("--eval-batches", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    space = get_space("nb201")
    data = f"fashion-mnist:{Path(args.fmnist).resolve()}"
    state = torch.load(Path(args.checkpoint) / "checkpoint.pt", map_location="cpu", weights_only=False) if args.checkpoint else None
    h = Heuristics.from_mapping(state["heuristics"]) if state else Heuristics()
    macro = space.macro(**(state["macro"] if state else {"C": 8, "N": 1}))
    shape = input_shape_of(macro)
    trainer = SupernetTrainer(space, macro, h, load_images(DataSpec.parse(data), 10, shape), data, shape)
    if state:
        trainer.load_state(state)
    scorer = trainer.scorer(args.eval_batches, args.batch_size)
    archs = list(space.sample(args.archs, np.random.default_rng(0)))
    images = sum(len(y) for _, y in scorer._eval)
    _, flops = space.costs_many(archs, macro)
    macs = float(np.sum(flops)) * images

    scorer.score(archs[:2])  # warm-up
    start = time.perf_counter()
    scorer.score(archs)
    seconds = time.perf_counter() - start

    # the same subnets as stand-alone networks on the same batches, weights as initialised
    nets = [space.build(a, macro).eval() for a in archs]
    with torch.no_grad():
        nets[0](scorer._eval[0][0])
        start = time.perf_counter()
        for net in nets:
            for x, _ in scorer._eval:
                net(x)
        standalone = time.perf_counter() - start

    c, res = macro.as_dict()["C"], shape[1]
    conv = torch.nn.Conv2d(c, c, 3, padding=1, bias=False).eval()
    x = torch.randn(args.batch_size, c, res, res)
    with torch.no_grad():
        conv_rate = rate_of(lambda: conv(x), 9 * c * c * res * res * args.batch_size)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    gemm_rate = rate_of(lambda: a @ b, 2048 ** 3)

    bound_conv, bound_gemm = macs / conv_rate, macs / gemm_rate
    print(f"machine: {machine()}; torch {torch.__version__}, {args.threads} threads")
    print(f"NB201 C={c} N={macro.as_dict()['N']} supernet ({'trained: ' + args.checkpoint if state else 'untrained'}), "
          f"{len(archs)} sampled cells x {images} images ({args.eval_batches} batches of {args.batch_size}); "
          f"mean {np.mean(flops) / 1e6:.2f} MFLOPs (multiply-adds) per image")
    print(f"oneshot scoring: {seconds:.2f} s, {len(archs) / seconds:.2f} archs/s")
    print(f"stand-alone nets, same batches: {standalone:.2f} s, {len(archs) / standalone:.2f} archs/s "
          f"(supernet / stand-alone time {seconds / standalone:.2f})")
    print(f"measured rate: 3x3 conv at the cell's shape {conv_rate / 1e9:.2f} GMAC/s; 2048^2 GEMM {gemm_rate / 1e9:.2f} GMAC/s")
    print(f"bound (conv rate): {bound_conv:.2f} s = {len(archs) / bound_conv:.2f} archs/s -> measured is "
          f"{bound_conv / seconds:.2f} of it")
    print(f"bound (GEMM peak): {bound_gemm:.2f} s = {len(archs) / bound_gemm:.2f} archs/s -> measured is "
          f"{bound_gemm / seconds:.2f} of it")
    if bound_conv / seconds < 0.5:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            scorer.score(archs[:5])
        print("where the time goes (5 subnets, torch.profiler, self CPU time):")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
