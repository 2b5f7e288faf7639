"""The one-shot heuristic ablation at a budget where supernets have converged: Kendall tau per
epoch, and the final supernet ranked on >= 500 cells, per setting x seed.

One NB201 supernet per (setting, seed), trained by archscore's own ``supernet train`` workflow on
all of Fashion-MNIST, ranked every epoch against NB201's published CIFAR-10 test accuracy (200
epochs, mean of 3 seeds: the truth the field reports) on ``--truth-archs`` seeded cells, with the
per-epoch bias of the scores (Kendall tau with params, FLOPs and each op's count). When training
ends, the last checkpoint scores ``--final-archs`` seeded cells on ``--final-batches`` held-out
batches: Kendall tau, sparse Kendall tau and P@top10% there are the ablation's figures, and the
per-cell scores are kept for the variance across seeds (Ning et al.).

Long: run it in the background. It resumes: a run directory under ``--work`` continues from its
last checkpoint, and a setting x seed whose files are already in ``--results`` is skipped (each is
written when its part finishes, small enough to commit):

    RESULTS/SETTING-sSEED.parquet        per-epoch metrics (``supernet train``'s metrics.parquet)
    RESULTS/SETTING-sSEED.final.parquet  the final checkpoint's score of each of the final cells

    python -m bench.oneshot_budget --fmnist ../shared/data/fashion-mnist \\
        --truth ../shared/data/nb201/cifar10_valid_test_3seed.csv [--epochs 10 --seeds 0,1,2 \\
        --settings default,tracked_bn --work runs/oneshot-budget --results bench/results/oneshot_budget]
    python -m bench.oneshot_budget --summary-only ...   # print the tables from what is committed
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from archscore.engine.evaluation import criteria as C
from archscore.engine.evaluation.ensemble import combine_ranks
from archscore.engine.evaluation.truth import truth_sample
from archscore.engine.workflows import SupernetConfig, train_supernet
from archscore.estimators.one_shot import Heuristics
from bench.stream import machine

MACRO = {"C": 8, "N": 1}
#: setting -> the heuristics it changes from the defaults (Yu et al.'s and Ning et al.'s switches)
SETTINGS = {
    "default": {},
    "tracked_bn": {"bn_track_running_stats": True},
    "recalibrate": {"bn_recalibrate_batches": 4},
    "fairnas": {"sampling": "fairnas"},
    "deiso": {"sampling": "deiso"},
    "deiso_recalibrate": {"sampling": "deiso", "bn_recalibrate_batches": 4},
    "path_dropout": {"path_dropout": 0.1},
    "nodes": {"topology": "nodes"},
    "wsbn": {"wsbn": True},
    "lr_0.05": {"lr": 0.05},
    "wd_3e-4": {"weight_decay": 3e-4},
    "grad_to_none": {"grad_to_none": True},
    "channels_4": {"init_channels": 4},
    "data_half": {"data_portion": 0.5},
    # bench/tune.py's ASHA best (bench/results/tune_asha_best.json, trial e7e7e_00004), lr to 3 digits
    "tuned": {"sampling": "deiso", "bn_track_running_stats": True, "bn_recalibrate_batches": 4, "lr": 0.0348},
}
#: per-epoch column -> its heading
EPOCH_COLUMNS = {"kendall_tau": "tau", "sparse_kendall_tau": "sparse tau", "bias_tau_params": "tau(params)",
                 "bias_tau_ops_skip_connect": "tau(#skip)", "bias_tau_ops_nor_conv_3x3": "tau(#conv3)",
                 "train_accuracy": "train acc", "seconds": "train s", "score_seconds": "score s"}


def heuristics(setting: str, seed: int, epochs: int) -> Heuristics:
    return Heuristics.from_mapping({**SETTINGS[setting], "epochs": epochs, "seed": seed})


def train(setting: str, seed: int, args: argparse.Namespace) -> pa.Table:
    """Train (or continue) one supernet; its per-epoch metrics."""
    return train_supernet(SupernetConfig(
        space="nb201", data=f"fashion-mnist:{Path(args.fmnist).resolve()}", out=str(Path(args.work) / f"{setting}-s{seed}"),
        heuristics=heuristics(setting, seed, args.epochs), macro=dict(MACRO), truth=str(Path(args.truth).resolve()),
        metric="test-accuracy", truth_archs=args.truth_archs, eval_batches=args.epoch_batches, cpus=args.cpus))


def final_scores(setting: str, seed: int, args: argparse.Namespace) -> pa.Table:
    """The last checkpoint's accuracy on each of the ``--final-archs`` cells, in this process."""
    import torch

    from archscore.engine.run.data import DataSpec, input_shape_of, load_images
    from archscore.estimators.one_shot import SupernetTrainer
    from archscore.spaces import get_space

    torch.set_num_threads(max(1, int(args.cpus)))
    space = get_space("nb201")
    data = f"fashion-mnist:{Path(args.fmnist).resolve()}"
    h = heuristics(setting, seed, args.epochs)
    macro = space.macro(**{**MACRO, **h.macro_overrides()})
    shape = input_shape_of(macro)
    trainer = SupernetTrainer(space, macro, h, load_images(DataSpec.parse(data), 10, shape), data, shape)
    trainer.load_state(torch.load(Path(args.work) / f"{setting}-s{seed}" / "checkpoint.pt", map_location="cpu",
                                  weights_only=False))
    archs, truth, _ = truth_sample(str(Path(args.truth).resolve()), "nb201", "test-accuracy", args.final_archs)
    start = time.perf_counter()
    acc, loss = trainer.scorer(args.final_batches, 256).score([space.parse(a) for a in archs])
    seconds = time.perf_counter() - start
    table = pa.table({"arch": archs, "truth": truth, "accuracy": acc, "loss": loss})
    return table.replace_schema_metadata({b"epoch": str(trainer.epoch).encode(), b"seconds": f"{seconds:.1f}".encode(),
                                          b"eval_batches": str(args.final_batches).encode()})


