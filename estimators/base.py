"""What an estimator is: a named scorer with a direction, scored together with its peers.

An estimator is a small, pure piece: given architectures (and, for data-dependent ones, a
network and a batch) it returns one float per architecture. Devices, seeds, batching, timing,
retries and output belong to the engine. Estimators that share work (one network build, one
forward pass) declare the same :class:`EstimatorGroup`, which scores them together; a stateful
estimator (a supernet or predictor checkpoint) loads its state in ``EstimatorGroup.setup``, once
per worker.
"""
from __future__ import annotations

import inspect
import re
import time
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Hashable, Sequence

import numpy as np

from archscore._core import Registry, UnknownSetting
from archscore.spaces import MacroConfig, Space

ESTIMATORS: Registry[type["Estimator"]] = Registry("estimator")


@dataclass
class ScoringContext:
    """What a worker gives every estimator group: the space, macro config, device and data."""

    space: Space
    macro: MacroConfig
    device: str = "cpu"
    #: ``data(seed) -> (inputs, targets)``: the fixed batch for a seed, as torch tensors on device.
    data: Callable[[int], Any] | None = None
    #: Number of classes of the data (for estimators whose formula depends on it).
    num_classes: int | None = None
    #: Shape of one input (channels, height, width), and images per data batch.
    input_shape: tuple[int, ...] = (3, 32, 32)
    data_batch_size: int = 64
    #: ``dataset() -> ImageData``: the whole data source (train and test images), for estimators
    #: that train (``needs_dataset``); read once per worker, on first use.
    dataset: Callable[[], Any] | None = None


@dataclass
class GroupResult:
    """Scores of E estimators for B architectures, and messages for the pairs that failed."""

    scores: np.ndarray  # (E, B) float64
    errors: dict[tuple[int, int], str]  # (estimator, arch) -> message, for those that failed
    seconds: np.ndarray  # (E, B) float64: time attributed to each (estimator, arch)

    @classmethod
    def empty(cls, n_estimators: int, n_archs: int) -> "GroupResult":
        return cls(np.full((n_estimators, n_archs), np.nan), {}, np.zeros((n_estimators, n_archs)))


