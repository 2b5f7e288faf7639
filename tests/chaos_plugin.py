"""Test-only estimators, loaded into workers as a plugin (``--plugin tests.chaos_plugin``).

``echo`` scores an architecture by its encoding (so every score is checkable), optionally sleeping
per batch so that tests can kill things mid-run, recording its pid for them, and killing its own
process (as a segfault would) when asked to score one of the ``kill`` encodings.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from archscore.estimators import ESTIMATORS, Estimator


@ESTIMATORS.register("echo")
class Echo(Estimator):
    """The architecture's encoding as a float (a test fixture)."""

    def __init__(self, sleep: float = 0.0, kill: tuple[int, ...] = (), pid_dir: str | None = None) -> None:
        super().__init__(sleep=sleep, kill=list(kill), pid_dir=pid_dir)
        self.sleep, self.kill = sleep, set(kill)
        if pid_dir:
            Path(pid_dir, str(os.getpid())).touch()

    def score_batch(self, archs, ctx, seed):
        encodings = [ctx.space.encode(a) for a in archs]
        if self.kill & set(encodings):
            os._exit(13)  # the worker dies mid-batch, like a segfault or a CUDA error
        time.sleep(self.sleep)
        return np.array(encodings, dtype=np.float64) + seed
