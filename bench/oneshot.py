"""The seeds' question on this machine: which supernet heuristics make one-shot estimates rank
like stand-alone training? Everything runs through archscore's own API, into --work.

1. Stand-alone truth (``archscore train``'s estimators): ``--archs`` sampled NB201 cells at C=8,
   N=1 on Fashion-MNIST with the ``cpu-low`` recipe (``--epochs``, ``--portion``), seed 0, and a
   second training seed for the first ``--reseed`` of them: tau between the two seeds is the
   ceiling any estimator can reach against this truth.
2. Supernets (``archscore supernet train``'s trainer) under the default heuristics and
   single-switch changes, each scored (``oneshot``) on the same architectures.
3. Zero-shot proxies (and params/FLOPs) on the same architectures, on a Fashion-MNIST batch.
4. One table: setting, Kendall tau, sparse tau and P@top10% against the stand-alone truth
   (valid accuracy), tau against NB201's published CIFAR-10 test accuracy (200 epochs, C=16 N=5),
   supernet seconds per epoch, OSE archs/s.

The truth table is written to bench/results/oneshot_truth.parquet (committed; this command
regenerates it). Runs resume: rerunning skips what --work already holds.

    python -m bench.oneshot --fmnist ../shared/data/fashion-mnist --nb201 ../shared/data/nb201 \\
        [--archs 150 --reseed 30 --epochs 3 --portion 0.1 --supernet-epochs 10 --work runs/bench-oneshot]
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from archscore.engine import FromIterable, Sample, SweepConfig, read_results, run_sweep
from archscore.engine.workflows.supernet import SupernetConfig, train_supernet
from archscore.engine.evaluation.truth import load_truth
from archscore.engine.evaluation import criteria as C
from archscore.estimators.one_shot import Heuristics
from archscore.estimators.standalone import STANDALONE_METRICS
from archscore.spaces import get_space
from bench.stream import machine

MACRO = {"C": 8, "N": 1}
SETTINGS = {  # key: (label, single-switch change from the default heuristics, Yu et al.'s baseline)
    "default": ("default (uniform, untracked BN)", {}),
    "tracked_bn": ("tracked BN stats", {"bn_track_running_stats": True}),
    "recalibrate": ("tracked BN + recalibration (4 batches)", {"bn_track_running_stats": True,
                                                               "bn_recalibrate_batches": 4}),
    "fairnas": ("FairNAS sampling", {"sampling": "fairnas"}),
    "deiso": ("de-isomorphic sampling", {"sampling": "deiso"}),
    "path_dropout": ("path dropout 0.2", {"path_dropout": 0.2}),
    "nodes": ("ops on nodes", {"topology": "nodes"}),
    "wsbn": ("per-op BN (wsbn)", {"wsbn": True}),
    "half_data": ("half the data", {"data_portion": 0.5}),
}
ZERO_SHOT = ("synflow", "naswot", "jacob_cov", "snip", "grad_norm", "fisher", "params", "flops")


def ranks(scores: dict[str, float], truth: dict[str, float], higher: bool = True) -> tuple[float, float, float]:
    common = sorted(set(scores) & set(truth))
    s = np.array([scores[a] if higher else -scores[a] for a in common])
    t = np.array([truth[a] for a in common])
    return C.kendall_tau(s, t), C.sparse_kendall_tau(s, t, 0.1), C.precision_at_top_k(s, t, 0.1)


def by_arch(table: pa.Table, estimator: str) -> dict[str, float]:
    rows = [r for r in table.to_pylist() if r["estimator"] == estimator and r["status"] == "ok"]
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(r["arch"], []).append(r["score"])
    return {a: float(np.mean(v)) for a, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fmnist", required=True)
    ap.add_argument("--nb201", required=True, help="folder with cifar10_valid_test_3seed.csv")
    ap.add_argument("--archs", type=int, default=150)
    ap.add_argument("--reseed", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--portion", type=float, default=0.1)
    ap.add_argument("--supernet-epochs", type=int, default=10)
    ap.add_argument("--settings", default="all", help=f"comma-separated keys of {', '.join(SETTINGS)}, or all")
    ap.add_argument("--work", default="runs/bench-oneshot")
    ap.add_argument("--truth-out", default="bench/results/oneshot_truth.parquet")
    args = ap.parse_args()
    work = Path(args.work)
    data = f"fashion-mnist:{Path(args.fmnist).resolve()}"
    space = get_space("nb201")
    print(f"machine: {machine()}")
    print(f"{args.archs} NB201 cells (Sample seed 0), C=8 N=1, Fashion-MNIST; stand-alone: cpu-low recipe, "
          f"{args.epochs} epochs on {args.portion:.0%} of the data; supernets: {args.supernet_epochs} epochs\n")

    # 1. stand-alone truth, two seeds on a subset
    recipe = {"recipe": "cpu-low", "epochs": args.epochs, "data_portion": args.portion}
    start = time.monotonic()
    run_sweep(SweepConfig("nb201", list(STANDALONE_METRICS), str(work / "truth"), Sample(args.archs, seed=0),
                          macro=MACRO, estimator_config={m: recipe for m in STANDALONE_METRICS}, data=data,
                          progress=False))
    archs = [space.to_string(a) for a in space.sample(args.archs, np.random.default_rng(0))]
    run_sweep(SweepConfig("nb201", list(STANDALONE_METRICS), str(work / "truth_seed1"),
                          FromIterable(archs[: args.reseed], name=f"first-{args.reseed}"), seeds=[1], macro=MACRO,
                          estimator_config={m: recipe for m in STANDALONE_METRICS}, data=data, progress=False))
    truth_rows = read_results(work / "truth")
    truth = by_arch(truth_rows, "valid_accuracy")
    seed1 = by_arch(read_results(work / "truth_seed1"), "valid_accuracy")
    ceiling = ranks(seed1, {a: truth[a] for a in seed1})
    Path(args.truth_out).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables([truth_rows, read_results(work / "truth_seed1")]), args.truth_out)
    print(f"stand-alone truth: {len(truth)} archs in {time.monotonic() - start:.0f}s (resumed parts excluded); "
          f"seed-to-seed on {len(seed1)}: tau {ceiling[0]:.3f} (the ceiling)")
    nb201 = load_truth(Path(args.nb201) / "cifar10_valid_test_3seed.csv")
    published = dict(zip(nb201.column("arch").to_pylist(), nb201.column("test-accuracy").to_pylist()))
    published = {a: published[a] for a in truth}

    # 2. supernets
    rows = []
    keys = list(SETTINGS) if args.settings == "all" else args.settings.split(",")
    for key in keys:
        label, switches = SETTINGS[key]
        out = work / f"sn-{key}"
        values = {"epochs": args.supernet_epochs, "batch_size": 64, **switches}
        values["data_portion"] = args.portion * switches.get("data_portion", 1.0)  # relative to the truth's
        h = Heuristics.from_mapping(values)
        metrics = train_supernet(SupernetConfig("nb201", data, str(out), heuristics=h, macro=MACRO))
        epoch_s = float(np.mean(metrics.column("seconds").to_numpy()))
        ose_out = work / f"ose-{out.name}"
        if ose_out.exists() and not (ose_out / "_run.json").exists():
            shutil.rmtree(ose_out)
        summary = run_sweep(SweepConfig("nb201", ["oneshot"], str(ose_out), Sample(args.archs, seed=0), macro=MACRO,
                                        estimator_config={"oneshot": {"checkpoint": str(out)}}, data=data,
                                        progress=False))
        scores = by_arch(read_results(ose_out), "oneshot")
        rate = summary.stats.items / summary.stats.streaming_seconds if summary.stats.streaming_seconds else float("nan")
        rows.append((f"oneshot: {label}", *ranks(scores, truth), ranks(scores, published)[0], epoch_s, rate))

    # 3. zero-shot and costs on the same archs
    zs_out = work / "zero_shot"
    run_sweep(SweepConfig("nb201", list(ZERO_SHOT), str(zs_out), Sample(args.archs, seed=0), macro=MACRO, data=data,
                          data_batch_size=64, progress=False))
    zs = read_results(zs_out)
    for name in ZERO_SHOT:
        scores = by_arch(zs, name)
        rows.append((f"zero-shot: {name}", *ranks(scores, truth), ranks(scores, published)[0], float("nan"),
                     float("nan")))
    rows.append(("stand-alone, seed 1 vs seed 0 (ceiling)", *ceiling, ranks(seed1, published)[0], float("nan"),
                 float("nan")))
    rows.append(("stand-alone truth itself", 1.0, 1.0, 1.0, ranks(truth, published)[0], float("nan"), float("nan")))

    print(f"\n| estimator | tau vs stand-alone | sparse tau | P@top10% | tau vs NB201 CIFAR-10 test | "
          f"supernet s/epoch | OSE archs/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, tau, sparse, p10, pub, epoch_s, rate in rows:
        fmt = lambda v, d=3: "–" if v is None or not np.isfinite(v) else f"{v:.{d}f}"  # noqa: E731
        print(f"| {name} | {fmt(tau)} | {fmt(sparse)} | {fmt(p10)} | {fmt(pub)} | {fmt(epoch_s, 1)} | {fmt(rate, 1)} |")


if __name__ == "__main__":
    main()