def describe_exception(exc: BaseException) -> str:
    """One line naming the exception and where it was raised, for the output's error column."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


class EstimatorGroup(ABC):
    """Scores several estimators of one kind together, sharing whatever they can."""

    def __init__(self, estimators: Sequence["Estimator"], ctx: ScoringContext) -> None:
        self.estimators = list(estimators)
        self.ctx = ctx

    @classmethod
    def check(cls, estimators: Sequence["Estimator"]) -> None:
        """Raise ``ValueError`` if these estimators cannot be scored together (run in the driver
        before anything starts). Default: any combination works."""

    def setup(self) -> None:
        """Load state once per worker (checkpoints, tables). Default: nothing to load."""

    @abstractmethod
    def score(self, archs: Sequence[Hashable], seed: int) -> GroupResult:
        """Score every architecture with every estimator of the group."""


class VectorisedGroup(EstimatorGroup):
    """Each estimator scores the whole batch at once; a failing batch is retried arch by arch."""

    def score(self, archs: Sequence[Hashable], seed: int) -> GroupResult:
        result = GroupResult.empty(len(self.estimators), len(archs))
        for e, est in enumerate(self.estimators):
            start = time.perf_counter()
            try:
                result.scores[e] = est.score_batch(archs, self.ctx, seed)
                result.seconds[e] = (time.perf_counter() - start) / max(len(archs), 1)
            except Exception:  # isolate the architecture(s) that fail
                for b, arch in enumerate(archs):
                    start = time.perf_counter()
                    try:
                        result.scores[e, b] = est.score_batch([arch], self.ctx, seed)[0]
                    except Exception as exc:
                        result.errors[e, b] = describe_exception(exc)
                    result.seconds[e, b] = time.perf_counter() - start
        return result


class Estimator(ABC):
    """A registered scorer. Subclasses set ``higher_is_better`` and implement ``score_batch``."""

    name: ClassVar[str]
    #: Direction: True when a higher score predicts a better architecture.
    higher_is_better: ClassVar[bool] = True
    #: The group that scores this estimator together with its peers.
    group: ClassVar[type[EstimatorGroup]] = VectorisedGroup
    #: Whether the estimator needs a data batch (the engine loads one only when some do).
    needs_data: ClassVar[bool] = False
    #: Smallest data batch the estimator's formula is defined for.
    min_batch: ClassVar[int] = 1
    #: Whether scoring builds a network per architecture (the engine then uses small batches).
    builds_models: ClassVar[bool] = False
    #: Whether the estimator trains, reading whole datasets (``ScoringContext.dataset``).
    needs_dataset: ClassVar[bool] = False
    #: Architectures per work batch the engine should use by default (None: by kind).
    archs_per_batch: ClassVar[int | None] = None

    def __init__(self, **config: Any) -> None:
        """Store and validate the estimator's options. Runs in the driver before anything starts,
        so a bad option or a missing checkpoint path raises ``ValueError`` here, naming it."""
        self.config = config
        #: the name its rows carry: the registered name, or ``name@tag`` (see :func:`get_estimator`)
        self.label = getattr(self, "name", type(self).__name__)

    def group_key(self) -> Hashable:
        """Estimators of one group class with equal keys share a group instance (default: all)."""
        return None

    def check_space(self, space: Space) -> None:
        """Raise ``ValueError`` if the estimator cannot score ``space`` (default: it can). Runs in
        the driver before anything starts: a checkpoint of another space, or a file that is not
        what it claims to be, is reported here rather than from every worker."""

    def options(self) -> dict[str, Any]:
        """The options in a normal form (defaults explicit, types converted): what the run config
        records, so that equal settings written differently resume each other's runs."""
        return dict(sorted(self.config.items()))

    def score_batch(self, archs: Sequence[Hashable], ctx: ScoringContext, seed: int) -> np.ndarray:
        """One float64 per architecture. Raise to mark the batch (then each arch) as failed."""
        raise NotImplementedError(f"estimator {self.name!r} is scored by its group {self.group.__name__}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


def base_name(label: str) -> str:
    """The registered name behind a label: ``oneshot@epoch5`` -> ``oneshot``."""
    return label.partition("@")[0]


def get_estimator(name: str, **config: Any) -> Estimator:
    """An instance of the registered estimator ``name``, or of ``NAME@TAG``: the same estimator
    under its own label (and options), so one run can hold several, e.g. a supernet's checkpoints
    of two epochs as ``oneshot@e5`` and ``oneshot@e10``.

    Raises:
        KeyError: no such estimator. ValueError: a malformed tag, or bad options.
    """
    base, at, tag = name.partition("@")
    if at and not re.fullmatch(r"[A-Za-z0-9_-]+", tag):
        raise ValueError(f"estimator label {name!r}: the tag after '@' may hold letters, digits, '_' and '-'")
    cls = ESTIMATORS.get(base)
    _check_options(base, cls, config)
    estimator = cls(**config)
    estimator.label = name
    return estimator


def _check_options(name: str, cls: type[Estimator], config: dict[str, Any]) -> None:
    """An option the estimator does not take is a ``ValueError`` naming the ones it does (not a
    ``TypeError`` from deep inside a worker)."""
    params = inspect.signature(cls.__init__).parameters
    named = [p for p, v in params.items() if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)]
    if any(v.kind is v.VAR_KEYWORD for v in params.values()) and cls.__init__ is not Estimator.__init__:
        return  # it validates its own open-ended options (a training recipe's)
    unknown = sorted(set(config) - set(named))
    if unknown:
        takes = f"its options: {', '.join(named)}" if named else "it takes no options"
        raise UnknownSetting(f"estimator {name!r} has no option {unknown[0]!r}; {takes}")


def list_estimators() -> list[str]:
    return ESTIMATORS.names()


def partition(estimators: Sequence[Estimator]) -> dict[tuple[type[EstimatorGroup], Hashable], list[int]]:
    """Positions of the estimators that one group instance scores together: same group class and
    same :meth:`Estimator.group_key` (e.g. the same supernet checkpoint)."""
    parts: dict[tuple[type[EstimatorGroup], Hashable], list[int]] = {}
    for i, est in enumerate(estimators):
        parts.setdefault((est.group, est.group_key()), []).append(i)
    return parts


def groups_of(estimators: Sequence[Estimator], ctx: ScoringContext) -> list[tuple[EstimatorGroup, list[int]]]:
    """Group instances with the positions of their estimators in ``estimators``."""
    return [(cls([estimators[i] for i in idx], ctx), idx) for (cls, _), idx in partition(estimators).items()]
