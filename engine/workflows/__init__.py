"""Workflows beyond the sweep: train a supernet on an actor (:mod:`.supernet`) and fit a learned
predictor (:mod:`.predictor`)."""
from .predictor import FitConfig, fit_predictor
from .supernet import SupernetConfig, train_supernet

__all__ = ["FitConfig", "SupernetConfig", "fit_predictor", "train_supernet"]
