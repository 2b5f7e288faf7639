"""Training pieces shared by stand-alone training and supernet training: plain torch, no Ray.

The engine hands estimators whole image datasets as :class:`ImageData` (uint8 arrays, read once
per worker); :func:`split` cuts the seeded train/valid split and data portion a recipe asks for,
:func:`batches` yields normalised, optionally augmented torch batches in a seeded order, and
:class:`Schedule` gives the learning rate of every step. Everything is deterministic given the
seeds, so the same seed on a CPU gives the same numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

LR_SCHEDULES = ("cosine", "step", "constant")


@dataclass(frozen=True)
class ImageData:
    """A dataset's train and test images as uint8 NHWC arrays, with its normalisation."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: random crop (padding 4) and horizontal flip are the standard augmentation for this data
    crop_flip: bool = False

    @property
    def num_classes(self) -> int:
        return int(max(self.train_y.max(), self.test_y.max())) + 1


@dataclass(frozen=True)
class Split:
    """Index arrays into ``ImageData.train_x`` (train, valid) and ``test_x`` (test)."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def split(data: ImageData, portion: float, valid_fraction: float, seed: int = 0) -> Split:
    """A seeded split: ``portion`` of the training images (and of the test images), of which
    ``valid_fraction`` is held out for validation. The same arguments give the same split.

    Raises:
        ValueError: a fraction outside (0, 1], or a split that leaves a part empty.
    """
    if not 0 < portion <= 1:
        raise ValueError(f"data_portion must be in (0, 1], got {portion}")
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data.train_x))[: max(2, int(round(portion * len(data.train_x))))]
    n_valid = int(round(valid_fraction * len(order)))
    test = np.sort(rng.permutation(len(data.test_x))[: max(1, int(round(portion * len(data.test_x))))])
    if n_valid < 1 or n_valid >= len(order):
        raise ValueError(f"data_portion {portion} with valid_fraction {valid_fraction} leaves an empty split "
                         f"of {len(order)} images")
    return Split(np.sort(order[n_valid:]), np.sort(order[:n_valid]), test)


def to_tensor(images: np.ndarray, data: ImageData, input_shape: tuple[int, int, int]) -> Any:
    """uint8 NHWC (or NHW) images as a normalised float32 NCHW tensor of ``input_shape``: zero-padded
    to the input size, a grey channel repeated to the input's channel count."""
    import torch

    channels, height, width = input_shape
    x = images.astype(np.float32) / 255.0
    if x.ndim == 3:
        x = x[..., None]
    x = (x - np.asarray(data.mean, np.float32)) / np.asarray(data.std, np.float32)
    pad_h, pad_w = height - x.shape[1], width - x.shape[2]
    if pad_h < 0 or pad_w < 0 or pad_h % 2 or pad_w % 2:
        raise ValueError(f"{data.name} images are {x.shape[1]}x{x.shape[2]}, the network expects {height}x{width}")
    if pad_h or pad_w:
        x = np.pad(x, ((0, 0), (pad_h // 2, pad_h // 2), (pad_w // 2, pad_w // 2), (0, 0)))
    if x.shape[3] != channels:
        if x.shape[3] != 1:
            raise ValueError(f"{data.name} images have {x.shape[3]} channels, the network expects {channels}")
        x = np.repeat(x, channels, axis=3)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _crop_flip(x: Any, rng: np.random.Generator) -> Any:
    """Random crop with 4 pixels of zero padding and a random horizontal flip, per image."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy, dx = rng.integers(0, 9, size=n), rng.integers(0, 9, size=n)
    flips = rng.random(n) < 0.5
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    out[flips] = out[flips].flip(3)
    return out


def batches(data: ImageData, images: np.ndarray, labels: np.ndarray, batch_size: int,
            input_shape: tuple[int, int, int], rng: np.random.Generator | None = None,
            augment: bool = False, device: str = "cpu") -> Iterator[tuple[Any, Any]]:
    """(x, y) torch batches; shuffled by ``rng`` when given, augmented (crop + flip) if asked."""
    import torch

    order = rng.permutation(len(images)) if rng is not None else np.arange(len(images))
    for start in range(0, len(order), batch_size):
        idx = np.sort(order[start:start + batch_size]) if rng is None else order[start:start + batch_size]
        x = to_tensor(images[idx], data, input_shape)
        if augment:
            x = _crop_flip(x, rng if rng is not None else np.random.default_rng(0))
        yield x.to(device), torch.from_numpy(labels[idx].astype(np.int64)).to(device)


@dataclass(frozen=True)
class Schedule:
    """Learning rate per step: linear warm-up, then cosine to ``lr_min``, step decay or constant."""

    lr: float
    kind: str
    epochs: int
    steps_per_epoch: int
    warmup_epochs: float = 0.0
    step_every: int = 30
    step_gamma: float = 0.1
    #: the cosine schedule's floor (PyTorch's eta_min)
    lr_min: float = 0.0

    def __call__(self, step: int) -> float:
        epoch = step / max(self.steps_per_epoch, 1)
        if self.warmup_epochs and epoch < self.warmup_epochs:
            return self.lr * (step + 1) / max(self.warmup_epochs * self.steps_per_epoch, 1)
        if self.kind == "cosine":
            total = max(self.epochs - self.warmup_epochs, 1e-9)
            progress = min((epoch - self.warmup_epochs) / total, 1.0)
            return self.lr_min + 0.5 * (self.lr - self.lr_min) * (1 + math.cos(math.pi * progress))
        if self.kind == "step":
            return self.lr * self.step_gamma ** int(epoch // self.step_every)
        return self.lr


def make_optimizer(params: Any, lr: float, momentum: float, weight_decay: float, nesterov: bool) -> Any:
    import torch

    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                           nesterov=nesterov and momentum > 0)


def accuracy_and_loss(model: Any, data: ImageData, images: np.ndarray, labels: np.ndarray,
                      input_shape: tuple[int, int, int], batch_size: int = 512, device: str = "cpu",
                      forward: Any = None) -> tuple[float, float]:
    """Top-1 accuracy (%) and mean cross-entropy of ``model`` (or ``forward(x)``) on the images."""
    import torch
    import torch.nn.functional as F

    run = forward or model
    correct, loss, n = 0, 0.0, 0
    with torch.no_grad():
        for x, y in batches(data, images, labels, batch_size, input_shape, device=device):
            logits = run(x)
            correct += int((logits.argmax(1) == y).sum())
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            n += len(y)
    return 100.0 * correct / max(n, 1), loss / max(n, 1)
