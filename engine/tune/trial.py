"""One ``archscore tune`` trial: a Tune function trainable around the one-shot supernet trainer.

Runs in Tune's trial actors: trains epoch by epoch, scores the tuning truth architectures after
each epoch and reports the ranking metrics with a checkpoint. It also rebuilds a trial's trainer
for the driver's held-out scoring (:func:`trainer_for`). Knows nothing of schedulers or outputs.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from archscore.engine.evaluation import criteria as C
from archscore.estimators.one_shot import Heuristics
from archscore.estimators.one_shot.search import MUTABLE_KEYS, SearchSpace
from archscore.spaces import get_space

CHECKPOINT_FILE = "checkpoint.pt"


def run_trial(config: dict[str, Any], setup: dict[str, Any]) -> None:
    """One trial: train a supernet epoch by epoch, reporting tuning-set ranking quality and a checkpoint."""
    import torch
    from ray import tune

    torch.set_num_threads(setup["threads"])
    record = setup["record"]
    trainer, space = trainer_for(record, config)
    archs = [space.parse(s) for s in setup["tuning"][0]]
    truth = np.asarray(setup["tuning"][1], dtype=np.float64)
    trial_id = tune.get_context().get_trial_id()
    restored: dict[str, Any] = {"restored_from": None, "restored_weights": None}
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = torch.load(Path(directory) / CHECKPOINT_FILE, map_location=trainer.device, weights_only=False)
        may_differ = MUTABLE_KEYS if record["scheduler"] == "pbt" else ()
        trainer.load_state(state, may_differ=may_differ)
        restored = {"restored_from": f"{state.get('trial_id')}@{state['epoch']}",
                    "restored_weights": state.get("weights_sha256")}
    while trainer.epoch < trainer.heuristics.epochs:
        metrics = trainer.train_epoch()
        metrics["current_lr"] = metrics.pop("lr")  # "lr" is the heuristic (the initial rate)
        start = time.perf_counter()
        scores, _ = trainer.scorer(record["eval_batches"], record["eval_batch_size"]).score(archs)
        metrics.update(C.one_shot_criteria(scores, truth, "tuning_"))
        metrics["score_seconds"] = time.perf_counter() - start
        metrics["objective"] = _objective(metrics["tuning_" + record["objective"]])
        state = trainer.state()
        state["trial_id"], state["weights_sha256"] = trial_id, _weights_sha256(trainer.model)
        metrics.update(restored, weights_sha256=state["weights_sha256"])
        restored = {"restored_from": None, "restored_weights": None}
        with tempfile.TemporaryDirectory() as directory:
            torch.save(state, Path(directory) / CHECKPOINT_FILE)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


# Tune names trial directories after the trainable (``experiment/_trial_<id>_...``) and restores an
# experiment by that name: the name this function had before it was public, kept so that layouts
# and earlier experiments stay valid; the alias lets pickle find the function by that name
run_trial.__name__ = run_trial.__qualname__ = "_trial"
_trial = run_trial


def trainer_for(record: dict[str, Any], config: dict[str, Any]) -> tuple[Any, Any]:
    """(a supernet trainer for one trial's sampled config, the space): in the trial and when scoring its test split."""
    from archscore.estimators.one_shot import SupernetTrainer

    from archscore.engine.run.resources import worker_device
    from archscore.engine.run.data import DataSpec, input_shape_of, load_images

    space = get_space(record["space"])
    macro = space.macro(**record["macro"])
    heuristics = SearchSpace.from_mapping(record["search"], Heuristics.from_mapping(record["base"])).heuristics(
        {k: v for k, v in config.items() if k in record["search"]})
    shape = input_shape_of(macro.with_overrides(heuristics.macro_overrides()))
    images = load_images(DataSpec.parse(record["data"]), getattr(macro, "num_classes", 10), shape)
    return SupernetTrainer(space, macro, heuristics, images, record["data"], shape, worker_device()), space


def _objective(value: float) -> float:
    """What the scheduler compares: the tuning metric, with an undefined one (every subnet scored
    the same, so the ranking says nothing) counted as 0, a ranking with no information."""
    return float(value) if np.isfinite(value) else 0.0


def _weights_sha256(model: Any) -> str:
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
