"""Test-only estimators, loaded into workers as a plugin (``--plugin tests.chaos_plugin``).

``echo`` scores an architecture by its encoding (so every score is checkable), optionally sleeping
per batch so that tests can kill things mid-run (unless ``pid_dir`` holds a file ``no-sleep``: a
rerun that resumes with the same options need not wait), recording its pid for them, and killing
its own process (as a segfault would) when asked to score one of the ``kill`` encodings, and
failing every architecture with the same message when given ``fail`` (a set-up fault such as a
missing file).
Options may arrive as text (``--estimator-option echo.sleep=0.2``).
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

    def __init__(self, sleep: float = 0.0, kill: tuple[int, ...] = (), pid_dir: str | None = None,
                 fail: str = "") -> None:
        super().__init__(sleep=sleep, kill=list(kill), pid_dir=pid_dir, fail=fail)
        self.sleep, self.kill, self.fail = float(sleep), set(kill), fail
        self.pid_dir, self.scored = pid_dir, 0
        if pid_dir:
            Path(pid_dir, str(os.getpid())).touch()

    def score_batch(self, archs, ctx, seed):
        encodings = [ctx.space.encode(a) for a in archs]
        if self.kill & set(encodings):
            os._exit(13)  # the worker dies mid-batch, like a segfault or a CUDA error
        if self.fail:
            raise FileNotFoundError(self.fail)
        if not (self.pid_dir and Path(self.pid_dir, "no-sleep").exists()):
            time.sleep(self.sleep)
        if self.pid_dir:  # tests wait for these to know that batches were scored
            self.scored += 1
            Path(self.pid_dir, f"batch-{os.getpid()}-{self.scored}").touch()
        return np.array(encodings, dtype=np.float64) + seed
