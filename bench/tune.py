"""Does searching supernet heuristics with Ray Tune beat the defaults on held-out architectures?

At the one-shot ablation's budget (``bench/oneshot_budget.py``: NB201 cells at C=8, N=1, all of
Fashion-MNIST, batch 256, 10 supernet epochs = 2,110 steps, where tau per epoch has flattened;
truth: NB201's published CIFAR-10 test accuracy, 200 epochs, mean of 3 seeds), through
``archscore.engine.tune.driver``:

1. The default heuristics with 3 seeds (FIFO) first: the seed-to-seed spread of a supernet.
2. ``--trials`` trials with ASHA over the heuristics the ablation found to move the ranking
   (sampling, BN statistics and recalibration, per-op BN, ops on edges or nodes) and the learning
   rate. FairNAS is left out: its steps cost five times a uniform step.
3. The best trial's heuristics with the same 3 seeds (FIFO): the tuned setting's own spread, so
   the comparison is 3 seeds against 3 seeds, not the search's luckiest draw against a mean.

Prints the machine, each run's wall time, trials finished vs stopped early, held-out Kendall tau
per seed of the default and of the tuned setting, the best trial's, and whether the tuned mean
beats the default mean by more than the default's seed-to-seed range. Each run's trials table is
copied to ``bench/results/tune_*.parquet`` as soon as it ends (wall times in ``tune_wall_s.json``,
the best trial in ``tune_asha_best.json``); a rerun reads back what is there and runs the rest, so
the benchmark continues across restarts and checkouts (this command regenerates the files); two
processes with ``--seeds 1`` and ``--seeds 2`` run those seeds side by side.
About 1 min per supernet epoch on 2 CPU cores: 16 trials x 10 epochs + 6 seeded runs is ~4 h;
run it in the background.

    python -m bench.tune --fmnist ../shared/data/fashion-mnist \
        --truth ../shared/data/nb201/cifar10_valid_test_3seed.csv [--trials 16 --epochs 10 --work runs/bench-tune --cpus 1]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from archscore._core import write_atomic
from archscore.engine.evaluation import criteria
from archscore.engine.tune import TuneConfig, run_tune
from archscore.engine.tune.config import prepare
from archscore.spaces import get_space
from archscore.estimators.one_shot import Heuristics
from bench.stream import machine

RESULTS = Path(__file__).parent / "results"
SEEDS = (0, 1, 2)
SEARCH = {
    "sampling": {"choice": ["uniform", "deiso"]},
    "bn_track_running_stats": {"choice": [False, True]},
    "bn_recalibrate_batches": {"choice": [0, 4]},
    "wsbn": {"choice": [False, True]},
    "topology": {"choice": ["edges", "nodes"]},
    "lr": {"loguniform": [0.01, 0.1]},
}


def finals(table) -> list[dict]:
    return [r for r in table.to_pylist() if r["final"]]


def phase(name: str, work: Path, results: Path, config: TuneConfig) -> tuple[pa.Table, float]:
    """One Tune run, or its committed result: a phase whose trials table is already in
    ``bench/results`` is read back, so a rerun (another day, another checkout) continues."""
    table_path = results / f"tune_{name}.parquet"
    done = committed(name, results)
    if done is not None:
        print(f"{name}: read back from {table_path} (delete it to rerun)")
        return done
    start = time.perf_counter()
    table = run_tune(config)
    results.mkdir(parents=True, exist_ok=True)
    write_atomic(table_path, (work / name / "trials.parquet").read_bytes())
    if name == "asha":  # the seeded runs' best is their only trial
        write_atomic(results / f"tune_{name}_best.json", (work / name / "best" / "best.json").read_bytes())
    seconds = time.perf_counter() - start
    times_path = results / "tune_wall_s.json"  # read again: another process (--seeds) may have added its run
    times = json.loads(times_path.read_text()) if times_path.exists() else {}
    times[name] = seconds  # last: a run counts as done only once its table is whole
    write_atomic(times_path, (json.dumps(times, indent=1, sort_keys=True) + "\n").encode())
    return table, seconds


def committed(name: str, results: Path) -> tuple[pa.Table, float] | None:
    """A run's committed trials table and wall time, or None when it has not finished."""
    table_path, times_path = results / f"tune_{name}.parquet", results / "tune_wall_s.json"
    times = json.loads(times_path.read_text()) if times_path.exists() else {}
    return (pq.read_table(table_path), times[name]) if table_path.exists() and name in times else None


