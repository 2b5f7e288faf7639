"""``predictor``: a saved predictor (``archscore predictor fit``'s output) as an estimator.

The predictor loads once per worker in :meth:`PredictorGroup.setup`; a work batch is one
vectorised ``predict``. An architecture a zero-shot feature table knows nothing about is that
row's error, not a guess. The run config records the file's path, SHA-256 and size, so a resume
with another predictor is refused.
"""
from __future__ import annotations

import time
from typing import Hashable, Sequence

import numpy as np

from archscore.spaces import Space

from ..checkpointed import CheckpointedEstimator
from ..base import ESTIMATORS, EstimatorGroup, GroupResult, describe_exception
from .base import Predictor, load, resolve


class PredictorGroup(EstimatorGroup):
    def setup(self) -> None:
        est: PredictorEstimator = self.estimators[0]  # type: ignore[assignment]
        self.predictor, self.meta = load(est.path)
        _check_predictor_space(self.predictor, est.path, self.ctx.space)

    def score(self, archs: Sequence[Hashable], seed: int) -> GroupResult:
        result = GroupResult.empty(len(self.estimators), len(archs))
        start = time.perf_counter()
        missing = self.predictor.features_.missing(self.ctx.space, archs)
        try:
            scores = self.predictor.predict(list(archs))
        except Exception:  # isolate the architecture(s) that fail
            scores = np.full(len(archs), np.nan)
            for b, arch in enumerate(archs):
                try:
                    scores[b] = self.predictor.predict([arch])[0]
                except Exception as exc:
                    for e in range(len(self.estimators)):
                        result.errors[e, b] = describe_exception(exc)
        seconds = (time.perf_counter() - start) / max(len(archs), 1)
        for e in range(len(self.estimators)):
            result.scores[e] = np.where(missing, np.nan, scores)
            result.seconds[e] = seconds
            for b in np.flatnonzero(missing):
                result.errors[e, int(b)] = (f"no zero-shot scores for this architecture in the predictor's features "
                                            f"({self.predictor.features_.describe()})")
        return result


@ESTIMATORS.register("predictor")
class PredictorEstimator(CheckpointedEstimator):
    """A learned predictor's score (``archscore predictor fit``); option ``checkpoint`` (required)."""

    group = PredictorGroup
    file_role = "the predictor"
    archs_per_batch = 4096

    def __init__(self, checkpoint: str | None = None, checkpoint_sha256: str | None = None,
                 checkpoint_bytes: int | None = None) -> None:
        if not checkpoint:
            raise ValueError("predictor: give the fitted predictor with --estimator-option "
                             "predictor.checkpoint=DIR (written by `archscore predictor fit`)")
        self.path = resolve(checkpoint)
        super().__init__(checkpoint=str(self.path))
        self.bind_file(self.path, checkpoint_sha256)

    def check_space(self, space: Space) -> None:
        _check_predictor_space(load(self.path)[0], self.path, space)  # a truncated file fails in load, naming it


def _check_predictor_space(predictor: Predictor, path: object, space: Space) -> None:
    if predictor.space != space.name:
        raise ValueError(f"the predictor {path} was fitted on {predictor.space!r}; this run scores {space.name!r}")
