"""How long must a supernet train before its ranking stops changing? Kendall tau per epoch.

One NB201 supernet per (setting, seed), trained by archscore's own ``supernet train`` workflow on
all of Fashion-MNIST, ranked every epoch against NB201's published CIFAR-10 test accuracy (200
epochs, mean of 3 seeds: the truth the field reports) on ``--truth-archs`` seeded cells, with the
per-epoch bias of the scores (Kendall tau with params, FLOPs and each op's count). Long: run it in
the background. It resumes: a run directory under ``--work`` continues from its last checkpoint,
and a setting x seed whose metrics file is already in ``--results`` is skipped (each file is
written when its run finishes, small enough to commit).

    python -m bench.oneshot_budget --fmnist ../shared/data/fashion-mnist \\
        --truth ../shared/data/nb201/cifar10_valid_test_3seed.csv [--epochs 40 --seeds 0 \\
        --settings default --work runs/oneshot-budget --results bench/results/oneshot_budget]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from archscore.engine.workflows import SupernetConfig, train_supernet
from archscore.estimators.one_shot import Heuristics
from bench.stream import machine

MACRO = {"C": 8, "N": 1}
#: setting -> the heuristics it changes from the defaults
SETTINGS = {"default": {}, "grad_to_none": {"grad_to_none": True}, "tracked_bn": {"bn_track_running_stats": True},
            "fairnas": {"sampling": "fairnas"}, "nodes": {"topology": "nodes"}}
COLUMNS = ("kendall_tau", "sparse_kendall_tau", "p_at_top_5pct", "bias_tau_params", "bias_tau_ops_skip_connect",
           "bias_tau_ops_nor_conv_3x3", "train_accuracy", "seconds", "score_seconds")


def run(setting: str, seed: int, args: argparse.Namespace) -> pa.Table:
    """Train (or continue) one supernet; its per-epoch metrics."""
    heuristics = Heuristics.from_mapping({**SETTINGS[setting], "epochs": args.epochs, "seed": seed})
    return train_supernet(SupernetConfig(
        space="nb201", data=f"fashion-mnist:{Path(args.fmnist).resolve()}", out=str(Path(args.work) / f"{setting}-s{seed}"),
        heuristics=heuristics, macro=dict(MACRO), truth=str(Path(args.truth).resolve()), metric="test-accuracy",
        truth_archs=args.truth_archs, cpus=args.cpus))


def table_lines(name: str, table: pa.Table) -> list[str]:
    rows = table.to_pylist()
    head = "epoch  " + "  ".join(f"{c:>12s}" for c in COLUMNS)
    lines = [f"{name}: {len(rows)} epochs", head]
    for r in rows:
        lines.append(f"{r['epoch']:5d}  " + "  ".join(f"{r.get(c, float('nan')):12.4f}" for c in COLUMNS))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fmnist", required=True)
    ap.add_argument("--truth", required=True, help="NB201's published accuracy (cifar10_valid_test_3seed.csv)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--settings", default="default", help=f"comma-separated, of: {', '.join(SETTINGS)}")
    ap.add_argument("--truth-archs", type=int, default=200)
    ap.add_argument("--cpus", type=float, default=2.0)
    ap.add_argument("--work", default="runs/oneshot-budget")
    ap.add_argument("--results", default="bench/results/oneshot_budget")
    args = ap.parse_args()
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; NB201 C={MACRO['C']} N={MACRO['N']}, all of Fashion-MNIST, {args.epochs} epochs, "
          f"truth: NB201 CIFAR-10 test accuracy on {args.truth_archs} seeded cells")
    for setting in args.settings.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            name = f"{setting}-s{seed}"
            done = results / f"{name}.parquet"
            if done.exists():
                table = pq.read_table(done)
            else:
                table = run(setting, seed, args)
                pq.write_table(table, done)  # only a finished run's metrics: a rerun skips it
            print("\n".join(table_lines(name, table)))


if __name__ == "__main__":
    main()
