"""``archscore tune``: Ray Tune over supernet-training heuristics, ranked against truth.
:mod:`.driver` validates and drives, :mod:`.trial` runs in a trial, :mod:`.search` maps the search
space onto Tune, :mod:`.results` and :mod:`.report` write the outputs."""
from .config import TuneConfig
from .driver import run_tune

__all__ = ["TuneConfig", "run_tune"]