def final_criteria(table: pa.Table) -> dict[str, float]:
    scores, truth = table.column("accuracy").to_numpy(), table.column("truth").to_numpy()
    loss = -table.column("loss").to_numpy()  # oneshot_loss: lower is better
    return {"tau": C.kendall_tau(scores, truth), "sparse_tau": C.sparse_kendall_tau(scores, truth, 0.1),
            "p_top10": C.precision_at_top_k(scores, truth, 0.10), "tau_loss": C.kendall_tau(loss, truth)}


def write_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def epoch_lines(name: str, table: pa.Table) -> list[str]:
    rows = table.to_pylist()
    lines = [f"{name}: {len(rows)} epochs", "epoch  " + "  ".join(f"{h:>11s}" for h in EPOCH_COLUMNS.values())]
    for r in rows:
        lines.append(f"{r['epoch']:5d}  " + "  ".join(f"{r.get(c, float('nan')):11.4f}" for c in EPOCH_COLUMNS))
    return lines


def summary_lines(results: Path, params_tau: float) -> list[str]:
    """Mean and spread over seeds per setting (tau, sd, range, sparse tau, P@top10% of ``oneshot``;
    mean tau of ``oneshot_loss``), the mean tau between two seeds' per-cell accuracies, and two
    zero-label combinations (``archscore ensemble``'s rank aggregation): each seed's accuracy with
    params (log ranks, AZ-NAS's aggregation; mean over seeds) and the seeds' accuracies together
    (rank sum: one score from all the setting's supernets)."""
    finals: dict[str, list[pa.Table]] = {}
    for path in sorted(results.glob("*.final.parquet")):
        setting = path.name[: -len(".final.parquet")].rsplit("-s", 1)[0]
        finals.setdefault(setting, []).append(pq.read_table(path))
    params_of = cell_params(sorted({a for tables in finals.values() for t in tables for a in t.column("arch").to_pylist()}))
    lines = [f"{'setting':17s} seeds  {'tau mean':>8s} {'sd':>6s} {'min':>6s} {'max':>6s}  {'sparse':>6s}  "
             f"{'P@10%':>6s}  {'loss tau':>8s}  {'seed-seed':>9s}  {'+ params':>8s}  {'seeds ens.':>10s}",
             f"{'params':17s} {'-':>5s}  {params_tau:8.3f}"]
    for setting in [s for s in SETTINGS if s in finals]:
        crit = [final_criteria(t) for t in finals[setting]]
        taus = np.array([c["tau"] for c in crit])
        pair = [_seed_seed_tau(a, b) for i, a in enumerate(finals[setting]) for b in finals[setting][i + 1:]]
        sd = taus.std(ddof=1) if len(taus) > 1 else float("nan")
        with_params = np.mean([_with_params_tau(t, params_of) for t in finals[setting]])
        lines.append(f"{setting:17s} {len(taus):5d}  {taus.mean():8.3f} {sd:6.3f} {taus.min():6.3f} {taus.max():6.3f}  "
                     f"{np.mean([c['sparse_tau'] for c in crit]):6.3f}  {np.mean([c['p_top10'] for c in crit]):6.3f}  "
                     f"{np.mean([c['tau_loss'] for c in crit]):8.3f}  "
                     + (f"{np.mean(pair):9.3f}" if pair else f"{'-':>9s}") + f"  {with_params:8.3f}  "
                     + (f"{_seeds_ensemble_tau(finals[setting]):10.3f}" if len(finals[setting]) > 1 else f"{'-':>10s}"))
    return lines


def _with_params_tau(table: pa.Table, params_of: dict[str, float]) -> float:
    """Kendall tau of the log-rank aggregate of the supernet's accuracy and the cell's params."""
    acc = table.column("accuracy").to_numpy()
    params = np.array([params_of[a] for a in table.column("arch").to_pylist()])
    return C.kendall_tau(combine_ranks(np.vstack([acc, params]), "log_rank"), table.column("truth").to_numpy())


def _seeds_ensemble_tau(tables: list[pa.Table]) -> float:
    """Kendall tau of the rank sum of every seed's accuracy, on the cells all of them scored."""
    by_seed = [dict(zip(t.column("arch").to_pylist(), t.column("accuracy").to_pylist())) for t in tables]
    truth = dict(zip(tables[0].column("arch").to_pylist(), tables[0].column("truth").to_pylist()))
    common = [a for a in truth if all(a in d for d in by_seed)]
    oriented = np.array([[d[a] for a in common] for d in by_seed])
    return C.kendall_tau(combine_ranks(oriented, "rank_sum"), np.array([truth[a] for a in common]))


