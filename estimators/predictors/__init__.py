"""Learned predictors: sklearn-shaped models over architecture featurizers (ReNAS's tensor, plain
encodings, GRAF's graph features, zero-shot scores), and the ``predictor`` estimator that scores with a saved one."""
from . import estimator, models  # noqa: F401  (registers the built-in predictors and the estimator)
from .base import PREDICTORS, NotFittedError, Predictor, clone, load, resolve
from .features import FEATURIZERS, Encoding, FeatureSet, Featurizer, Graf, RenasTensor, ZeroShotFeatures, make_featurizer
from .tuning import CvChoice, choose_by_cv

__all__ = ["FEATURIZERS", "PREDICTORS", "CvChoice", "Encoding", "FeatureSet", "Featurizer", "Graf", "NotFittedError", "Predictor",
           "RenasTensor", "ZeroShotFeatures", "choose_by_cv", "clone", "load", "make_featurizer", "resolve"]
