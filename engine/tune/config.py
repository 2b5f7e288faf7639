"""What a Tune run is: its options (:class:`TuneConfig`), and the validated run
(:func:`prepare`: search space, the record that determines it, the truth split), checked
without Ray so that a bad setting fails before anything starts."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from archscore.engine.evaluation.truth import truth_sample
from archscore.engine.run.data import check_training_data
from archscore.estimators.one_shot import Heuristics, check_settings
from archscore.estimators.one_shot.search import MUTABLE_KEYS, SearchSpace
from archscore.spaces import get_space

RUN_FILE = "tune.json"
EXPERIMENT = "experiment"
SCHEDULERS = ("asha", "hyperband", "pbt", "fifo")
#: what Tune may optimise, each measured on the tuning split
OBJECTIVES = ("kendall_tau", "sparse_kendall_tau", "p_at_top_5pct")


@dataclass
class TuneConfig:
    space: str
    data: str
    truth: str
    out: str
    search: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None
    base: Heuristics = field(default_factory=Heuristics)
    macro: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    num_samples: int = 8
    scheduler: str = "asha"
    objective: str = "kendall_tau"
    grace_period: int = 1
    reduction_factor: float = 3.0
    perturbation_interval: int = 2
    #: pbt: exploit and explore once every trial reached the interval (Jaderberg et al.'s synchronous
    #: variant, appendix A.1): reproducible with few trials on few workers. False: each trial on its own
    pbt_synch: bool = True
    truth_archs: int = 100
    test_fraction: float = 0.5
    eval_batches: int = 4
    eval_batch_size: int = 256
    search_seed: int = 0
    gpus_per_trial: float | None = None
    cpus_per_trial: float = 1.0
    max_concurrent_trials: int | None = None
    address: str | None = None
    resource_timeout_s: float | None = None
    takeover: bool = False


@dataclass
class Prepared:
    """A validated run: its search space, the record that determines it, and the truth split."""

    search: SearchSpace
    record: dict[str, Any]
    tuning: tuple[list[str], np.ndarray]
    test: tuple[list[str], np.ndarray]


def prepare(config: TuneConfig) -> Prepared:
    """Validate everything that can be checked without Ray; raises ``ValueError`` naming the part."""
    space = get_space(config.space)
    if config.epochs < 1:
        raise ValueError(f"--epochs must be >= 1 (got {config.epochs})")
    if config.num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1 (got {config.num_samples})")
    if config.scheduler not in SCHEDULERS:
        raise ValueError(f"--scheduler {config.scheduler!r}: choose one of {', '.join(SCHEDULERS)}")
    if config.objective not in OBJECTIVES:
        raise ValueError(f"--objective {config.objective!r}: choose one of {', '.join(OBJECTIVES)}")
    if not 0 < config.test_fraction < 1:
        raise ValueError(f"--test-fraction must be in (0, 1) (got {config.test_fraction})")
    if config.grace_period < 1 or config.reduction_factor <= 1 or config.perturbation_interval < 1:
        raise ValueError("--grace-period and --perturbation-interval must be >= 1, --reduction-factor > 1")
    if config.cpus_per_trial <= 0 or (config.gpus_per_trial or 0) < 0:
        raise ValueError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    if config.max_concurrent_trials is not None and config.max_concurrent_trials < 1:
        raise ValueError(f"--max-concurrent-trials must be >= 1 (got {config.max_concurrent_trials})")
    if "://" in config.out:
        raise ValueError("archscore tune writes --out through Ray Tune's local storage: give a directory on a "
                         "filesystem every node sees (local for one machine, NFS for a cluster), not a URI")
    base = replace(config.base, epochs=config.epochs).for_space(space)
    search = SearchSpace.from_mapping(config.search, base)
    if config.scheduler == "pbt":
        mutable = [d.key for d in search.searched if d.key in MUTABLE_KEYS and d.kind != "grid"]
        if not mutable:
            raise ValueError("pbt mutates hyperparameters of running trials; the search space has none it can "
                             f"mutate (searchable by pbt: {', '.join(MUTABLE_KEYS)})")
    macro = space.macro(**config.macro)
    supernet_macro = check_settings(space, macro, base)
    for d in search.dimensions:  # every listed value of the discrete keys, one at a time
        if d.kind in ("constant", "choice", "grid"):
            for value in d.values:
                try:
                    check_settings(space, macro, Heuristics.from_mapping({d.key: value}, base))
                except ValueError as exc:
                    raise ValueError(f"search space {d.key}={value!r}: {exc}") from None
    data = check_training_data(config.data, macro, _portions(search))
    names, values, metric = truth_sample(config.truth, config.space, config.metric, config.truth_archs,
                                         supernet_macro)
    order = np.random.default_rng(1).permutation(len(names))
    n_test = int(round(config.test_fraction * len(names)))
    if n_test < 2 or len(names) - n_test < 3:
        raise ValueError(f"{len(names)} truth architectures cannot be split into >= 3 tuning and >= 2 test "
                         f"architectures at --test-fraction {config.test_fraction}")
    test_idx, tune_idx = sorted(order[:n_test]), sorted(order[n_test:])
    tuning = ([names[i] for i in tune_idx], values[tune_idx])
    test = ([names[i] for i in test_idx], values[test_idx])
    record = {"space": config.space, "macro": macro.as_dict(), "data": data, "base": base.as_dict(),
              "search": search.as_dict(), "epochs": config.epochs, "num_samples": config.num_samples,
              "scheduler": config.scheduler, "objective": config.objective, "grace_period": config.grace_period,
              "reduction_factor": config.reduction_factor, "perturbation_interval": config.perturbation_interval,
              "pbt_synch": config.pbt_synch,
              "search_seed": config.search_seed, "eval_batches": config.eval_batches,
              "eval_batch_size": config.eval_batch_size,
              "truth": {"source": config.truth, "metric": metric, "tuning": tuning[0], "test": test[0]}}
    return Prepared(search, record, tuning, test)


def _portions(search: SearchSpace) -> list[float]:
    """The smallest data portion a trial can get (and the base's): each must leave non-empty splits."""
    portions = [search.base.data_portion]
    for d in search.dimensions:
        if d.key == "data_portion":
            portions.append(min(d.values))
    return portions
