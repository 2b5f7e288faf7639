"""How well every zero-shot proxy, and the zero-label ensembles, rank NB201 (issue 22's quality table).

Scores ``--archs`` NB201 cells (drawn with seed 0 from the truth file, the same cells for the same
file) with every zero-shot proxy and the analytic costs at NB201's full size (C=16, N=5), one data
batch per seed, and prints Kendall tau, Spearman and nDCG (VKDNW's: gain 2^acc - 1, at min(1000, N))
against CIFAR-10 test accuracy (200 epochs, mean of 3 seeds), the mean and spread over the seeds,
and seconds per architecture. Then the ensembles, each a rank aggregation over the scored cells
(the population: these N cells, per seed): AZ-NAS, VKDNW_agg and TE-NAS as their authors combine
them, and one zero-label ensemble fixed before looking at any accuracy (``ZERO_LABEL``).

Resumable: each (seed, chunk of cells) writes its rows under ``--out`` and a rerun skips those.

    python -m bench.zero_shot_sota --data fashion-mnist:../shared/data/fashion-mnist \
        --truth ../shared/data/nb201/cifar10_valid_test_3seed.csv --archs 100 --seeds 0 \
        --out bench/results/zero_shot_sota/fmnist
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from bench.stream import machine
from archscore.engine.evaluation import criteria as C
from archscore.engine.evaluation.ensemble import Ensemble, preset, rank_aggregate
from archscore.engine.evaluation.truth import truth_sample
from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.estimators import ESTIMATORS
from archscore.spaces import get_space

OLD = ("grad_norm", "snip", "grasp", "fisher", "jacob_cov", "synflow", "naswot", "epe_nas", "zen", "plain", "l2_norm")
NEW = ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity", "vkdnw", "vkdnw_entropy", "vkdnw_dim",
       "zico", "meco", "swap", "te_nas_ntk", "te_nas_lr", "gradsign")
COSTS = ("params", "flops")
#: chosen before any accuracy was looked at: every 2022-2025 proxy the authors rank as a whole
#: (AZ-NAS's four, VKDNW, ZiCo, MeCo, SWAP, TE-NAS's two, GradSign), each log-ranked, summed
ZERO_LABEL = Ensemble("zl_all_new", ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity",
                                     "vkdnw", "zico", "meco", "swap", "te_nas_ntk", "te_nas_lr", "gradsign"))
CHUNK = 10


def score_chunks(args: argparse.Namespace, archs: list[str]) -> pa.Table:
    space = get_space("nb201")
    names = OLD + NEW + COSTS
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scorer = Scorer(ScoringPlan("nb201", names, {}, data=args.data, batch_size=args.batch_size))
    tables = []
    for seed in args.seeds:
        for start in range(0, len(archs), CHUNK):
            path = out / f"s{seed}-{start:05d}.parquet"
            if not path.exists():
                enc = np.array([space.encode(space.parse(a)) for a in archs[start:start + CHUNK]])
                t = time.perf_counter()
                table = scorer.score(WorkBatch(start, seed, enc, start))
                print(f"  seed {seed} cells {start}-{start + len(enc) - 1}: {time.perf_counter() - t:.0f} s", flush=True)
                tmp = path.with_suffix(".tmp")
                pq.write_table(table, tmp)
                tmp.rename(path)
            tables.append(pq.read_table(path))
    return pa.concat_tables(tables)


def criteria(results: pa.Table, name: str, seed: int, truth_of: dict[str, float]) -> dict[str, float]:
    rows = results.filter(pc.and_(pc.equal(results["estimator"], name), pc.equal(results["seed"], seed))).to_pylist()
    s = np.array([r["score"] if r["status"] == "ok" and r["score"] is not None else np.nan for r in rows], dtype=float)
    higher = ESTIMATORS.get(name).higher_is_better if name in ESTIMATORS else True
    s = s if higher else -s
    t = np.array([truth_of[r["arch"]] for r in rows])
    sec = np.array([r["seconds"] or 0.0 for r in rows])
    return {"tau": C.kendall_tau(s, t), "rho": C.spearman(s, t), "ndcg": C.ndcg(s, t, 1000),
            "failed": float(np.isnan(s).sum()), "s/arch": float(sec.mean()) if len(sec) else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="fashion-mnist:../shared/data/fashion-mnist")
    ap.add_argument("--truth", default="../shared/data/nb201/cifar10_valid_test_3seed.csv")
    ap.add_argument("--archs", type=int, default=100)
    ap.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="bench/results/zero_shot_sota/fmnist")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    archs, truth, metric = truth_sample(str(Path(args.truth).resolve()), "nb201", "test-accuracy", args.archs)
    truth_of = dict(zip(archs, truth.tolist()))
    print(f"machine: {machine()}; {len(archs)} NB201 cells at C=16 N=5, data {args.data.split(':')[0]} batch "
          f"{args.batch_size}, seeds {args.seeds}; truth: {metric} (CIFAR-10, 200 epochs, mean of 3 seeds)")
    results = score_chunks(args, archs)
    ensembles = [preset("az_nas"), preset("vkdnw_agg"), preset("te_nas"), ZERO_LABEL]
    parts = [results] + [rank_aggregate(results, e).replace_schema_metadata(results.schema.metadata) for e in ensembles]
    everything = pa.concat_tables(parts)
    names = list(OLD + NEW + COSTS) + [e.name for e in ensembles]
    k = min(1000, len(archs))
    print(f"\n{'estimator':17s} {'tau':>7s} {'sd':>6s} {'rho':>7s} {f'nDCG@{k}':>9s} {'failed':>6s} {'s/arch':>7s}")
    for name in names:
        crit = [criteria(everything, name, s, truth_of) for s in args.seeds]
        taus = np.array([c["tau"] for c in crit])
        sd = taus.std(ddof=1) if len(taus) > 1 else float("nan")
        mean = lambda key: float(np.mean([c[key] for c in crit]))  # noqa: E731
        print(f"{name:17s} {taus.mean():7.3f} {sd:6.3f} {mean('rho'):7.3f} {mean('ndcg'):9.3f} "
              f"{mean('failed'):6.0f} {mean('s/arch'):7.2f}")
    print("\nensembles: rank aggregation over these cells per seed (members: "
          + "; ".join(f"{e.name} = {e.method} of {', '.join(e.members)}" for e in ensembles) + ")")


if __name__ == "__main__":
    main()
