"""A heuristics search space as Ray Tune sees it: sampling domains, the scheduler, PBT's mutations."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archscore.estimators.one_shot.search import MUTABLE_KEYS, SearchSpace

if TYPE_CHECKING:
    from archscore.engine.tune.config import TuneConfig


def param_space(search: SearchSpace) -> dict[str, Any]:
    from ray import tune

    def domain(d: Any) -> Any:
        if d.kind == "choice":
            return tune.choice(list(d.values))
        if d.kind == "grid":
            return tune.grid_search(list(d.values))
        return {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}[d.kind](*d.values)

    return {d.key: domain(d) for d in search.searched}


def tune_settings(config: "TuneConfig", search: SearchSpace) -> Any:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining
    from ray.tune.search.basic_variant import BasicVariantGenerator

    if config.scheduler == "asha":
        scheduler = ASHAScheduler(time_attr="epoch", max_t=config.epochs, grace_period=config.grace_period,
                                  reduction_factor=config.reduction_factor)
    elif config.scheduler == "hyperband":
        scheduler = hyperband(time_attr="epoch", max_t=config.epochs, reduction_factor=config.reduction_factor)
    elif config.scheduler == "pbt":
        scheduler = PopulationBasedTraining(time_attr="epoch", perturbation_interval=config.perturbation_interval,
                                            hyperparam_mutations=pbt_mutations(search),
                                            custom_explore_fn=KeepInSearchSpace(search), synch=config.pbt_synch)
    else:
        scheduler = FIFOScheduler()
    # max_concurrent_trials of TuneConfig applies to Searchers only; the variant generator limits itself
    return tune.TuneConfig(metric="objective", mode="max", scheduler=scheduler, num_samples=config.num_samples,
                           search_alg=BasicVariantGenerator(random_state=config.search_seed,
                                                            max_concurrent=config.max_concurrent_trials or 0))


def hyperband(**kwargs: Any) -> Any:
    """Ray's synchronous HyperBand, less a hang: when a bracket finishes (every live trial at
    ``max_t``) Ray stops the trials it had paused at that milestone, but only those already PAUSED;
    one still saving its pause checkpoint (slow on a loaded machine) becomes PAUSED a moment later
    and is never stopped nor resumed, and the run waits forever with no trial running. At every
    scheduling step, trials PAUSED in a finished bracket are stopped, as Ray's own cleanup would."""
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import HyperBandScheduler

    class CompletingHyperBand(HyperBandScheduler):
        def choose_trial_to_run(self, tune_controller: Any) -> Any:
            for band in self._hyperbands:
                for bracket in band:
                    if bracket is not None and bracket.finished():
                        for trial in bracket.current_trials():
                            if trial.status == Trial.PAUSED:
                                tune_controller.stop_trial(trial)
            return super().choose_trial_to_run(tune_controller)

    return CompletingHyperBand(**kwargs)


def pbt_mutations(search: SearchSpace) -> dict[str, Any]:
    """What PBT may resample or perturb: choices as lists (PBT then shifts to a neighbouring value;
    a text value is never multiplied), ranges as Tune domains (perturbed x0.8 / x1.2, then kept in
    range by :class:`KeepInSearchSpace`). Grid keys and keys that shape the supernet are not mutated."""
    from ray import tune

    out: dict[str, Any] = {}
    for d in search.searched:
        if d.key not in MUTABLE_KEYS or d.kind == "grid":
            continue
        if d.kind == "choice":
            out[d.key] = list(d.values)
        else:
            out[d.key] = {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}[d.kind](
                *d.values)
    return out


class KeepInSearchSpace:
    """PBT's explore step, after its perturbation: clip each range key back into its range (an
    integer key to an integer), so a perturbed config is always one the search space allows."""

    def __init__(self, search: SearchSpace) -> None:
        self.ranges = {d.key: (d.kind, d.values) for d in search.searched
                       if d.kind in ("uniform", "loguniform", "randint")}

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        for key, (kind, (low, high)) in self.ranges.items():
            if key in config:
                if kind == "randint":
                    config[key] = int(min(max(round(config[key]), low), high - 1))
                else:
                    config[key] = float(min(max(config[key], low), high))
        return config
