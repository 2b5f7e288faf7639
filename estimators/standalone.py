"""Stand-alone training: ground truth as an (expensive) estimator, run by the sweep.

Each architecture is built under ``torch.manual_seed(seed)`` and trained from scratch under a
:class:`TrainingRecipe`; the group then reports its validation and test accuracy, final training
loss as three estimators (``valid_accuracy``, ``test_accuracy``, ``train_loss``) of one group, so
one training feeds all three rows; each row's ``seconds`` is that training's whole wall time, and
the recipe (epochs included) is in the run config. The engine streams, retries,
resumes and writes them like any other rows; ``archscore evaluate --truth RUN`` reads them back
as truth (``archscore train`` is the command).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Hashable, Sequence

import numpy as np

from .base import ESTIMATORS, Estimator, EstimatorGroup, GroupResult, describe_exception
from .training import LR_SCHEDULES, Schedule, accuracy_and_loss, batches, make_optimizer, split


@dataclass(frozen=True)
class TrainingRecipe:
    """How an architecture is trained from scratch; validated on construction.

    Named recipes (``RECIPES``): ``nb201`` is NAS-Bench-201's published recipe (SGD with Nesterov
    momentum 0.9, lr 0.1 with cosine decay to 0, weight decay 5e-4, batch 256, 200 epochs, random
    crop + flip on CIFAR; CIFAR-10's train split halved into train and valid, as its
    ``cifar10-valid`` setting), the documented default for CIFAR on GPUs. ``cpu-low`` is a
    low-fidelity recipe that fits a 2-core CPU (use it with ``--macro C=8,N=1``): 3 epochs on 10%
    of the data; its accuracies rank architectures far more coarsely than the published ones.
    """

    epochs: int = 200
    batch_size: int = 256
    lr: float = 0.1
    lr_schedule: str = "cosine"
    warmup_epochs: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    grad_clip: float = 0.0  # 0: no clipping
    label_smoothing: float = 0.0
    #: fraction of the training (and test) images used
    data_portion: float = 1.0
    #: fraction of the used training images held out as the validation split
    valid_fraction: float = 0.5
    #: random crop + flip: "auto" (where the data's standard recipe has it, i.e. CIFAR), "on", "off"
    augment: str = "auto"
    #: seed of the train/valid split (the same split for every architecture and training seed)
    split_seed: int = 0
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1 and self.eval_batch_size >= 1, "batch sizes must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}"),
            (0 <= self.warmup_epochs < self.epochs, "warmup_epochs must be in [0, epochs)"),
            (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (self.weight_decay >= 0 and self.grad_clip >= 0, "weight_decay and grad_clip must be >= 0"),
            (0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
            (0 < self.data_portion <= 1, "data_portion must be in (0, 1]"),
            (0 < self.valid_fraction < 1, "valid_fraction must be in (0, 1)"),
            (self.augment in ("auto", "on", "off"), "augment must be auto, on or off"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"training recipe: {message}")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "TrainingRecipe":
        """A recipe from ``recipe=NAME`` plus field overrides (values may be text, as from the CLI).

        Raises:
            ValueError: an unknown recipe or field, or a value of the wrong type, naming it.
        """
        options = dict(options)
        name = options.pop("recipe", "cpu-low")
        if name not in RECIPES:
            raise ValueError(f"unknown training recipe {name!r}; known: {', '.join(RECIPES)}")
        known = {f.name: f for f in fields(cls)}
        typed: dict[str, Any] = {}
        for key, value in options.items():
            if key not in known:
                raise ValueError(f"unknown training recipe setting {key!r}; known: {', '.join(known)}")
            kind = type(getattr(RECIPES[name], key))
            try:
                typed[key] = _convert(kind, value)
            except (TypeError, ValueError):
                raise ValueError(f"training recipe setting {key}={value!r} is not a {kind.__name__}") from None
        return dataclasses.replace(RECIPES[name], **typed)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _convert(kind: type, value: Any) -> Any:
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(value)
        return value.lower() in ("true", "1", "yes")
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return kind(value)


RECIPES: dict[str, TrainingRecipe] = {
    "nb201": TrainingRecipe(),
    "cpu-low": TrainingRecipe(epochs=3, batch_size=64, lr=0.05, data_portion=0.1, valid_fraction=0.3,
                              eval_batch_size=256),
}


class StandaloneGroup(EstimatorGroup):
    """Trains each architecture once and reports every stand-alone metric of the group."""

    @classmethod
    def check(cls, estimators: Sequence[Estimator]) -> None:
        recipes = {e.recipe for e in estimators}  # type: ignore[attr-defined]
        if len(recipes) > 1:
            raise ValueError("the stand-alone estimators of one run must share one training recipe "
                             "(give every one the same options)")

    def score(self, archs: Sequence[Hashable], seed: int) -> GroupResult:
        import torch
        import torch.nn.functional as F

        ctx = self.ctx
        ests: list[StandaloneEstimator] = self.estimators  # type: ignore[assignment]
        recipe = ests[0].recipe
        if ctx.dataset is None:
            raise ValueError("stand-alone training needs a dataset (--data fashion-mnist:DIR, cifar10:DIR, ...)")
        data = ctx.dataset()
        parts = split(data, recipe.data_portion, recipe.valid_fraction, recipe.split_seed)
        augment = recipe.augment == "on" or (recipe.augment == "auto" and data.crop_flip)
        shape = ctx.input_shape
        result = GroupResult.empty(len(ests), len(archs))
        for b, arch in enumerate(archs):
            start = time.perf_counter()
            try:
                torch.manual_seed(seed)
                model = ctx.space.build(arch, ctx.macro).to(ctx.device).train()
                steps = -(-len(parts.train) // recipe.batch_size)
                schedule = Schedule(recipe.lr, recipe.lr_schedule, recipe.epochs, steps, recipe.warmup_epochs)
                opt = make_optimizer(model.parameters(), recipe.lr, recipe.momentum, recipe.weight_decay,
                                     recipe.nesterov)
                rng = np.random.default_rng([seed, 1])
                step, last_loss = 0, float("nan")
                for _ in range(recipe.epochs):
                    total, n = 0.0, 0
                    for x, y in batches(data, data.train_x[parts.train], data.train_y[parts.train],
                                        recipe.batch_size, shape, rng, augment, ctx.device):
                        for group in opt.param_groups:
                            group["lr"] = schedule(step)
                        loss = F.cross_entropy(model(x), y, label_smoothing=recipe.label_smoothing)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        if recipe.grad_clip:
                            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
                        opt.step()
                        total += loss.item() * len(y)
                        n += len(y)
                        step += 1
                    last_loss = total / max(n, 1)
                if not np.isfinite(last_loss):
                    raise FloatingPointError(f"training diverged: final train loss {last_loss}")
                model.eval()
                valid_acc, _ = accuracy_and_loss(model, data, data.train_x[parts.valid], data.train_y[parts.valid],
                                                 shape, recipe.eval_batch_size, ctx.device)
                test_acc, _ = accuracy_and_loss(model, data, data.test_x[parts.test], data.test_y[parts.test],
                                                shape, recipe.eval_batch_size, ctx.device)
            except Exception as exc:  # this architecture's failure is its row's, the others still train
                message = describe_exception(exc)
                result.errors.update(((e, b), message) for e in range(len(ests)))
                continue
            seconds = time.perf_counter() - start
            values = {"valid_accuracy": valid_acc, "test_accuracy": test_acc, "train_loss": last_loss}
            for e, est in enumerate(ests):
                result.scores[e, b] = values[est.metric]
                result.seconds[e, b] = seconds  # the whole training, on each of its rows
            del model, opt
        return result


class StandaloneEstimator(Estimator):
    """One metric of stand-alone training (see :class:`StandaloneGroup`). Options: ``recipe``
    (``cpu-low`` by default, or ``nb201``) and any :class:`TrainingRecipe` field."""

    group = StandaloneGroup
    builds_models = True
    needs_dataset = True
    #: architectures per work batch: one, so an interrupted run loses at most one training
    archs_per_batch = 1
    metric: ClassVar[str]

    def __init__(self, **options: Any) -> None:
        self.recipe = TrainingRecipe.from_options(options)
        super().__init__(**options)

    def options(self) -> dict[str, Any]:
        return self.recipe.as_dict()


@ESTIMATORS.register("valid_accuracy")
class ValidAccuracy(StandaloneEstimator):
    """Stand-alone validation accuracy (%) after training from scratch."""

    metric = "valid_accuracy"


@ESTIMATORS.register("test_accuracy")
class TestAccuracy(StandaloneEstimator):
    """Stand-alone test accuracy (%) after training from scratch."""

    metric = "test_accuracy"


@ESTIMATORS.register("train_loss")
class TrainLoss(StandaloneEstimator):
    """Final-epoch mean training loss of stand-alone training."""

    higher_is_better = False
    metric = "train_loss"


STANDALONE_METRICS = ("valid_accuracy", "test_accuracy", "train_loss")
