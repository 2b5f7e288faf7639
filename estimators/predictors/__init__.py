"""Learned predictors: sklearn-shaped models over architecture featurizers (ReNAS's tensor, plain
encodings, zero-shot scores), and the ``predictor`` estimator that scores with a saved one."""
from . import estimator, models  # noqa: F401  (registers the built-in predictors and the estimator)
from .base import PREDICTORS, NotFittedError, Predictor, clone, load, resolve
from .features import FEATURIZERS, Encoding, FeatureSet, Featurizer, RenasTensor, ZeroShotFeatures

__all__ = ["FEATURIZERS", "PREDICTORS", "Encoding", "FeatureSet", "Featurizer", "NotFittedError", "Predictor",
           "RenasTensor", "ZeroShotFeatures", "clone", "load", "resolve"]
