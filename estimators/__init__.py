"""Estimators of architecture quality: analytic costs, zero-shot proxies, one-shot supernets,
stand-alone training and learned predictors, each declaring its direction. They know spaces,
never Ray; the engine hands them data and writes their output."""
from . import costs, one_shot, predictors, standalone, zero_shot  # noqa: F401  (registers the built-in estimators)
from .base import (ESTIMATORS, Estimator, EstimatorGroup, GroupResult, ScoringContext,
                   VectorisedGroup, base_name, get_estimator, groups_of, list_estimators, partition)

__all__ = ["ESTIMATORS", "Estimator", "EstimatorGroup", "GroupResult", "ScoringContext",
           "VectorisedGroup", "base_name", "get_estimator", "groups_of", "list_estimators", "partition"]
