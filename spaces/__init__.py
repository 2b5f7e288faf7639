"""Search spaces: frozen architecture values and pure functions on them (no Ray, no estimators)."""
from . import darts, nb101, nb201, nds  # noqa: F401  (registers the built-in spaces)
from .base import SPACES, MacroConfig, Space, get_space, list_spaces

__all__ = ["SPACES", "MacroConfig", "Space", "get_space", "list_spaces"]
