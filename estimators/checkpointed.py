"""Estimators whose state is a file (a supernet checkpoint, a fitted predictor).

The file loads once per worker in the group's ``setup``; the run config records its SHA-256 and
size beside its path, so a resume, or an evaluation, with a changed file is refused instead of
silently mixing scores of two models. One group instance per file and options.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Hashable

from archscore._core import file_sha256

from .base import Estimator


class CheckpointedEstimator(Estimator):
    """Subclasses resolve their file, then call :meth:`bind_file`."""

    #: how messages name the file ("the supernet checkpoint", "the predictor")
    file_role: str = "the checkpoint"

    def bind_file(self, path: Path, recorded_sha256: str | None) -> None:
        """Record the file's identity.

        Raises:
            ValueError: ``recorded_sha256`` (a resumed run's) differs from the file's now.
        """
        self.path = path
        self.identity = {"checkpoint_sha256": file_sha256(path), "checkpoint_bytes": os.stat(path).st_size}
        if recorded_sha256 is not None and recorded_sha256 != self.identity["checkpoint_sha256"]:
            raise ValueError(f"{self.file_role} {path} changed since this run recorded it")

    def options(self) -> dict[str, Any]:
        return {**dict(sorted(self.config.items())), **self.identity}

    def group_key(self) -> Hashable:
        """One group (one loaded file) per file and options."""
        return tuple(sorted(self.options().items()))
