"""Analytic cost estimators: parameter count and FLOPs, in millions, from the space's formulas."""
from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np

from .base import ESTIMATORS, Estimator, ScoringContext


@ESTIMATORS.register("params")
class Params(Estimator):
    """Trainable parameters of the built network, in millions (as NB201 and NASLib report)."""

    higher_is_better = True

    def score_batch(self, archs: Sequence[Hashable], ctx: ScoringContext, seed: int) -> np.ndarray:
        return ctx.space.costs_many(archs, ctx.macro)[0] / 1e6


@ESTIMATORS.register("flops")
class Flops(Estimator):
    """Multiply-adds of one forward pass of one input, in millions (NB201's counting rules)."""

    higher_is_better = True

    def score_batch(self, archs: Sequence[Hashable], ctx: ScoringContext, seed: int) -> np.ndarray:
        return ctx.space.costs_many(archs, ctx.macro)[1] / 1e6
