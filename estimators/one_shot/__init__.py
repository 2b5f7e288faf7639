"""One-shot estimation: supernets trained under switchable heuristics, subnets scored with
inherited weights. Plain torch; the engine runs it on actors and writes its checkpoints."""
from . import estimator  # noqa: F401  (registers oneshot and oneshot_loss)
from .heuristics import HEURISTICS_DOC, Heuristics
from .trainer import SupernetTrainer, check_settings

__all__ = ["HEURISTICS_DOC", "Heuristics", "SupernetTrainer", "check_settings"]