def params_taus(config: TuneConfig) -> tuple[float, float]:
    """Kendall tau of params alone (NB201 at its default size, no training) on the run's own tuning
    and held-out cells (the engine's split): the bar a supernet has to clear to be useful."""
    prepared, space = prepare(config), get_space(config.space)
    macro = space.macro()

    def tau(names: list[str], values: np.ndarray) -> float:
        return criteria.kendall_tau(np.array([space.params(space.parse(a), macro) for a in names]), values)

    return tau(*prepared.tuning), tau(*prepared.test)


def seeded(label: str, work: Path, results: Path, heuristics: dict, common: dict,
           mine: tuple[int, ...]) -> tuple[pa.Table | None, float, list[int]]:
    """``heuristics`` with each of SEEDS, one FIFO run per seed (each committed when it ends): the
    seeds in ``mine`` run here, the others are read back if committed (another process runs them).
    Returns the tables found, their total wall time and the seeds still missing."""
    for seed in mine:
        name = f"{label}_s{seed}"
        config = TuneConfig(out=str(work / name), search={"seed": {"grid": [seed]}, **heuristics}, num_samples=1,
                            scheduler="fifo", **common)
        phase(name, work, results, config)
    tables, wall, missing = [], 0.0, []
    for seed in SEEDS:  # after this process's runs: the others' may have been committed meanwhile
        found = committed(f"{label}_s{seed}", results)
        if found is None:
            missing.append(seed)
            continue
        tables.append(found[0])
        wall += found[1]
    return (pa.concat_tables(tables, promote_options="default") if tables else None), wall, missing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fmnist", required=True)
    ap.add_argument("--truth", required=True, help="NB201's cifar10_valid_test_3seed.csv (or another truth file)")
    ap.add_argument("--metric", default="test-accuracy")
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--portion", type=float, default=1.0)
    ap.add_argument("--truth-archs", type=int, default=200)
    ap.add_argument("--work", default="runs/bench-tune")
    ap.add_argument("--results", default=str(RESULTS), help="where finished runs are copied (and read back)")
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)),
                    help="the seeded runs this process runs (of 0,1,2); the others are read back once committed, "
                         "so two processes with --seeds 1 and --seeds 2 split them (the ASHA search runs in either)")
    ap.add_argument("--cpus", type=int, default=None,
                    help="CPU cores the embedded Ray may use (one trial per core); default: all")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.cpus is not None:  # leave the other cores to whatever runs beside this benchmark
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=True)
    work, results = Path(args.work), Path(args.results)
    common = dict(space="nb201", data=f"fashion-mnist:{args.fmnist}", truth=args.truth, metric=args.metric,
                  base=Heuristics(data_portion=args.portion), macro={"C": 8, "N": 1},
                  epochs=args.epochs, truth_archs=args.truth_archs, test_fraction=0.5, eval_batches=2,
                  eval_batch_size=256, gpus_per_trial=0.0)
    print(f"machine: {machine()}")
    half = args.truth_archs // 2
    print(f"NB201 C=8 N=1, Fashion-MNIST {args.portion:.0%}, {args.epochs} supernet epochs, batch 256; truth "
          f"{args.truth} ({args.metric}), {args.truth_archs} archs split {half} tuning / {args.truth_archs - half} "
          "held-out test\n")

    mine = tuple(int(s) for s in args.seeds.split(","))
    if not set(mine) <= set(SEEDS):
        raise SystemExit(f"--seeds: each of {SEEDS}, got {args.seeds}")
    default, default_s, missing = seeded("default", work, results, {}, common, mine)
    asha = TuneConfig(out=str(work / "asha"), search=SEARCH, num_samples=args.trials, scheduler="asha", **common)
    tuned, tuned_s = phase("asha", work, results, asha)
    best = json.loads((results / "tune_asha_best.json").read_text())
    tuned_seeds, tuned_seeds_s, missing_tuned = seeded("tuned", work, results, {k: best[k] for k in SEARCH}, common,
                                                       mine)
    if missing or missing_tuned:
        print(f"not committed yet: default seeds {missing}, tuned seeds {missing_tuned} (another process's "
              "--seeds, or run them); the comparison is printed once all are")
        return

    rows = finals(tuned)
    status = {s: sum(r["status"] == s for r in rows) for s in ("finished", "stopped early", "error")}
    seeds = finals(default)
    default_test = np.array([r["test_kendall_tau"] for r in seeds])
    tuned = finals(tuned_seeds)
    tuned_test = np.array([r["test_kendall_tau"] for r in tuned])
    spread = float(default_test.max() - default_test.min())
    margin = float(tuned_test.mean() - default_test.mean())
    print(f"ASHA: {len(rows)} trials ({status['finished']} finished, {status['stopped early']} stopped early, "
          f"{status['error']} errors) in {tuned_s:.0f} s; default x 3 seeds (FIFO) in {default_s:.0f} s; "
          f"tuned x 3 seeds in {tuned_seeds_s:.0f} s\n")
    print("| run | heuristics | tuning tau | held-out test tau |")
    print("| --- | --- | --- | --- |")
    for r in sorted(seeds, key=lambda r: r["seed"]):
        print(f"| default, seed {r['seed']} | defaults | {r['tuning_kendall_tau']:.3f} | {r['test_kendall_tau']:.3f} |")
    for r in sorted(tuned, key=lambda r: r["seed"]):
        print(f"| tuned, seed {r['seed']} | the best trial's | {r['tuning_kendall_tau']:.3f} | "
              f"{r['test_kendall_tau']:.3f} |")
    params_tuning, params_test = params_taus(asha)
    print(f"| params alone (no training) | - | {params_tuning:.3f} | {params_test:.3f} |")
    searched = ", ".join(f"{k}={best[k]:.3g}" if isinstance(best[k], float) else f"{k}={best[k]}" for k in SEARCH)
    print(f"| best ASHA trial {best['trial_id']} | {searched} | {best['tuning_kendall_tau']:.3f} | "
          f"{best['test_kendall_tau']:.3f} |")
    for r in sorted(rows, key=lambda r: -(r["objective"] or -9)):
        if r["trial_id"] != best["trial_id"] and r["status"] == "finished":
            cfg = ", ".join(f"{k}={r[k]:.3g}" if isinstance(r[k], float) else f"{k}={r[k]}" for k in SEARCH)
            print(f"| other finished trial {r['trial_id']} | {cfg} | {r['tuning_kendall_tau']:.3f} | "
                  f"{r['test_kendall_tau']:.3f} |")
    print(f"\nheld-out tau over 3 seeds: default mean {default_test.mean():.3f} (range {spread:.3f}, sd "
          f"{default_test.std(ddof=1):.3f}); tuned mean {tuned_test.mean():.3f} (range "
          f"{tuned_test.max() - tuned_test.min():.3f}, sd {tuned_test.std(ddof=1):.3f}); best single trial "
          f"{best['test_kendall_tau']:.3f}.\ntuned mean minus default mean: {margin:+.3f} -> goal "
          f"{'met' if margin > spread else 'NOT met'} (goal: more than the default's seed-to-seed range); tuned mean "
          f"minus params alone on the same held-out cells: {tuned_test.mean() - params_test:+.3f}")


if __name__ == "__main__":
    main()
