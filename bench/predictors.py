"""Sample-efficiency of learned predictors: Kendall tau on every unlabelled architecture.

NB201 (CIFAR-10 truth ``nb201/cifar10_valid_test_3seed.csv``, metric ``test-accuracy``: 200
epochs, mean of 3 seeds): for each labelled-set size (default 16, 32, 64, 156 = 1 %, 424, 1562 =
10 %) and each of ``--splits`` random splits (seeds 0..), fit every configuration on the labelled
architectures and compute Kendall tau of its predictions with the truth over all the others.
ZSE features come from archscore's own sweep (``--zse``: a sweep output over NB201, e.g. the
6,466 isomorphism-class representatives, joined to all 15,625 by canonical hash).

NB101 (``--nb101``): NASLib's 500 labelled cells (``naslib-zc/zc_nasbench101.json``,
``val_accuracy``), train 100 / test 400 over ``--splits`` splits; ZSE features there are the
published NAS-Bench-Suite-Zero scores in that file (our own NB101 sweep costs ~30 s per cell here).

Every fit is recorded in ``--out`` (CSV, one row per config, size and split) and skipped when the
script is rerun, so a long run can be resumed; the table is printed from that file.

    python -m bench.predictors --write-classes runs/nb201_classes.csv
    archscore sweep --space nb201 --input runs/nb201_classes.csv --out runs/zse_nb201 \
        --estimators params,flops,synflow,naswot,snip,grad_norm,jacob_cov,l2_norm,fisher \
        --data fashion-mnist:../shared/data/fashion-mnist --data-batch-size 32
    python -m bench.predictors --data-dir ../shared/data --zse runs/zse_nb201 [--splits 5] [--nb101]
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from archscore.engine.workflows.predictor import zero_shot_features
from archscore.engine.evaluation.truth import load_naslib, load_truth
from archscore.estimators.predictors import PREDICTORS
from archscore.spaces import get_space
from bench.stream import machine

SIZES = (16, 32, 64, 156, 424, 1562)
#: name -> (model, features with "zse" standing for the zero-shot table, model options)
CONFIGS = {
    "renas (renas tensor)": ("renas", ["renas"], {}),
    "mlp pairwise (encoding)": ("mlp", ["encoding"], {}),
    "gbt (encoding)": ("gbt", ["encoding"], {}),
    "gbt (zse)": ("gbt", ["zse"], {}),
    "mlp pairwise (zse)": ("mlp", ["zse"], {}),
    "gbt (zse + encoding)": ("gbt", ["zse", "encoding"], {}),
    "mlp pairwise (zse + encoding)": ("mlp", ["zse", "encoding"], {}),
    "renas (renas tensor + zse)": ("renas", ["renas", "zse"], {}),
}
FIELDS = ["space", "config", "size", "split", "kendall_tau", "n_test", "fit_seconds"]


def done_keys(path: Path) -> set[tuple[str, str, int, int]]:
    if not path.exists():
        return set()
    with open(path) as fh:
        return {(r["space"], r["config"], int(r["size"]), int(r["split"])) for r in csv.DictReader(fh)}


def run_space(space_name: str, archs: list, y: np.ndarray, zse, sizes, splits: int, configs: list[str],
              out: Path, log) -> None:
    space = get_space(space_name)
    parsed = [space.parse(a) for a in archs]
    done = done_keys(out)
    new = not out.exists()
    with open(out, "a", newline="") as fh:
        writer = csv.DictWriter(fh, FIELDS)
        if new:
            writer.writeheader()
        for size in sizes:
            for split in range(splits):
                train = np.sort(np.random.default_rng(split).choice(len(archs), size, replace=False))
                test = np.setdiff1d(np.arange(len(archs)), train)
                for name in configs:
                    if (space_name, name, size, split) in done:
                        continue
                    model, feats, opts = CONFIGS[name]
                    if "zse" in feats and zse is None:
                        continue
                    if model == "renas" and space_name not in ("nb101", "nb201", "darts"):
                        continue
                    features = [zse if f == "zse" else f for f in feats]
                    start = time.perf_counter()
                    p = PREDICTORS.get(model)(space=space_name, features=features, seed=split, **opts)
                    p.fit([parsed[i] for i in train], y[train])
                    seconds = time.perf_counter() - start
                    tau = kendalltau(p.predict([parsed[i] for i in test]), y[test]).statistic
                    writer.writerow({"space": space_name, "config": name, "size": size, "split": split,
                                     "kendall_tau": f"{tau:.6f}", "n_test": len(test), "fit_seconds": f"{seconds:.2f}"})
                    fh.flush()
                    log(f"{space_name} {name:32s} n={size:5d} split {split}: tau {tau:.4f} ({seconds:.1f}s)")


def table(out: Path, space_name: str, sizes) -> str:
    with open(out) as fh:
        rows = [r for r in csv.DictReader(fh) if r["space"] == space_name]
    configs = list(dict.fromkeys(r["config"] for r in rows))
    sizes = [s for s in sizes if any(int(r["size"]) == s for r in rows)]
    lines = ["| predictor (features) | " + " | ".join(f"n={s}" for s in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for c in configs:
        cells = []
        for s in sizes:
            taus = [float(r["kendall_tau"]) for r in rows if r["config"] == c and int(r["size"]) == s]
            cells.append(f"{np.mean(taus):.3f} ± {np.std(taus):.3f} ({len(taus)})" if taus else "")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--zse", help="NB201 sweep output with zero-shot scores (without it, ZSE configs are skipped)")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--configs", default=",".join(CONFIGS), help="Comma-separated names of CONFIGS")
    ap.add_argument("--nb101", action="store_true", help="Also NB101 (500 NASLib cells, train 100 / test 400).")
    ap.add_argument("--skip-nb201", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/results/predictors.csv")
    ap.add_argument("--write-classes", metavar="CSV",
                    help="Write one NB201 architecture per isomorphism class (the ZSE sweep's --input) and exit.")
    args = ap.parse_args()
    if args.write_classes:
        space, seen = get_space("nb201"), {}
        for arch in space.enumerate():
            seen.setdefault(space.canonical_hash(arch), space.to_string(arch))
        Path(args.write_classes).write_text("arch\n" + "".join(f"{a}\n" for a in seen.values()))
        print(f"wrote {len(seen)} architectures to {args.write_classes}")
        return
    torch.set_num_threads(args.threads)
    data, out = Path(args.data_dir), Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]

    def log(msg: str) -> None:
        print(msg, flush=True)

    print(f"# predictors benchmark on {machine()}; torch threads {args.threads}")
    if not args.skip_nb201:
        truth = load_truth(data / "nb201" / "cifar10_valid_test_3seed.csv", "nb201")
        y = truth.column("test-accuracy").to_numpy()
        zse = zero_shot_features(args.zse, "nb201") if args.zse else None
        if zse is not None:
            print(f"# NB201 ZSE: {zse.describe()}")
        run_space("nb201", truth.column("arch").to_pylist(), y, zse, sizes, args.splits, configs, out, log)
        print("\n## NB201 CIFAR-10 test accuracy: Kendall tau on the unlabelled architectures "
              "(mean ± std over splits (n splits))\n")
        print(table(out, "nb201", sizes))
    if args.nb101:
        path = data / "naslib-zc" / "zc_nasbench101.json"
        truth, _ = load_naslib(path)
        zse = zero_shot_features(str(path), "nb101")
        print(f"# NB101 ZSE: {zse.describe()}")
        run_space("nb101", truth.column("arch").to_pylist(), truth.column("val_accuracy").to_numpy(), zse, [100],
                  args.splits, configs, out, log)
        print("\n## NB101 (NASLib's 500 cells, val_accuracy): Kendall tau on the 400 unlabelled cells\n")
        print(table(out, "nb101", [100]))


if __name__ == "__main__":
    main()
