"""Stub: torchvision (nasws utils.py uses transforms only in data loading)."""
from . import transforms
