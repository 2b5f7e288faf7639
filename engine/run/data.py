"""Fixed data batches for data-dependent estimators.

One batch per (source, batch size, seed), identical for every architecture so that scores are
comparable, built once per worker and kept on its device. Sources:

- ``synthetic``: seeded standard-normal images of the macro's input shape, uniform labels.
- ``fashion-mnist:DIR``: the Fashion-MNIST IDX files (``train-images-idx3-ubyte[.gz]`` and
  ``train-labels-idx1-ubyte[.gz]``), zero-padded from 28x28 to 32x32, replicated to 3 channels,
  normalised with the training set's mean and std.
- ``cifar10:DIR`` / ``cifar100:DIR``: CIFAR in its standard on-disk formats, the binary version
  (``data_batch_1.bin``.. / ``train.bin``) or the Python version (``data_batch_1``.. / ``train``),
  normalised with the usual per-channel mean and std.

The training split is used; the batch is ``batch_size`` images drawn without replacement by a
generator seeded with ``seed``.
"""
from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

FMNIST_MEAN, FMNIST_STD = 0.2860, 0.3530
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
NUM_CLASSES = {"fashion-mnist": 10, "cifar10": 10, "cifar100": 100}


@dataclass(frozen=True)
class DataSpec:
    kind: str
    path: str | None = None

    @classmethod
    def parse(cls, text: str) -> "DataSpec":
        """``synthetic`` or ``KIND:DIR``. Raises ``ValueError`` naming what is wrong."""
        kind, _, path = text.partition(":")
        if kind == "synthetic":
            if path:
                raise ValueError("data source 'synthetic' takes no path")
            return cls("synthetic")
        if kind not in NUM_CLASSES:
            raise ValueError(f"unknown data source {kind!r}; use synthetic, {', '.join(f'{k}:DIR' for k in NUM_CLASSES)}")
        if not path:
            raise ValueError(f"data source {kind!r} needs a directory: {kind}:DIR")
        if not Path(path).is_dir():
            raise ValueError(f"data directory {path!r} for {kind} does not exist")
        return cls(kind, str(Path(path).resolve()))

    def canonical(self) -> str:
        """The spec as text with an absolute path: equal texts name equal sources."""
        return self.kind if self.path is None else f"{self.kind}:{self.path}"

    def num_classes(self, default: int) -> int:
        return NUM_CLASSES.get(self.kind, default)


def _open_maybe_gz(directory: Path, stem: str) -> bytes:
    for name in (stem, stem + ".gz"):
        path = directory / name
        if path.exists():
            return gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    raise ValueError(f"{directory} has neither {stem} nor {stem}.gz")