def _seed_seed_tau(a: pa.Table, b: pa.Table) -> float:
    """Kendall tau between two runs' accuracies on the cells both scored (joined by cell)."""
    acc_b = dict(zip(b.column("arch").to_pylist(), b.column("accuracy").to_pylist()))
    common = [(x, acc_b[c]) for c, x in zip(a.column("arch").to_pylist(), a.column("accuracy").to_pylist()) if c in acc_b]
    return C.kendall_tau(*map(np.array, zip(*common))) if len(common) > 1 else float("nan")


def check_done(name: str, epochs_file: Path, final_file: Path, args: argparse.Namespace) -> None:
    """A committed result is reused only when it was made with this command's budget.

    Raises:
        SystemExit: it was not (naming the file and what differs).
    """
    epochs = pq.read_metadata(epochs_file).num_rows if epochs_file.exists() else args.epochs
    if epochs != args.epochs:
        raise SystemExit(f"{epochs_file} holds {epochs} epochs, not --epochs {args.epochs}: use another --results")
    if final_file.exists():
        meta = pq.read_schema(final_file).metadata or {}
        made = (int(meta.get(b"epoch", b"-1")), int(meta.get(b"eval_batches", b"-1")), pq.read_metadata(final_file).num_rows)
        if made != (args.epochs, args.final_batches, args.final_archs):
            raise SystemExit(f"{final_file} was made at (epoch, batches, cells) {made}, not "
                             f"{(args.epochs, args.final_batches, args.final_archs)}: use another --results")
        if not epochs_file.exists():
            raise SystemExit(f"{final_file} has no per-epoch file {epochs_file.name} beside it: remove it to retrain")


def params_baseline(args: argparse.Namespace) -> float:
    """Kendall tau of params alone on the final cells."""
    archs, truth, _ = truth_sample(str(Path(args.truth).resolve()), "nb201", "test-accuracy", args.final_archs)
    params = cell_params(archs)
    return C.kendall_tau(np.array([params[a] for a in archs]), truth)


def cell_params(archs: list[str]) -> dict[str, float]:
    """Each NB201 cell's parameter count at the benchmark's macro."""
    from archscore.spaces import get_space

    space = get_space("nb201")
    params, _ = space.costs_many([space.parse(a) for a in archs], space.macro(**MACRO))
    return dict(zip(archs, np.asarray(params, dtype=np.float64).tolist()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fmnist", required=True)
    ap.add_argument("--truth", required=True, help="NB201's published accuracy (cifar10_valid_test_3seed.csv)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--settings", default="default", help=f"comma-separated, of: {', '.join(SETTINGS)}")
    ap.add_argument("--truth-archs", type=int, default=100, help="cells ranked every epoch")
    ap.add_argument("--epoch-batches", type=int, default=2, help="held-out batches of 256 per cell, every epoch")
    ap.add_argument("--final-archs", type=int, default=500, help="cells the final checkpoint ranks")
    ap.add_argument("--final-batches", type=int, default=4)
    ap.add_argument("--cpus", type=float, default=2.0)
    ap.add_argument("--work", default="runs/oneshot-budget")
    ap.add_argument("--results", default="bench/results/oneshot_budget")
    ap.add_argument("--summary-only", action="store_true", help="train nothing: print what --results holds")
    args = ap.parse_args()
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; NB201 C={MACRO['C']} N={MACRO['N']}, all of Fashion-MNIST, {args.epochs} epochs, "
          f"truth: NB201 CIFAR-10 test accuracy (200 epochs, mean of 3 seeds); per epoch {args.truth_archs} cells x "
          f"{args.epoch_batches} batches, final {args.final_archs} cells x {args.final_batches} batches of 256", flush=True)
    unknown = [s for s in args.settings.split(",") if s not in SETTINGS]
    if unknown:
        raise SystemExit(f"unknown settings {unknown}; known: {', '.join(SETTINGS)}")
    if not args.summary_only:
        for setting in args.settings.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                name = f"{setting}-s{seed}"
                epochs_file, final_file = results / f"{name}.parquet", results / f"{name}.final.parquet"
                check_done(name, epochs_file, final_file, args)
                if epochs_file.exists():
                    table = pq.read_table(epochs_file)
                else:
                    table = train(setting, seed, args)
                    write_atomic(table, epochs_file)  # only a finished run's metrics: a rerun skips it
                print("\n".join(epoch_lines(name, table)), flush=True)
                if not final_file.exists():
                    write_atomic(final_scores(setting, seed, args), final_file)
                crit = final_criteria(pq.read_table(final_file))
                print(f"{name} final on {args.final_archs} cells: " + ", ".join(f"{k} {v:.3f}" for k, v in crit.items()),
                      flush=True)
    print("\n".join(summary_lines(results, params_baseline(args))))


if __name__ == "__main__":
    main()
