"""zc_combine's own GRAF + zero-cost pipeline on bench.predictors' splits: the reference row.

What ``scripts/train_on_features.py --use_all_proxies`` does, with zc_combine's code where it has
code for it: ``naslib_utils.parse_scores`` reads the NASLib scores (the shared files carry two
extra metadata keys, ``idx`` and ``arch``, and NB101's scores are bare numbers: they are put back
into the ``{proxy: {"score": s}}`` shape parse_scores reads, nothing else changes), its feature
code computes GRAF from its config (``nb201_full``, ``nb101_first``, ``nb301_full`` at 456a12c,
the paper's), the matrix is [GRAF columns, every proxy in file order] as ``get_dataset`` builds
it (raw scores, no scaling), and the model is its ``rf``: ``RandomForestRegressor(random_state=42)``
(scikit-learn defaults; ``predictors/__init__.py`` imports xgboost, so the one line is restated).
One deviation: a non-finite score (NASLib's NB201 file has one, an ``nwot`` of -inf) becomes NaN,
which scikit-learn's forest takes as missing; zc_combine's code would stop on it.
The split is ``bench.predictors.splits_of`` (not zc_combine's ``train_test_split``) so that the
row compares with archscore's on the same labelled cells; the NB201 suite keeps all 724 cells
(zc_combine's script drops NB201 cells with unreachable ops, which would change the test set).

    git clone https://github.com/gabikadlecova/zc_combine /tmp/zc_combine
    ZC_COMBINE=/tmp/zc_combine python -m bench.reference.zc_combine_pipeline --data-dir ../shared/data

Rows go to bench/results/predictors.csv (config ``zc_combine rf (graf + zc, its code)``); a rerun
skips what is there. Needs networkx and pandas.
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.predictors import SIZES, SUITES, commit, open_rows, splits_of, suite_data, table
from bench.reference.graf_vs_zc_combine import (COMMITS, CONFIGS, MODULES, checkout, load_reference, nb101_net,
                                                nb301_net, reference_features)

CONFIG = "zc_combine rf (graf + zc, its code)"
NB201_EDGES = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))
NB201_OPS = ["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]


def nb201_net_of_key(key: str):
    """``nb201_to_graph`` of NASLib's op tuple (the json key)."""
    return dict(enumerate(NB201_OPS)), dict(zip(NB201_EDGES, ast.literal_eval(key)))


def their_search_space(path: Path) -> dict:
    """The file as parse_scores reads it: ``{task: {net: {proxy: {"score": s}, "val_accuracy": a}}}``."""
    data = json.loads(path.read_text())
    if "nasbench101" in data:
        data = data["nasbench101"]
    out = {}
    for net, entry in data["cifar10"].items():
        row = {k: (v if isinstance(v, dict) else {"score": v}) for k, v in entry.items()
               if k not in ("idx", "arch", "val_accuracy")}
        out[net] = {**row, "val_accuracy": entry["val_accuracy"]}
    return {"cifar10": out}


def their_matrix(root: Path, space: str, path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    spec = importlib.util.spec_from_file_location("zc_naslib_utils", root / "zc_combine" / "utils" / "naslib_utils.py")
    naslib_utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(naslib_utils)
    frame = naslib_utils.parse_scores(their_search_space(path))["cifar10"]
    proxies = [c for c in frame.columns if c not in ("random", "rank", "new_net", "net", "val_accs")]
    build = {"nb201": nb201_net_of_key, "nb101": nb101_net, "darts": nb301_net}[space]
    modules = load_reference(root)
    modules = {n: modules[n] for n in ("dataset", MODULES[space])}
    names, graf = reference_features(modules, root / "zc_combine" / "configs" / CONFIGS[space],
                                     {i: build(k) for i, k in enumerate(frame["net"])})
    x = np.concatenate([graf, frame[proxies].to_numpy(dtype=np.float64)], axis=1)
    x[~np.isfinite(x)] = np.nan  # NASLib's NB201 nwot has one -inf, on which zc_combine's forest would fail
    return x, frame["val_accs"].to_numpy(dtype=np.float64), names + proxies


def main() -> None:
    from scipy.stats import kendalltau
    from sklearn.ensemble import RandomForestRegressor

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--suites", default="nb201-naslib,nb101-naslib,darts-naslib")
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("bench/results/predictors.csv"))
    args = ap.parse_args()
    clone = Path(os.environ.get("ZC_COMBINE", "/tmp/zc_combine"))
    if not (clone / ".git").exists():
        raise SystemExit(f"ZC_COMBINE={clone} is not a git clone of gabikadlecova/zc_combine (see the docstring)")
    stamp = commit()
    with tempfile.TemporaryDirectory() as tmp:
        root = checkout(clone, COMMITS["paper"], Path(tmp) / "paper")
        for suite in args.suites.split(","):
            space, file = SUITES[suite]
            if file is None:
                raise SystemExit(f"{suite}: the reference row needs published zero-cost scores (a NASLib suite)")
            x, y, names = their_matrix(root, space, args.data_dir / "naslib-zc" / file)
            _, ours, _, _ = suite_data(suite, args.data_dir, None)
            if not np.array_equal(y, ours):
                raise SystemExit(f"{suite}: zc_combine's rows are not in bench.predictors' order")
            print(f"# {suite}: {x.shape[0]} cells x {x.shape[1]} columns ({len(names)} "
                  f"named; non-finite -> NaN: {int(np.isnan(x).sum())})", flush=True)
            done, writer, fh = open_rows(args.out)
            with fh:
                for size in [s for s in SIZES if s < len(y)]:
                    for split in range(args.splits):
                        if (suite, CONFIG, size, split) in done:
                            continue
                        train, test = splits_of(len(y), size, split)
                        start = time.perf_counter()
                        model = RandomForestRegressor(random_state=42).fit(x[train], y[train])
                        seconds = time.perf_counter() - start
                        tau = kendalltau(model.predict(x[test]), y[test])[0]
                        writer.writerow({"space": suite, "config": CONFIG, "size": size, "split": split,
                                         "kendall_tau": f"{tau:.6f}", "n_test": len(test),
                                         "fit_seconds": f"{seconds:.2f}", "commit": stamp})
                        fh.flush()
                        print(f"{suite} n={size} split {split}: tau {tau:.4f}", flush=True)
            print(table(args.out, suite), flush=True)


if __name__ == "__main__":
    main()
