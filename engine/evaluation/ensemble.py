"""Zero-label ensembles: rank aggregation of scored estimators over a population.

AZ-NAS (Lee & Ham 2024) and VKDNW (Týbl & Neumann 2025) rank every architecture of the scored
population by each member proxy and combine the ranks. The result depends on the population (a
cell's rank among 100 sampled cells is not its rank among all 15,625), so it is computed from a
finished sweep, per seed, over the architectures every member scored ok, and the table says which
population that was. Its rows have the results schema, so ``evaluate`` and the predictors' ``zse:``
features read them like any estimator's.

Methods (ranks ascending: 1 = worst, N = best; ties share the average rank, as ``scipy.stats.rankdata``):

- ``log_rank``: sum over members of log(rank / N) (AZ-NAS's aggregation);
- ``rank_sum``: sum over members of rank;
- ``dense_rank_sum``: sum over members of dense rank (ties share one rank, the next value takes the
  next integer): TE-NAS's combination of its two proxies (``prune_tenas.py``).

A member's failed score ranks last (tied), as the authors' -inf does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from archscore._core import VERSION
from archscore.engine.run.schema import RESULT_SCHEMA, STATUS_ERROR, STATUS_OK
from archscore.estimators import ESTIMATORS, base_name

METHODS = ("log_rank", "rank_sum", "dense_rank_sum")
ENSEMBLE_KEY = b"archscore.ensemble"
#: the ``worker`` column of ensemble rows: they were computed from other rows, not by a worker
ENSEMBLE_WORKER = "rank-aggregation"


@dataclass(frozen=True)
class Ensemble:
    """A rank aggregation: its name, its members and how their ranks combine.

    Raises:
        ValueError: an empty name, fewer than two members, a repeated member, or an unknown method.
    """

    name: str
    members: tuple[str, ...]
    method: str = "log_rank"

    def __post_init__(self) -> None:
        if not self.name or "," in self.name:
            raise ValueError(f"ensemble name must be non-empty and without commas; got {self.name!r}")
        if len(self.members) < 2:
            raise ValueError(f"ensemble {self.name!r} needs at least two members; got {list(self.members)}")
        if len(set(self.members)) != len(self.members):
            raise ValueError(f"ensemble {self.name!r} names a member twice: {list(self.members)}")
        if self.name in self.members:
            raise ValueError(f"ensemble {self.name!r} cannot be its own member")
        if self.method not in METHODS:
            raise ValueError(f"ensemble method must be one of {', '.join(METHODS)}; got {self.method!r}")


#: the published aggregations: name -> (members, method)
PRESETS: dict[str, tuple[tuple[str, ...], str]] = {
    # AZ-NAS tss_general.ipynb cell 8: log(rank/N) of FLOPs + expressivity + progressivity + trainability
    "az_nas": (("az_expressivity", "az_progressivity", "az_trainability", "az_complexity"), "log_rank"),
    # VKDNW tss_utils.get_scores: VKDNW_agg = log ranks of VKDNW_single, expressivity, trainability, FLOPs, jacov
    "vkdnw_agg": (("vkdnw", "az_expressivity", "az_trainability", "az_complexity", "jacob_cov"), "log_rank"),
    # TE-NAS prune_tenas.py: dense rank of the NTK condition number (ascending) + of linear regions (descending)
    "te_nas": (("te_nas_ntk", "te_nas_lr"), "dense_rank_sum"),
}


def preset(name: str) -> Ensemble:
    """The published aggregation ``name`` (see :data:`PRESETS`).

    Raises:
        ValueError: no such preset.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown ensemble preset {name!r}; presets: {', '.join(sorted(PRESETS))}")
    members, method = PRESETS[name]
    return Ensemble(name, members, method)


def member_direction(name: str, directions: dict[str, bool] | None = None) -> bool:
    """True when higher scores of member ``name`` are better (registry, or ``directions``).

    Raises:
        ValueError: the member is neither registered nor given a direction.
    """
    if directions and name in directions:
        return directions[name]
    if base_name(name) in ESTIMATORS:
        return ESTIMATORS.get(base_name(name)).higher_is_better
    raise ValueError(f"direction of member {name!r} unknown (not a registered estimator); give it, e.g. "
                     f"--direction {name}=higher")


def combine_ranks(oriented: np.ndarray, method: str) -> np.ndarray:
    """Aggregate of a (members x N) array of higher-is-better scores, one value per column."""
    n = oriented.shape[1]
    ties = "dense" if method == "dense_rank_sum" else "average"
    ranks = np.vstack([stats.rankdata(row, method=ties) for row in oriented])
    if method == "log_rank":
        return np.log(ranks / n).sum(axis=0)
    if method in ("rank_sum", "dense_rank_sum"):
        return ranks.sum(axis=0)
    raise ValueError(f"unknown method {method!r}")


