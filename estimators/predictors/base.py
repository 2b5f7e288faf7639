"""What a predictor is: an sklearn-shaped model from architectures to a score, saved with the
package version.

``__init__`` only stores its parameters (what :meth:`get_params` returns and :func:`clone`
re-uses); ``fit(archs, y)`` learns and returns the predictor; ``predict(archs)`` gives one float
per architecture, higher for architectures predicted better (callers orient ``y`` so). A
predictor holds its featurizers (:mod:`.features`), so it maps architectures, not matrices.
"""
from __future__ import annotations

import inspect
import io
import os
import pickle
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from archscore._core import VERSION, Registry, write_atomic
from archscore.spaces import Space, get_space

from .features import FeatureSet, Featurizer

PREDICTORS: Registry[type["Predictor"]] = Registry("predictor")
FORMAT = "archscore.predictor/1"
FILE = "predictor.pkl"



class NotFittedError(ValueError):
    """``predict`` before ``fit``."""


class Predictor(ABC):
    name: ClassVar[str]

    def __init__(self, space: str = "nb201", features: "str | Featurizer | Sequence[str | Featurizer]" = "encoding",
                 seed: int = 0) -> None:
        self.space = space
        self.features = features
        self.seed = seed

    # -- the sklearn shape ---------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self._param_names()}

    def set_params(self, **params: Any) -> "Predictor":
        unknown = sorted(set(params) - set(self._param_names()))
        if unknown:
            raise ValueError(f"predictor {self.name!r} has no parameter(s) {unknown}; it has {self._param_names()}")
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, archs: Sequence[Any], y: Sequence[float]) -> "Predictor":
        """Learn from architectures (objects of the space, or their strings) and targets.

        Raises:
            ValueError: lengths differ, fewer than 2 architectures, a non-finite target, or
                features the space cannot take.
        """
        space = get_space(self.space)
        archs = _as_archs(space, archs)
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (len(archs),):
            raise ValueError(f"fit needs one target per architecture: {len(archs)} architectures, targets of shape {y.shape}")
        if len(archs) < 2:
            raise ValueError(f"fit needs at least 2 architectures, got {len(archs)}")
        if not np.isfinite(y).all():
            raise ValueError(f"{int((~np.isfinite(y)).sum())} targets are not finite; drop those architectures first")
        features = FeatureSet.of(self.features)
        features.check(space)
        self._fit(space, features, archs, y)
        self.features_, self.n_train_ = features, len(archs)
        return self

    def predict(self, archs: Sequence[Any]) -> np.ndarray:
        """One float64 per architecture. An architecture's score never depends on the others in
        the call, to the bit: a sweep's work batches, a resume or another batch size give the
        same rows."""
        if not hasattr(self, "features_"):
            raise NotFittedError(f"this {self.name} predictor is not fitted yet: call fit first")
        space = get_space(self.space)
        archs = _as_archs(space, archs)
        if not archs:
            return np.zeros(0)
        return np.asarray(self._predict(space, self.features_, archs), dtype=np.float64).reshape(len(archs))

    @abstractmethod
    def _fit(self, space: Space, features: FeatureSet, archs: list[Any], y: np.ndarray) -> None: ...

    @abstractmethod
    def _predict(self, space: Space, features: FeatureSet, archs: list[Any]) -> np.ndarray: ...

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, meta: dict[str, Any] | None = None) -> Path:
        """Write the fitted predictor to ``path`` (a directory: ``path/predictor.pkl``, or a
        ``.pkl`` file) atomically, stamped with the package version and ``meta``."""
        if not hasattr(self, "features_"):
            raise NotFittedError("save a fitted predictor")
        p = Path(path)
        if p.suffix != ".pkl":
            p.mkdir(parents=True, exist_ok=True)
            p = p / FILE
        buf = io.BytesIO()
        pickle.dump({"format": FORMAT, "version": VERSION, "predictor": self, "meta": dict(meta or {})}, buf,
                    protocol=pickle.HIGHEST_PROTOCOL)
        write_atomic(p, buf.getvalue())
        return p


def _as_archs(space: Space, archs: Sequence[Any]) -> list[Any]:
    return [space.parse(a) if isinstance(a, str) else a for a in archs]


def clone(predictor: Predictor) -> Predictor:
    """A new, unfitted predictor with the same parameters (sklearn's ``clone``)."""
    return type(predictor)(**predictor.get_params())


def resolve(path: str | os.PathLike) -> Path:
    """The predictor file: ``path`` itself or ``path/predictor.pkl``.

    Raises:
        ValueError: nothing there.
    """
    p = Path(path)
    if p.is_dir():
        if not (p / FILE).exists() and any((p / f).exists() for f in ("checkpoint.pt", "metrics.parquet")):
            raise ValueError(f"{path} is a supernet run (checkpoint.pt), not a predictor: score with it as "
                             f"--estimators oneshot --estimator-option oneshot.checkpoint={path}")
        p = p / FILE
    if not p.is_file():
        raise ValueError(f"predictor {str(path)!r} does not exist (give a directory written by "
                         f"`archscore predictor fit` or its {FILE})")
    return p.resolve()


def load(path: str | os.PathLike) -> tuple[Predictor, dict[str, Any]]:
    """The predictor saved at ``path`` and its metadata (``meta`` plus ``version``).

    Raises:
        ValueError: not a predictor file. Unpickling runs code: load only files you trust.
    """
    p = resolve(path)
    with open(p, "rb") as fh:
        try:
            record = pickle.load(fh)
        except Exception as exc:
            raise ValueError(f"{p} is not a readable predictor file (truncated, or not written by `archscore "
                             f"predictor fit`: {type(exc).__name__}: {exc}); refit it with `archscore predictor "
                             "fit`") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"{p} is not an archscore predictor file (format {FORMAT})")
    return record["predictor"], {**record["meta"], "version": record["version"]}
