"""Fidelity table: our proxies and costs versus NASLib's published scores and accuracies.

For ``--archs`` architectures drawn (seed 0) from NAS-Bench-Suite-Zero's CIFAR-10 file of the
space (``zc_nasbench201.json``: ~724 NB201 cells; ``zc_nasbench101.json``: 500 NB101 cells;
``zc_nasbench301.json``: 725 DARTS genotypes), computes every zero-shot proxy and the analytic
params/FLOPs at the space's full default size (batch 64) on each data source and prints
Spearman's rho of our values with the published values of the same measure and with the
published ``val_accuracy``. CIFAR-10 cannot be had here, so the data-dependent proxies run on
Fashion-MNIST and on synthetic Gaussian batches; the published ones ran on CIFAR-10.

    python -m bench.fidelity --data-dir ../shared/data [--space nb201|nb101|darts] [--archs 100]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import torch
from scipy.stats import spearmanr

from bench.stream import machine
from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.engine.evaluation.truth import load_naslib
from archscore.spaces import get_space

PROXIES = ("grad_norm", "snip", "grasp", "fisher", "jacob_cov", "synflow", "naswot", "epe_nas", "plain",
           "l2_norm", "zen", "synflow_bn", "params", "flops")
FILES = {"nb201": "zc_nasbench201.json", "nb101": "zc_nasbench101.json", "darts": "zc_nasbench301.json"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--space", choices=sorted(FILES), default="nb201")
    ap.add_argument("--archs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.data_dir)
    truth, published = load_naslib(root / "naslib-zc" / FILES[args.space], space=args.space)
    archs = truth.column("arch").to_pylist()
    pick = np.random.default_rng(0).choice(len(archs), size=min(args.archs, len(archs)), replace=False)
    space = get_space(args.space)
    keys = [archs[i] for i in pick]
    encodings = np.array([space.encode(space.parse(k)) for k in keys])
    acc = np.array(truth.column("val_accuracy").to_numpy())[pick]
    pub_of = {}
    for name in PROXIES:
        rows = published.filter(pc.equal(published["estimator"], name))
        by_arch = dict(zip(rows.column("arch").to_pylist(), rows.column("score").to_pylist()))
        if by_arch:
            pub_of[name] = np.array([by_arch.get(k, np.nan) for k in keys], dtype=np.float64)
    print(f"machine: {machine()}; {len(keys)} {args.space} archs at the default macro {space.macro().as_dict()}, "
          f"batch 64, seed 0")
    sources = {"fashion-mnist": f"fashion-mnist:{root / 'fashion-mnist'}", "synthetic": "synthetic"}
    table = {}
    for label, spec in sources.items():
        start = time.perf_counter()
        scorer = Scorer(ScoringPlan(args.space, PROXIES, data=spec, batch_size=64))
        rows = scorer.score(WorkBatch(0, 0, encodings, 0)).to_pylist()
        print(f"  {label}: {(time.perf_counter() - start) / len(keys):.2f} s/arch for all {len(PROXIES)} measures")
        for name in PROXIES:
            ours = np.array([r["score"] if r["score"] is not None else np.nan for r in rows if r["estimator"] == name])
            ok = np.isfinite(ours)
            rho_pub = float("nan")
            if name in pub_of:
                both = ok & np.isfinite(pub_of[name])
                rho_pub = spearmanr(ours[both], pub_of[name][both]).statistic
            table[name, label] = (rho_pub, spearmanr(ours[ok], acc[ok]).statistic, int((~ok).sum()))
    pub_vs_acc = {n: spearmanr(v, acc, nan_policy="omit").statistic for n, v in pub_of.items()}
    print(f"\n{'measure':11s} | {'rho vs published':>24s} | {'rho vs val_accuracy':>24s} | {'published vs acc':>16s} | non-ok")
    print(f"{'':11s} | {'FMNIST':>11s} {'synthetic':>12s} | {'FMNIST':>11s} {'synthetic':>12s} |")
    for name in PROXIES:
        f, s = table[name, "fashion-mnist"], table[name, "synthetic"]
        pa = pub_vs_acc.get(name, float("nan"))
        print(f"{name:11s} | {f[0]:11.3f} {s[0]:12.3f} | {f[1]:11.3f} {s[1]:12.3f} | {pa:16.3f} | {f[2]}/{s[2]}")


if __name__ == "__main__":
    main()
