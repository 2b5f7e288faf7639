"""Fixed data batches: synthetic, Fashion-MNIST IDX, CIFAR binary and Python formats."""
import pickle

import numpy as np
import pytest

from archscore.engine.run.data import BatchCache, DataSpec, make_batch, read_idx
from tests.conftest import data_path

SHAPE = (3, 32, 32)


def test_synthetic_is_seeded_and_shaped():
    a = make_batch(DataSpec("synthetic"), 16, 0, SHAPE, 10)
    b = make_batch(DataSpec("synthetic"), 16, 0, SHAPE, 10)
    c = make_batch(DataSpec("synthetic"), 16, 1, SHAPE, 10)
    assert a[0].shape == (16, 3, 32, 32) and a[0].dtype == np.float32
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and not np.array_equal(a[0], c[0])
    assert a[1].max() < 10


def test_fashion_mnist_from_idx():
    directory = data_path("fashion-mnist")
    x, y = make_batch(DataSpec.parse(f"fashion-mnist:{directory}"), 64, 0, SHAPE, 10)
    assert x.shape == (64, 3, 32, 32) and np.array_equal(x[:, 0], x[:, 2])
    assert np.allclose(x[:, :, :2, :], x[0, 0, 0, 0])  # zero padding, normalised
    assert set(np.unique(y)) <= set(range(10)) and len(np.unique(y)) > 3
    again, _ = make_batch(DataSpec.parse(f"fashion-mnist:{directory}"), 64, 0, SHAPE, 10)
    assert np.array_equal(x, again)


def test_idx_header_is_checked():
    with pytest.raises(ValueError, match="not an IDX"):
        read_idx(b"garbage")
    good = bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3])
    assert read_idx(good).tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="header says"):
        read_idx(good[:-1])


def fake_cifar_binary(directory, n, label_bytes, name):
    rng = np.random.default_rng(0)
    records = np.zeros((n, label_bytes + 3072), dtype=np.uint8)
    records[:, label_bytes - 1] = np.arange(n) % (10 if label_bytes == 1 else 100)
    records[:, label_bytes:] = rng.integers(0, 256, size=(n, 3072))
    records.tofile(directory / name)
    return records


def test_cifar10_binary_format(tmp_path):
    records = fake_cifar_binary(tmp_path, 50, 1, "data_batch_1.bin")
    x, y = make_batch(DataSpec.parse(f"cifar10:{tmp_path}"), 8, 0, SHAPE, 10)
    assert x.shape == (8, 3, 32, 32) and y.dtype == np.int64
    # the first image's red plane is its first 1024 bytes
    rng = np.random.default_rng(0)
    idx = rng.choice(50, size=8, replace=False)
    red = records[idx[0], 1:1025].reshape(32, 32) / 255.0
    assert np.allclose(x[0, 0], (red - 0.4914) / 0.2470, atol=1e-5)
    assert list(y) == list(records[idx, 0])


def test_cifar100_binary_uses_fine_labels(tmp_path):
    records = fake_cifar_binary(tmp_path, 120, 2, "train.bin")
    spec = DataSpec.parse(f"cifar100:{tmp_path}")
    assert spec.num_classes(10) == 100
    _, y = make_batch(spec, 16, 0, SHAPE, 100)
    idx = np.random.default_rng(0).choice(120, size=16, replace=False)
    assert list(y) == list(records[idx, 1])


def test_cifar10_python_format(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, size=(20, 3072), dtype=np.uint8)
    with open(tmp_path / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": data, b"labels": list(range(10)) * 2}, fh)
    x, y = make_batch(DataSpec.parse(f"cifar10:{tmp_path}"), 4, 0, SHAPE, 10)
    assert x.shape == (4, 3, 32, 32) and y.max() < 10


@pytest.mark.parametrize("spec,message", [
    ("imagenet:/tmp", "unknown data source 'imagenet'"),
    ("cifar10", "needs a directory"),
    ("cifar10:/no/such/dir", "does not exist"),
    ("synthetic:/tmp", "takes no path"),
])
def test_bad_specs_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        DataSpec.parse(spec)


def test_missing_files_and_wrong_shape_are_named(tmp_path):
    with pytest.raises(ValueError, match="no cifar10 training files"):
        make_batch(DataSpec.parse(f"cifar10:{tmp_path}"), 4, 0, SHAPE, 10)
    fake_cifar_binary(tmp_path, 10, 1, "data_batch_1.bin")
    with pytest.raises(ValueError, match="set --macro in_channels/input_size"):
        make_batch(DataSpec.parse(f"cifar10:{tmp_path}"), 4, 0, (1, 28, 28), 10)


def test_cache_builds_once_per_seed():
    cache = BatchCache("synthetic", 4, SHAPE, 10)
    assert cache(0)[0] is cache(0)[0] and cache(1)[0] is not cache(0)[0]
