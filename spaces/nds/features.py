"""What learned predictors read of an NDS setting: one-hot choices of each stage parameter."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .arch import GRIDS, NdsArch


def one_hot(archs: Sequence[NdsArch]) -> np.ndarray:
    """(n, d): per stage and parameter, one-hot over the grid's choices for the block."""
    rows = []
    for arch in archs:
        row: list[float] = []
        for name, choices in GRIDS[arch.block]:
            for value in getattr(arch, name):
                row += [float(value == c) for c in choices]
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(archs), -1)
