"""Sample-efficiency of learned predictors: Kendall tau on every unlabelled architecture.

Suites (``--suites``), each with ``--splits`` random labelled sets per size (split k: seed k), the
rest of the suite held out:

- ``nb201``: all 15,625 NB201 cells, truth ``nb201/cifar10_valid_test_3seed.csv`` ``test-accuracy``
  (200 epochs, mean of 3 seeds), sizes 16, 32, 64, 156 (1 %), 424, 1562 (10 %). ZSE features are
  archscore's own sweep (``--zse``: a sweep output over NB201, e.g. the 6,466 isomorphism-class
  representatives, joined to all 15,625 by canonical hash); without it ZSE configs are skipped.
- ``nb201-naslib`` / ``nb101-naslib`` / ``darts-naslib``: NASLib's 724 NB201, 500 NB101 and 725
  NB301 cells (``naslib-zc/zc_nasbench{201,101,301}.json``, CIFAR-10 ``val_accuracy``, as
  zc_combine trains on), sizes below the suite's size; ZSE features are the file's published
  NAS-Bench-Suite-Zero scores (12 proxies with flops and params; 11 on NB101).

zc_combine's own pipeline on the same splits (its GRAF code, its proxy table, its forest) is the
reference row: ``bench/reference/zc_combine_pipeline.py`` writes it into the same file.

Every fit is a row of ``--out`` (CSV: suite, config, size, split, tau, n_test, fit seconds, the
commit), skipped when the script is rerun, so a long run resumes; tables print from that file.

    python -m bench.predictors --write-classes runs/nb201_classes.csv
    archscore sweep --space nb201 --input runs/nb201_classes.csv --out runs/zse_nb201 \
        --estimators params,flops,synflow,naswot,snip,grad_norm,jacob_cov,l2_norm,fisher \
        --data fashion-mnist:../shared/data/fashion-mnist --data-batch-size 32
    python -m bench.predictors --data-dir ../shared/data --zse runs/zse_nb201 [--splits 5] \
        [--suites nb201,nb201-naslib,nb101-naslib,darts-naslib] [--configs "rf (graf),gbt (graf)"]
    python -m bench.predictors --table-only        # print the tables from --out
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
#: suite -> (space, NASLib file or None for all of NB201)
SUITES = {"nb201": ("nb201", None), "nb201-naslib": ("nb201", "zc_nasbench201.json"),
          "nb101-naslib": ("nb101", "zc_nasbench101.json"), "darts-naslib": ("darts", "zc_nasbench301.json")}
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
    "rf (graf)": ("rf", ["graf"], {}),
    "gbt (graf)": ("gbt", ["graf"], {}),
    "mlp pairwise (graf)": ("mlp", ["graf"], {}),
    "rf (zse)": ("rf", ["zse"], {}),
    "rf (graf + zse)": ("rf", ["graf", "zse"], {}),
    "gbt (graf + zse)": ("gbt", ["graf", "zse"], {}),
    "mlp pairwise (graf + zse)": ("mlp", ["graf", "zse"], {}),
    "rf (graf + zse + encoding)": ("rf", ["graf", "zse", "encoding"], {}),
    "gbt (graf + zse + encoding)": ("gbt", ["graf", "zse", "encoding"], {}),
    "mlp pairwise (graf + zse + encoding)": ("mlp", ["graf", "zse", "encoding"], {}),
    "rf (graf + zse 2025)": ("rf", ["graf", "zse_2025"], {}),
    "gbt (graf + zse 2025)": ("gbt", ["graf", "zse_2025"], {}),
    "mlp pairwise (graf + zse 2025)": ("mlp", ["graf", "zse_2025"], {}),
}
#: "zse" on nb201: the 2021 suite of the earlier rows (and of the published tables); "zse_2025" adds
#: the sweep's newer proxies (MeCo, SWAP, AZ-NAS's components). NASLib suites: the published scores.
ZSE_2021 = ("params", "flops", "synflow", "naswot", "snip", "grad_norm", "jacob_cov", "l2_norm", "fisher")
FIELDS = ["space", "config", "size", "split", "kendall_tau", "n_test", "fit_seconds", "commit"]


def splits_of(n: int, size: int, split: int) -> tuple[np.ndarray, np.ndarray]:
    """The labelled and held-out positions of split ``split`` (also zc_combine's reference row's)."""
    train = np.sort(np.random.default_rng(split).choice(n, size, replace=False))
    return train, np.setdiff1d(np.arange(n), train)


def commit() -> str:
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
        return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return ""


def open_rows(out: Path) -> tuple[set[tuple[str, str, int, int]], "csv.DictWriter", object]:
    """The keys already measured, and a writer appending to ``out`` (its header upgraded if older)."""
    rows = list(csv.DictReader(open(out))) if out.exists() else []
    if rows and list(rows[0]) != FIELDS:
        with open(out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, FIELDS)
            writer.writeheader()
            writer.writerows({k: r.get(k) or "" for k in FIELDS} for r in rows)
    fh = open(out, "a", newline="")
    writer = csv.DictWriter(fh, FIELDS)
    if not rows:
        writer.writeheader()
    return {(r["space"], r["config"], int(r["size"]), int(r["split"])) for r in rows}, writer, fh


def run_suite(suite: str, archs: list, y: np.ndarray, zse, sizes, splits: int, configs: list[str],
              out: Path, log) -> None:
    space_name = SUITES[suite][0]
    space = get_space(space_name)
    parsed = [space.parse(a) for a in archs]
    done, writer, fh = open_rows(out)
    stamp = commit()
    with fh:
        for size in sizes:
            for split in range(splits):
                train, test = splits_of(len(archs), size, split)
                for name in configs:
                    if (suite, name, size, split) in done:
                        continue
                    model, feats, opts = CONFIGS[name]
                    if any(f.startswith("zse") and zse.get(f) is None for f in feats):
                        continue
                    if any(not space.provides({"renas": "renas_tensor", "graf": "graf"}.get(f, "one_hot"))
                           for f in feats if not f.startswith("zse")):
                        continue
                    features = [zse[f] if f.startswith("zse") else f for f in feats]
                    start = time.perf_counter()
                    p = PREDICTORS.get(model)(space=space_name, features=features, seed=split, **opts)
                    p.fit([parsed[i] for i in train], y[train])
                    seconds = time.perf_counter() - start
                    tau = kendalltau(p.predict([parsed[i] for i in test]), y[test]).statistic
                    writer.writerow({"space": suite, "config": name, "size": size, "split": split,
                                     "kendall_tau": f"{tau:.6f}", "n_test": len(test), "fit_seconds": f"{seconds:.2f}",
                                     "commit": stamp})
                    fh.flush()
                    log(f"{suite} {name:38s} n={size:5d} split {split}: tau {tau:.4f} ({seconds:.1f}s)")


def table(out: Path, suite: str) -> str:
    with open(out) as fh:
        rows = [r for r in csv.DictReader(fh) if r["space"] == suite]
    configs = list(dict.fromkeys(r["config"] for r in rows))
    sizes = sorted({int(r["size"]) for r in rows})
    lines = ["| predictor (features) | " + " | ".join(f"n={s}" for s in sizes) + " | measured at |",
             "|---|" + "---|" * (len(sizes) + 1)]
    for c in configs:
        cells = []
        for s in sizes:
            taus = [float(r["kendall_tau"]) for r in rows if r["config"] == c and int(r["size"]) == s]
            cells.append(f"{np.mean(taus):.3f} ± {np.std(taus):.3f} ({len(taus)})" if taus else "")
        stamps = sorted({r.get("commit") or "" for r in rows if r["config"] == c} - {""})
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {', '.join(stamps) or 'before 2026-12-04'} |")
    return "\n".join(lines)


def suite_data(suite: str, data: Path, zse_path: str | None):
    """(arch strings, truth values, {"zse": ..., "zse_2025": ...} (None where absent), truth description)."""
    space_name, file = SUITES[suite]
    if file is None:
        truth = load_truth(data / "nb201" / "cifar10_valid_test_3seed.csv", "nb201")
        zse = {"zse": None, "zse_2025": None}
        if zse_path:
            zse = {"zse": zero_shot_features(zse_path, "nb201", estimators=ZSE_2021),
                   "zse_2025": zero_shot_features(zse_path, "nb201")}
            if set(zse["zse_2025"].estimators) == set(ZSE_2021):
                zse["zse_2025"] = None
        return truth.column("arch").to_pylist(), truth.column("test-accuracy").to_numpy(), zse, \
            "CIFAR-10 test accuracy (200 epochs, mean of 3 seeds)"
    truth, _ = load_naslib(data / "naslib-zc" / file)
    return truth.column("arch").to_pylist(), truth.column("val_accuracy").to_numpy(), \
        {"zse": zero_shot_features(str(data / "naslib-zc" / file), space_name), "zse_2025": None}, \
        f"NASLib's val_accuracy ({file})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--zse", help="NB201 sweep output with zero-shot scores (without it, nb201's ZSE configs are skipped)")
    ap.add_argument("--suites", default="nb201,nb201-naslib,nb101-naslib,darts-naslib")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="sizes at or above a suite's size are skipped")
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--configs", default=",".join(CONFIGS), help="Comma-separated names of CONFIGS")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/results/predictors.csv")
    ap.add_argument("--table-only", action="store_true", help="Fit nothing: print the tables of --out.")
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
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configs {unknown}; known: {list(CONFIGS)}")

    def log(msg: str) -> None:
        print(msg, flush=True)

    print(f"# predictors benchmark on {machine()}; torch threads {args.threads}")
    for suite in [s.strip() for s in args.suites.split(",") if s.strip()]:
        if suite not in SUITES:
            raise SystemExit(f"unknown suite {suite!r}; known: {list(SUITES)}")
        archs, y, zse, truth = suite_data(suite, data, args.zse)
        if not args.table_only:
            for token, features in zse.items():
                if features is not None:
                    print(f"# {suite} {token}: {features.describe()}")
            sizes = [int(s) for s in args.sizes.split(",") if int(s) < len(archs)]
            run_suite(suite, archs, y, zse, sizes, args.splits, configs, out, log)
        if out.exists():
            print(f"\n## {suite}: {len(archs)} cells, truth {truth}; Kendall tau on the unlabelled cells "
                  "(mean ± std over splits (n splits))\n")
            print(table(out, suite))


if __name__ == "__main__":
    main()
