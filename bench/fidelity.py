"""Fidelity table: our proxies versus NASLib's published NB201 CIFAR-10 scores and accuracies.

For ``--archs`` architectures drawn (seed 0) from the ~724 of NAS-Bench-Suite-Zero's NB201
CIFAR-10 file, computes every zero-shot proxy at full size (C=16, N=5, batch 64) on each data
source and prints Spearman's rho of our scores with the published scores of the same proxy and
with the published ``val_accuracy``. CIFAR-10 cannot be had here, so the data-dependent proxies
run on Fashion-MNIST and on synthetic Gaussian batches; the published ones ran on CIFAR-10.

    python bench/fidelity.py --data-dir ../shared/data [--archs 100]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from bench.stream import machine
from archscore.engine.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.engine.truth import naslib_nb201_arch as naslib_arch
from archscore.spaces import get_space

PROXIES = {"grad_norm": "grad_norm", "snip": "snip", "grasp": "grasp", "fisher": "fisher",
           "jacob_cov": "jacov", "synflow": "synflow", "naswot": "nwot", "epe_nas": "epe_nas",
           "plain": "plain", "l2_norm": "l2_norm", "zen": None, "synflow_bn": None}

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--archs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.data_dir)
    zc = json.loads((root / "naslib-zc" / "zc_nasbench201.json").read_text())["cifar10"]
    keys = sorted(zc)
    keys = [keys[i] for i in np.random.default_rng(0).choice(len(keys), size=min(args.archs, len(keys)), replace=False)]
    space = get_space("nb201")
    encodings = np.array([space.encode(naslib_arch(k)) for k in keys])
    acc = np.array([zc[k]["val_accuracy"] for k in keys])
    print(f"machine: {machine()}; {len(keys)} NB201 archs, C=16 N=5, batch 64, seed 0")
    sources = {"fashion-mnist": f"fashion-mnist:{root / 'fashion-mnist'}", "synthetic": "synthetic"}
    table = {}
    for label, spec in sources.items():
        start = time.perf_counter()
        scorer = Scorer(ScoringPlan("nb201", tuple(PROXIES), data=spec, batch_size=64))
        rows = scorer.score(WorkBatch(0, 0, encodings, 0)).to_pylist()
        print(f"  {label}: {(time.perf_counter() - start) / len(keys):.2f} s/arch for all {len(PROXIES)} proxies")
        for name, published_name in PROXIES.items():
            ours = np.array([r["score"] for r in rows if r["estimator"] == name])
            ok = np.isfinite(ours)
            rho_pub = float("nan")
            if published_name:
                pub = np.array([zc[k][published_name]["score"] for k in keys])
                both = ok & np.isfinite(pub)
                rho_pub = spearmanr(ours[both], pub[both]).statistic
            table[name, label] = (rho_pub, spearmanr(ours[ok], acc[ok]).statistic, int((~ok).sum()))
    pub_vs_acc = {n: spearmanr([zc[k][p]["score"] for k in keys], acc).statistic for n, p in PROXIES.items() if p}
    print(f"\n{'proxy':11s} | {'rho vs published':>24s} | {'rho vs val_accuracy':>24s} | {'published vs acc':>16s} | non-ok")
    print(f"{'':11s} | {'FMNIST':>11s} {'synthetic':>12s} | {'FMNIST':>11s} {'synthetic':>12s} |")
    for name in PROXIES:
        f, s = table[name, "fashion-mnist"], table[name, "synthetic"]
        pa = pub_vs_acc.get(name, float("nan"))
        print(f"{name:11s} | {f[0]:11.3f} {s[0]:12.3f} | {f[1]:11.3f} {s[1]:12.3f} | {pa:16.3f} | {f[2]}/{s[2]}")


if __name__ == "__main__":
    main()
