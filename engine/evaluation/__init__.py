"""Evaluation: truth loaders, the ranking criteria (pure functions on arrays), ``evaluate`` (the
criteria of every estimator and seed against truth) and the HTML report (:mod:`.report`, imported
on its own: it loads matplotlib)."""
from .evaluate import EvalOptions, Evaluation, evaluate
from .truth import load_naslib, load_truth, pick_metric, truth_sample

__all__ = ["EvalOptions", "Evaluation", "evaluate", "load_naslib", "load_truth", "pick_metric", "truth_sample"]