def rank_aggregate(results: pa.Table, ensemble: Ensemble, directions: dict[str, bool] | None = None,
                   source: str = "") -> pa.Table:
    """The ensemble's rows for every architecture and seed of ``results`` that a member scored.

    Per seed, the population is the architectures every member has a row for. A member's failed
    score (non-finite, or an error) ranks below all its finite ones, tied with its other failures,
    as AZ-NAS ranks a -inf component and as ``evaluate`` ranks a failure; an architecture some
    member has no row for gets an ``error`` row naming that member. Schema metadata
    ``archscore.ensemble`` records the members, their directions, the method, each seed's
    population size and how many failed scores of each member were ranked last.

    Raises:
        ValueError: a member has no rows at all, or no seed has a population of two.
    """
    present = set(results.column("estimator").unique().to_pylist())
    absent = [m for m in ensemble.members if m not in present]
    if absent:
        raise ValueError(f"ensemble {ensemble.name!r}: no rows of {', '.join(absent)} in the results "
                         f"(estimators there: {', '.join(sorted(present)) or 'none'})")
    higher = {m: member_direction(m, directions) for m in ensemble.members}
    rows = results.filter(pc.is_in(results["estimator"], pa.array(ensemble.members))).to_pylist()
    by_arch: dict[tuple[int, str], dict[str, dict]] = {}
    for row in rows:
        by_arch.setdefault((row["seed"], row["arch"]), {}).setdefault(row["estimator"], row)
    out: list[dict] = []
    population: dict[int, int] = {}
    ranked_last = dict.fromkeys(ensemble.members, 0)
    for seed in sorted({s for s, _ in by_arch}):
        keys = sorted(a for s, a in by_arch if s == seed)
        members_of = [a for a in keys if all(m in by_arch[seed, a] for m in ensemble.members)]
        population[seed] = len(members_of) if len(members_of) > 1 else 0
        if len(members_of) > 1:
            oriented = np.array([[_oriented(by_arch[seed, a][m], higher[m]) for a in members_of]
                                 for m in ensemble.members])
            for m, row in zip(ensemble.members, oriented):
                ranked_last[m] += int(np.isneginf(row).sum())
            for a, value in zip(members_of, combine_ranks(oriented, ensemble.method)):
                out.append(_row(by_arch[seed, a], ensemble, seed, float(value), STATUS_OK, None))
        for a in keys:
            if population[seed] and all(m in by_arch[seed, a] for m in ensemble.members):
                continue
            have = by_arch[seed, a]
            out.append(_row(have, ensemble, seed, None, STATUS_ERROR, _why_not(have, ensemble.members, len(members_of))))
    if not any(population.values()):
        raise ValueError(f"ensemble {ensemble.name!r}: no seed has two architectures every member scored "
                         f"(per seed: {population})")
    meta = {"name": ensemble.name, "method": ensemble.method, "members": list(ensemble.members),
            "higher_is_better": higher, "population": {str(s): n for s, n in population.items()},
            "population_rule": "per seed, the architectures every member has a row for; a failed member score "
                               "ranks last, tied", "failed_ranked_last": ranked_last, "source": source}
    return pa.Table.from_pylist(out, schema=RESULT_SCHEMA).replace_schema_metadata(
        {ENSEMBLE_KEY: json.dumps(meta, sort_keys=True).encode(), b"archscore.version": VERSION.encode()})


def _oriented(row: dict, higher: bool) -> float:
    """The member's score with higher = better; a failure (not ok, or not finite) is -inf."""
    score = row["score"]
    if row["status"] != STATUS_OK or score is None or not np.isfinite(score):
        return -np.inf
    return float(score) if higher else -float(score)


def _why_not(have: dict[str, dict], members: Sequence[str], population: int) -> str:
    missing = [m for m in members if m not in have]
    if missing:
        return f"member {missing[0]} did not score this architecture"
    return f"the population every member scored has {population} architecture(s); ranks need two"


def _row(have: dict[str, dict], ensemble: Ensemble, seed: int, score: float | None, status: str,
         error: str | None) -> dict:
    first = next(iter(have.values()))
    return {"space": first["space"], "arch": first["arch"], "encoding": first["encoding"], "hash": first["hash"],
            "estimator": ensemble.name, "seed": seed, "score": score, "status": status, "error": error,
            "seconds": sum(r["seconds"] or 0.0 for r in have.values()) if status == STATUS_OK else None,
            "input_index": first["input_index"], "worker": ENSEMBLE_WORKER, "version": VERSION}


def ensemble_of(table: pa.Table) -> dict | None:
    """The ensemble record of a table :func:`rank_aggregate` wrote, else None."""
    raw = (table.schema.metadata or {}).get(ENSEMBLE_KEY)
    return json.loads(raw) if raw else None
