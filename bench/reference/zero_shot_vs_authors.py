"""archscore's fused zero-shot proxies against each author's own code, on archscore's NB201 networks,
their weights and the same batch (run outside the tests; the checkouts are not in the repository).

For every proxy of the 2022-2025 suite, the scripts in ``bench/reference/zero_shot/`` import the
authors' functions from ``$ZSREF/<proxy>/repo`` (adapters only give our module the interface their
code expects: see each script's docstring) and this driver compares them with the rows of one
archscore sweep of the same architectures: the largest relative and absolute difference per proxy,
at C=8 N=1 (batch 16) and C=16 N=5 (batch 64). Where a proxy draws random numbers (AZ-NAS, VKDNW
re-initialise the network and draw a Gaussian batch), the reference is seeded so that its global RNG
produces the same stream archscore's seeded generator does.

    ZSREF=/tmp/zsref python -m bench.reference.zero_shot_vs_authors [--archs 3] [--sizes small,full]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np
import torch

from bench.stream import machine
from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.estimators.zero_shot.az_nas_pass import kaiming_fan_in_state
from archscore.estimators.zero_shot.te_nas_pass import linear_region_inputs
from archscore.spaces import get_space

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zero_shot")
SIZES = {"small": (8, 1, 16), "full": (16, 5, 64)}
#: our estimator -> (reference script, its key)
PROXIES = {
    "gradsign": ("gradsign", "gradsign"), "swap": ("swap", "swap"), "zico": ("zico", "zico"), "meco": ("meco", "meco"),
    "az_expressivity": ("az_nas", "expressivity"), "az_progressivity": ("az_nas", "progressivity"),
    "az_trainability": ("az_nas", "trainability"), "az_complexity": ("az_nas", "complexity"),
    "te_nas_ntk": ("te_nas", "ntk_cond"), "te_nas_lr": ("te_nas", "linear_regions"),
    "vkdnw_entropy": ("vkdnw", "vkdnw_entropy"), "vkdnw_dim": ("vkdnw", "vkdnw_dim"),
}
ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_1x1~2|",
    "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
]


def load(script: str):
    spec = importlib.util.spec_from_file_location(f"{script}_ref", os.path.join(HERE, f"{script}_ref.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_values(script: str, ref, net_of, x: torch.Tensor, y: torch.Tensor, seed: int) -> dict[str, float]:
    """The authors' values for one architecture (``net_of()`` builds a fresh copy of our network)."""
    if script == "meco":
        return ref.reference_scores(net_of(), x[:1].clone())
    if script == "swap":
        return ref.reference_scores(net_of(), x[:16].clone())
    if script == "zico":
        return ref.reference_scores(net_of(), x.clone(), y.clone(), n_batches=2)
    if script == "gradsign":
        return ref.reference_scores(net_of(), x.clone(), y.clone(), mean_variant=False)
    if script == "te_nas":
        out = {"ntk_cond": ref.reference_ntk_cond(net_of(), x.clone())}
        crops = linear_region_inputs(x, 3000, 4, torch.Generator().manual_seed(seed))
        out["linear_regions"] = ref.reference_linear_regions(net_of(), crops, 1000)
        return out
    if script == "az_nas":  # their compute_nas_score draws init and input from the global RNG, as ours from gen
        net = net_of()
        torch.manual_seed(seed)
        info = ref._az.compute_nas_score(ref.AZNASAdapter(net), None, None, x.shape[2], x.shape[0])
        info["complexity"] = float(ref._get_model_infos(net_of(), (1, *x.shape[1:]))[0])  # xautodl's counter
        return info
    if script == "vkdnw":  # the same weights and Gaussian batch as ours: re-init seeded, batch drawn after it
        net = net_of()
        gen = torch.Generator().manual_seed(seed)
        kaiming_fan_in_state(net, gen)
        gauss = torch.randn((x.shape[0], *x.shape[1:]), generator=gen)
        return ref.reference_scores(net_of(), gauss, init=True, seed=seed)
    raise ValueError(script)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=len(ARCHS))
    ap.add_argument("--sizes", default="small,full")
    ap.add_argument("--proxies", default=",".join(PROXIES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    space = get_space("nb201")
    names = tuple(p for p in args.proxies.split(",") if p)
    archs = ARCHS[:args.archs]
    scripts = {PROXIES[n][0] for n in names}
    refs = {s: load(s) for s in sorted(scripts)}
    print(f"machine: {machine()}; torch {torch.__version__}; {len(archs)} NB201 archs, synthetic batch, seed {args.seed}")
    print(f"{'proxy':17s} {'size':14s} {'max rel diff':>13s} {'max abs diff':>13s}  values (ours)")
    for size in args.sizes.split(","):
        C, N, B = SIZES[size]
        scorer = Scorer(ScoringPlan("nb201", names, {"C": C, "N": N}, data="synthetic", batch_size=B))
        enc = np.array([space.encode(space.parse(a)) for a in archs])
        rows = scorer.score(WorkBatch(0, args.seed, enc, 0)).to_pylist()
        ours = {(r["input_index"], r["estimator"]): r["score"] for r in rows}
        x, y = scorer.ctx.data(args.seed)

        def net_of(arch: str):
            def build():
                torch.manual_seed(args.seed)  # as the zero-shot group builds it
                return space.build(space.parse(arch), scorer.ctx.macro).train()
            return build
        theirs = {}
        for i, arch in enumerate(archs):
            for script in sorted(scripts):
                theirs[i, script] = reference_values(script, refs[script], net_of(arch), x, y, args.seed)
        for name in names:
            script, key = PROXIES[name]
            rel = absd = 0.0
            values = []
            for i in range(len(archs)):
                o, t = ours[i, name], float(theirs[i, script][key])
                values.append(o)
                o_bad = o is None or not np.isfinite(o)
                if o_bad or not np.isfinite(t):
                    if not (o_bad and not np.isfinite(t) and (o is None or o == t)):
                        rel = absd = float("inf")  # one side failed, the other did not (or not alike)
                    continue
                absd = max(absd, abs(o - t))
                rel = max(rel, abs(o - t) / max(abs(t), 1e-30))
            shown = ", ".join("fail" if v is None else f"{v:.6g}" for v in values)
            print(f"{name:17s} C={C} N={N} B={B:<3d} {rel:13.2e} {absd:13.2e}  {shown}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