def read_idx(data: bytes) -> np.ndarray:
    """An IDX array (the MNIST family's format). Raises ``ValueError`` on a malformed header."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError("not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"IDX body has {body.size} bytes, header says {dims}")
    return body.reshape(dims)


def load_fashion_mnist(directory: Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(_open_maybe_gz(directory, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_open_maybe_gz(directory, f"{prefix}-labels-idx1-ubyte"))
    return images, labels


def load_cifar(directory: Path, kind: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(N, 32, 32, 3) uint8 images and labels from CIFAR's binary or Python format."""
    if kind == "cifar10":
        if split == "train":
            binary = [directory / f"data_batch_{i}.bin" for i in range(1, 6)]
            python = [directory / f"data_batch_{i}" for i in range(1, 6)]
        else:
            binary, python = [directory / "test_batch.bin"], [directory / "test_batch"]
        label_bytes, key = 1, b"labels"
    else:
        binary, python = [directory / f"{split}.bin"], [directory / split]
        label_bytes, key = 2, b"fine_labels"
    present = [p for p in binary if p.exists()]
    if present:
        raw = np.concatenate([np.fromfile(p, dtype=np.uint8) for p in present])
        record = label_bytes + 3072
        if raw.size % record:
            raise ValueError(f"{kind} binary files in {directory} are not whole {record}-byte records")
        raw = raw.reshape(-1, record)
        labels = raw[:, label_bytes - 1].astype(np.int64)  # CIFAR-100: second byte is the fine label
        images = raw[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return images, labels
    present = [p for p in python if p.exists()]
    if not present:
        raise ValueError(f"{directory} holds no {kind} {'training' if split == 'train' else split} files "
                         f"({binary[0].name} or {python[0].name})")
    images, labels = [], []
    for p in present:
        with open(p, "rb") as fh:
            entry = pickle.load(fh, encoding="bytes")  # the official format is a pickle
        images.append(np.asarray(entry[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(entry[key], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def make_batch(spec: DataSpec, batch_size: int, seed: int, input_shape: tuple[int, int, int],
               num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 NCHW, labels int64) for one seed."""
    if batch_size < 1:
        raise ValueError(f"data batch size must be >= 1, got {batch_size}")
    rng = np.random.default_rng(seed)
    channels, height, width = input_shape
    if spec.kind == "synthetic":
        x = rng.standard_normal((batch_size, channels, height, width), dtype=np.float32)
        return x, rng.integers(0, num_classes, size=batch_size, dtype=np.int64)
    directory = Path(spec.path)
    if spec.kind == "fashion-mnist":
        images, labels = load_fashion_mnist(directory)
        idx = rng.choice(len(images), size=batch_size, replace=False)
        x = np.pad(images[idx].astype(np.float32) / 255.0, ((0, 0), (2, 2), (2, 2)))
        x = (x - FMNIST_MEAN) / FMNIST_STD
        x = np.repeat(x[:, None], 3, axis=1)
    else:
        images, labels = load_cifar(directory, spec.kind)
        idx = rng.choice(len(images), size=batch_size, replace=False)
        mean, std = (CIFAR10_MEAN, CIFAR10_STD) if spec.kind == "cifar10" else (CIFAR100_MEAN, CIFAR100_STD)
        x = (images[idx].astype(np.float32) / 255.0 - np.array(mean, np.float32)) / np.array(std, np.float32)
        x = x.transpose(0, 3, 1, 2)
    if x.shape[1:] != (channels, height, width):
        raise ValueError(f"{spec.kind} images are {x.shape[1:]}, the network expects {input_shape}; "
                         "set --macro in_channels/input_size to match")
    return np.ascontiguousarray(x, dtype=np.float32), labels[idx].astype(np.int64)


class BatchCache:
    """``cache(seed) -> (x, y)`` torch tensors on ``device``, built once per seed."""

    def __init__(self, spec: str, batch_size: int, input_shape: tuple[int, int, int], num_classes: int,
                 device: str = "cpu") -> None:
        self.spec = DataSpec.parse(spec)
        self.batch_size, self.input_shape, self.device = batch_size, input_shape, device
        self.num_classes = num_classes
        self._cache: dict[int, Any] = {}

    def __call__(self, seed: int) -> tuple[Any, Any]:
        if seed not in self._cache:
            import torch

            x, y = make_batch(self.spec, self.batch_size, seed, self.input_shape, self.num_classes)
            self._cache[seed] = (torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device))
        return self._cache[seed]


SYNTHETIC_TRAIN, SYNTHETIC_TEST = 512, 128


def load_images(spec: DataSpec, num_classes: int, input_shape: tuple[int, int, int]) -> Any:
    """The whole data source as :class:`~archscore.estimators.training.ImageData` (for training).

    ``synthetic`` is seeded noise with random labels (512 train and 128 test images of the
    network's input shape, ``num_classes`` classes): for tests and smoke runs, not for truth.
    """
    from archscore.estimators.training import ImageData

    if spec.kind == "synthetic":
        rng = np.random.default_rng(0)
        channels, height, width = input_shape
        make = lambda n: rng.integers(0, 256, size=(n, height, width, channels), dtype=np.uint8)  # noqa: E731
        return ImageData("synthetic", make(SYNTHETIC_TRAIN), rng.integers(0, num_classes, SYNTHETIC_TRAIN),
                         make(SYNTHETIC_TEST), rng.integers(0, num_classes, SYNTHETIC_TEST),
                         (0.5,) * channels, (0.29,) * channels)
    directory = Path(spec.path)
    if spec.kind == "fashion-mnist":
        (tx, ty), (vx, vy) = load_fashion_mnist(directory, "train"), load_fashion_mnist(directory, "test")
        return ImageData("fashion-mnist", tx, ty.astype(np.int64), vx, vy.astype(np.int64), (FMNIST_MEAN,),
                         (FMNIST_STD,))
    (tx, ty), (vx, vy) = load_cifar(directory, spec.kind, "train"), load_cifar(directory, spec.kind, "test")
    mean, std = (CIFAR10_MEAN, CIFAR10_STD) if spec.kind == "cifar10" else (CIFAR100_MEAN, CIFAR100_STD)
    return ImageData(spec.kind, tx, ty, vx, vy, mean, std, crop_flip=True)


class DatasetCache:
    """``cache() -> ImageData``, loaded on first use and kept (one per worker)."""

    def __init__(self, spec: str, num_classes: int, input_shape: tuple[int, int, int]) -> None:
        self.spec, self.num_classes, self.input_shape = DataSpec.parse(spec), num_classes, input_shape
        self._data: Any = None

    def __call__(self) -> Any:
        if self._data is None:
            self._data = load_images(self.spec, self.num_classes, self.input_shape)
        return self._data


def input_shape_of(macro: Any) -> tuple[int, int, int]:
    size = getattr(macro, "input_size", 32)
    return (getattr(macro, "in_channels", 3), size, size)


def check_training_data(spec: str, macro: Any, portions: Sequence[float] = ()) -> str:
    """The data source as canonical text, once its whole source has loaded and fits the network
    (and each of ``portions`` leaves non-empty splits): a bad source fails before anything starts.

    Raises:
        ValueError: naming the source and what is wrong.
    """
    from archscore.estimators.one_shot.scoring import VALID_FRACTION
    from archscore.estimators.training import split, to_tensor

    data = DataSpec.parse(spec).canonical()
    shape = input_shape_of(macro)
    try:  # the whole source loads and fits the network: fail before anything starts
        images = load_images(DataSpec.parse(data), getattr(macro, "num_classes", 10), shape)
        to_tensor(images.test_x[:1], images, shape)
        for portion in portions:
            split(images, portion, VALID_FRACTION, seed=0)
    except ValueError as exc:
        raise ValueError(f"data source {data}: {exc}") from None
    return data


def macro_for_data(space: Any, overrides: dict[str, Any], data: str | None) -> Any:
    """``space``'s macro config with ``overrides``; its class count follows the data source
    unless set explicitly.

    Raises:
        ValueError: an explicit ``num_classes`` that contradicts the data source.
    """
    macro = space.macro(**overrides)
    if data and hasattr(macro, "num_classes"):
        classes = DataSpec.parse(data).num_classes(macro.num_classes)
        if "num_classes" in overrides and int(overrides["num_classes"]) != classes:
            raise ValueError(f"--macro num_classes={overrides['num_classes']} but data {data!r} has {classes} classes")
        macro = macro.with_overrides({"num_classes": classes})
    return macro
