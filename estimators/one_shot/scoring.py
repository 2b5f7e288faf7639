"""Scoring subnets of a trained supernet (one-shot estimation), and the supernet checkpoint format.

A subnet's score is its top-1 accuracy (and loss) with inherited weights on fixed held-out
batches: the first ``eval_batches`` x ``batch_size`` images of the validation split the supernet
did not train on. BN follows the heuristics: untracked statistics mean batch statistics; tracked
ones are used as trained, unless ``recalibrate_batches`` > 0, in which case each subnet's BN
statistics are reset and recomputed as a cumulative average over that many fixed training
batches before it is scored (only BN buffers change).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Sequence

import numpy as np

from ..training import ImageData, Split, batches

CHECKPOINT_FORMAT = "archscore.supernet/1"
#: fraction of the (portion of the) training images held out to score subnets
VALID_FRACTION = 0.1


@dataclass
class SubnetScorer:
    model: Any
    space: Any
    data: ImageData
    split: Split
    input_shape: tuple[int, int, int]
    eval_batches: int = 4
    batch_size: int = 256
    recalibrate_batches: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        valid = self.split.valid[: self.eval_batches * self.batch_size]
        self._eval = list(batches(self.data, self.data.train_x[valid], self.data.train_y[valid], self.batch_size,
                                  self.input_shape, device=self.device))
        self._recal: list[Any] = []
        if self.recalibrate_batches:
            rng = np.random.default_rng(12345)
            train = self.split.train
            it = batches(self.data, self.data.train_x[train], self.data.train_y[train], self.batch_size,
                         self.input_shape, rng, device=self.device)
            self._recal = [x for (x, _), _ in zip(it, range(self.recalibrate_batches))]

    def score(self, archs: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
        """(accuracy %, mean cross-entropy) of each architecture's subnet."""
        import torch
        import torch.nn.functional as F

        acc, loss = np.zeros(len(archs)), np.zeros(len(archs))
        was_training = self.model.training
        try:
            for i, arch in enumerate(archs):
                key = self.space.subnet_key(arch)
                with torch.no_grad():
                    if self._recal:
                        self._recalibrate(key)
                    self.model.eval()
                    correct, total, n = 0, 0.0, 0
                    for x, y in self._eval:
                        logits = self.model(x, key)
                        correct += int((logits.argmax(1) == y).sum())
                        total += float(F.cross_entropy(logits, y, reduction="sum"))
                        n += len(y)
                acc[i], loss[i] = 100.0 * correct / max(n, 1), total / max(n, 1)
        finally:
            self.model.train(was_training)
        return acc, loss

    def _recalibrate(self, key: Any) -> None:
        from torch import nn

        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the recalibration batches
        dropout = getattr(self.model, "path_dropout", 0.0)
        self.model.path_dropout = 0.0  # statistics of the subnet as it is scored
        self.model.train()
        try:
            for x in self._recal:
                self.model(x, key)
        finally:
            self.model.path_dropout = dropout
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
