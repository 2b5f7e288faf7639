"""``archscore tune``: Ray Tune over supernet-training heuristics, ranked against stand-alone truth.

Each trial trains one supernet with :class:`~archscore.estimators.one_shot.SupernetTrainer` (a
Tune function trainable) and reports every epoch, with a checkpoint, how well its subnets rank the
*tuning* truth architectures. The truth sample is split once (seeded) into a tuning set, which Tune
optimises, and a held-out *test* set, scored once per trial on its last checkpoint, so the table
shows whether the search overfits the tuning set.

Layout of ``--out``::

    OUT/tune.json        what determines the run (space, data, search space, truth split, scheduler)
    OUT/experiment/      Ray Tune's experiment directory (its trial directories and checkpoints)
    OUT/trials.parquet   one row per (trial, epoch); see :func:`trials_table`
    OUT/best/            the best trial's last checkpoint (``oneshot.checkpoint=OUT/best``) and best.json
    OUT/report.html      tau per epoch, the best configurations, which heuristics matter

A rerun into the same ``--out`` continues the experiment (Tune's restore): finished trials stay
finished, interrupted ones continue from their last checkpoint, errored ones stay errors.

This module validates and drives; :mod:`.trial` is what runs in a trial, :mod:`.search`
maps the search space onto Tune, :mod:`.results` and :mod:`.report` write the outputs.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

import pyarrow as pa

from archscore.engine.run.errors import RunError, SweepInterrupted
from archscore.engine.run.lifecycle import LeasedRun, default_gpus, leased_run, stop_on_signals
from archscore.engine.run.resources import ActorShape
from archscore.engine.run.sink import Store, refuse_other_settings
from archscore.engine.tune.config import EXPERIMENT, RUN_FILE, Prepared, TuneConfig, prepare
from archscore.engine.tune.results import trials_table, write_outputs
from archscore.engine.tune.search import param_space, tune_settings
from archscore.engine.tune.trial import run_trial

log = logging.getLogger("archscore")


def run_tune(config: TuneConfig) -> pa.Table:
    """Run (or continue) the search; returns the trials table. See the module docstring.

    Ctrl-C is Tune's: the first stops the experiment after saving its state, the second at once.

    Raises:
        ValueError: a bad setting (nothing started), or OUT holds a search with other settings.
        RunError: resources, Tune's own failure; SweepInterrupted when stopped (rerun to resume).
    """
    prepared = prepare(config)
    store = Store(config.out)
    refuse_other_settings(store, RUN_FILE, prepared.record, config.out, "tune")

    def shape_of(resources: dict[str, float]) -> ActorShape:
        return ActorShape(1, config.cpus_per_trial, default_gpus(config.gpus_per_trial, resources))

    with leased_run(store, address=config.address, shape_of=shape_of, resource_timeout_s=config.resource_timeout_s,
                    takeover=config.takeover, handle_signals=False) as run:  # Ctrl-C is Tune's (see below)
        # Tune saves the experiment's state every few seconds: a killed driver's rerun then redoes
        # at most that much (its trials continue from their own checkpoints)
        previous_period = os.environ.get("TUNE_GLOBAL_CHECKPOINT_S")
        os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")
        try:
            return _run(config, prepared, store, run)
        finally:
            if previous_period is None:
                os.environ.pop("TUNE_GLOBAL_CHECKPOINT_S", None)


def _run(config: TuneConfig, prepared: Prepared, store: Store, run: LeasedRun) -> pa.Table:
    from ray import tune

    gpus, lease = run.shape.gpus, run.lease
    refuse_other_settings(store, RUN_FILE, prepared.record, config.out, "tune")
    store.write(RUN_FILE, json.dumps(prepared.record, indent=2, sort_keys=True).encode())
    setup = {"record": prepared.record, "tuning": (prepared.tuning[0], prepared.tuning[1].tolist()),
             "threads": max(1, int(config.cpus_per_trial))}
    trainable = tune.with_resources(tune.with_parameters(run_trial, setup=setup),
                                    {"cpu": config.cpus_per_trial, "gpu": gpus})
    experiment = store.path(EXPERIMENT)
    logging.getLogger("ray.tune.tune").addFilter(_NO_RESTORE_ADVICE)  # rerunning our command resumes, not Tuner.restore
    terminal = sys.stdout.isatty()
    if tune.Tuner.can_restore(experiment):
        log.info("continuing the search in %s", experiment)
        tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=False)
    else:
        tuner = tune.Tuner(trainable, param_space=param_space(prepared.search),
                           tune_config=tune_settings(config, prepared.search),
                           run_config=tune.RunConfig(name=EXPERIMENT, storage_path=store.root,
                                                     checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
                                                     verbose=1 if terminal else 0,
                                                     callbacks=[] if terminal else [_trial_lines()()]))
    interrupted = threading.Event()
    try:
        with _interrupt_tune_on_signals(interrupted):
            grid = tuner.fit()
    except tune.TuneError as exc:
        raise RunError(f"Ray Tune failed: {exc}") from exc
    lease.check()
    table, best = trials_table(grid, prepared, config.cpus_per_trial, gpus, interrupted.is_set())
    write_outputs(store, table, best, prepared)
    if interrupted.is_set():
        raise SweepInterrupted("stopped on request; trials.parquet shows where each trial stands")
    return table


class _NoRestoreAdvice(logging.Filter):
    """Drops Tune's "Resume experiment with: Tuner.restore(...)": rerunning the command resumes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Resume experiment with" not in record.getMessage()


_NO_RESTORE_ADVICE = _NoRestoreAdvice()


def _trial_lines() -> type:
    """The callback class, made on first use (ray.tune is imported late)."""
    from ray import tune

    class TrialLines(tune.Callback):
        """Without a terminal, Tune's boxed, coloured tables are off (``verbose=0``): one plain log
        line per trial report instead."""

        def on_trial_result(self, iteration: int, trials: list, trial: object, result: dict, **info: object) -> None:
            tau = result.get("tuning_kendall_tau")
            log.info("tune: trial %s epoch %s: tuning kendall tau %s, loss %s", getattr(trial, "trial_id", "?"),
                     result.get("epoch"), "n/a" if tau is None else f"{tau:.3f}",
                     "n/a" if result.get("train_loss") is None else f"{result['train_loss']:.3f}")

        def on_trial_complete(self, iteration: int, trials: list, trial: object, **info: object) -> None:
            log.info("tune: trial %s finished", getattr(trial, "trial_id", "?"))

    return TrialLines


@contextmanager
def _interrupt_tune_on_signals(interrupted: threading.Event) -> Iterator[None]:
    """Ctrl-C or SIGTERM: Tune's own graceful stop (it saves the experiment, then ends; SIGUSR1 is
    its signal for that), remembered here so the run reports an interruption, not a finished search.
    A second one stops at once."""
    previous_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # ours forwards to Tune's SIGUSR1 handler
    try:
        with stop_on_signals(interrupted, "stopping: Tune saves the experiment, then trials.parquet is written "
                                           "(again to stop at once)",
                              on_first=lambda: os.kill(os.getpid(), signal.SIGUSR1)):
            yield
    finally:
        if previous_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = previous_env
