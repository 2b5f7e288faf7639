"""``oneshot`` and ``oneshot_loss``: subnets of a trained supernet scored with inherited weights.

The checkpoint (``archscore supernet train``'s output directory, or one ``.pt`` file of it) loads
once per worker in :meth:`OneShotGroup.setup`; every architecture is then one subnet forward over
fixed held-out batches (see :mod:`.scoring`). The run config records the checkpoint's path, its
SHA-256 and epoch, so a resume with another checkpoint is refused.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Hashable, Sequence

from ..checkpointed import CheckpointedEstimator
from ..base import ESTIMATORS, EstimatorGroup, GroupResult, describe_exception
from archscore.spaces import Space

LATEST = "checkpoint.pt"


def resolve_checkpoint(path: str) -> Path:
    """A checkpoint file: ``path`` itself, or ``path/checkpoint.pt`` for a training run's directory.

    Raises:
        ValueError: nothing there.
    """
    p = Path(path)
    if p.is_dir():
        if not (p / LATEST).exists() and (p / "predictor.pkl").exists():
            raise ValueError(f"{path} is a fitted predictor (predictor.pkl), not a supernet: score with it as "
                             f"--estimators predictor --estimator-option predictor.checkpoint={path}")
        p = p / LATEST
    if not p.is_file():
        raise ValueError(f"supernet checkpoint {path!r} does not exist (give a directory written by "
                         "`archscore supernet train` or a .pt file in it)")
    return p.resolve()


def read_checkpoint(path: Path, device: Any = "cpu") -> dict[str, Any]:
    """The state ``supernet train`` saved at ``path``.

    Raises:
        ValueError: the file is truncated, not a torch file, or not a supernet checkpoint.
    """
    import torch

    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable supernet checkpoint (truncated, or not written by `archscore "
                         f"supernet train`: {type(exc).__name__}: {exc}); give another checkpoint, e.g. an "
                         "intact epoch-N.pt beside it") from None
    if not isinstance(state, dict) or "space" not in state or "heuristics" not in state:
        raise ValueError(f"{path} is a torch file but not an archscore supernet checkpoint (no space/heuristics)")
    return state


def _check_state_space(state: dict[str, Any], space: Space, path: Any) -> None:
    if state.get("space") != space.name:
        has_supernet = type(space).supernet is not Space.supernet
        what = (f"give a checkpoint of a {space.name!r} supernet, or --space {state.get('space')}" if has_supernet
                else f"{space.name!r} has no weight-sharing supernet yet: give --space {state.get('space')}")
        raise ValueError(f"the checkpoint {path} holds a {state.get('space')!r} supernet; this run scores "
                         f"{space.name!r}: {what}")


class OneShotGroup(EstimatorGroup):
    """Loads the supernet once per worker and scores subnets on fixed held-out batches."""

    def setup(self) -> None:
        from ..training import split
        from .heuristics import Heuristics
        from .scoring import VALID_FRACTION, SubnetScorer

        est: OneShotEstimator = self.estimators[0]  # type: ignore[assignment]
        state = read_checkpoint(est.path, self.ctx.device)
        space = self.ctx.space
        _check_state_space(state, space, est.path)
        if self.ctx.dataset is None:
            raise ValueError("oneshot needs the data the supernet trained on (--data)")
        data = self.ctx.dataset()
        trained_on = str(state.get("data", "")).split(":")[0]
        if trained_on != data.name:
            raise ValueError(f"the supernet trained on {trained_on!r} data; this run's --data is {data.name!r}")
        h = Heuristics.from_mapping(state["heuristics"])
        macro = space.macro(**state["macro"])
        model = space.supernet(macro, **h.module_options()).to(self.ctx.device)
        model.load_state_dict(state["model"])
        recal = est.config.get("bn_recalibrate_batches")
        self.scorer = SubnetScorer(model, space, data, split(data, h.data_portion, VALID_FRACTION, seed=0),
                                   self.ctx.input_shape, int(est.config.get("eval_batches", 4)),
                                   int(est.config.get("eval_batch_size", 256)),
                                   h.bn_recalibrate_batches if recal is None else int(recal), self.ctx.device)

    def score(self, archs: Sequence[Hashable], seed: int) -> GroupResult:
        result = GroupResult.empty(len(self.estimators), len(archs))
        for b, arch in enumerate(archs):
            start = time.perf_counter()
            try:
                acc, loss = self.scorer.score([arch])
            except Exception as exc:  # this subnet's failure is its row's
                message = describe_exception(exc)
                result.errors.update(((e, b), message) for e in range(len(self.estimators)))
                continue
            seconds = time.perf_counter() - start
            for e, est in enumerate(self.estimators):
                result.scores[e, b] = acc[0] if est.name == "oneshot" else loss[0]
                result.seconds[e, b] = seconds / len(self.estimators)
        return result


class OneShotEstimator(CheckpointedEstimator):
    """Options: ``checkpoint`` (required), ``eval_batches`` (4), ``eval_batch_size`` (256),
    ``bn_recalibrate_batches`` (default: the supernet's heuristic)."""

    group = OneShotGroup
    file_role = "the supernet checkpoint"
    builds_models = True
    needs_dataset = True

    def __init__(self, checkpoint: str | None = None, eval_batches: int | str = 4, eval_batch_size: int | str = 256,
                 bn_recalibrate_batches: int | str | None = None, checkpoint_sha256: str | None = None,
                 checkpoint_bytes: int | None = None) -> None:
        if not checkpoint:
            raise ValueError(f"{type(self).__name__}: give the supernet with --estimator-option "
                             f"{self.name}.checkpoint=DIR")
        self.path = resolve_checkpoint(checkpoint)
        try:
            options = {"eval_batches": int(eval_batches), "eval_batch_size": int(eval_batch_size)}
            if bn_recalibrate_batches not in (None, "", "none"):
                options["bn_recalibrate_batches"] = int(bn_recalibrate_batches)
        except ValueError:
            raise ValueError("oneshot options eval_batches, eval_batch_size and bn_recalibrate_batches are "
                             "integers") from None
        if options["eval_batches"] < 1 or options["eval_batch_size"] < 1:
            raise ValueError("oneshot options eval_batches and eval_batch_size must be >= 1")
        super().__init__(checkpoint=str(self.path), **options)
        self.bind_file(self.path, checkpoint_sha256)

    def check_space(self, space: Space) -> None:
        _check_state_space(read_checkpoint(self.path), space, self.path)


@ESTIMATORS.register("oneshot")
class OneShot(OneShotEstimator):
    """Subnet accuracy (%) with weights inherited from a trained supernet."""


@ESTIMATORS.register("oneshot_loss")
class OneShotLoss(OneShotEstimator):
    """Subnet cross-entropy with weights inherited from a trained supernet."""

    higher_is_better = False
