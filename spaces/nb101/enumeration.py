"""Every unique NAS-Bench-101 cell (423,624), computed once and cached on disk.

The benchmark's ``generate_graphs.py`` keeps the first labelled DAG seen per module hash, in a dict
of every hash. Here uniqueness comes from an exact canonical form instead, so the hash is a check
rather than the definition: input and output are fixed by their labels, so two upper-triangular
cells are isomorphic iff a permutation of the interior vertices that keeps the matrix upper
triangular maps one onto the other. A cell is emitted iff its edge bits are the smallest over
those permutations and its labels the smallest over the permutations that fix its matrix. The
result's count (423,624) and the distinctness of the benchmark's hashes over it are tested.

Computing it takes about a minute of CPU (the hashes), so the encodings and canonical hashes are cached as one
``.npz`` in :func:`cache_dir`, trusted only if its count and SHA-256 digest are the expected ones.
"""
from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from itertools import permutations, product
from pathlib import Path
from typing import Iterator

import numpy as np

from archscore._core import write_atomic

from .cells import EDGE_SHIFT, OP_BITS, OP_SHIFT, edge_bit, module_hash, unpack
from .graph import MAX_EDGES, MAX_VERTICES, OPS

SIZE = 423_624
CACHE_NAME = "nb101-cells-v1.npz"
#: SHA-256 of the sorted encodings (int64, little endian) followed by their hashes (16 bytes each)
DIGEST = "685355636b6471d0da9b98429875688bb16bd742093ca93ddb8c9a1b7c81fc9c"


def cache_dir() -> Path:
    """``$ARCHSCORE_CACHE_DIR``, else ``$XDG_CACHE_HOME/archscore``, else ``~/.cache/archscore``."""
    if os.environ.get("ARCHSCORE_CACHE_DIR"):
        return Path(os.environ["ARCHSCORE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "archscore"


def _edges(n: int) -> list[tuple[int, int]]:
    return [(x, y) for y in range(n) for x in range(y)]


def _full_dag(mask: int, n: int, edges: list[tuple[int, int]]) -> bool:
    """Every vertex but the output has an out-edge and every vertex but the input an in-edge
    (``generate_graphs.is_full_dag``): nothing would be pruned."""
    has_out = has_in = 0
    for b, (x, y) in enumerate(edges):
        if mask >> b & 1:
            has_out |= 1 << x
            has_in |= 1 << y
    full = (1 << n) - 1
    return has_out == full ^ (1 << (n - 1)) and has_in == full ^ 1


def canonical_cells(max_vertices: int = MAX_VERTICES) -> Iterator[int]:
    """Encodings of one cell per isomorphism class (at most 9 edges, nothing to prune), by vertex count."""
    for n in range(2, max_vertices + 1):
        edges = _edges(n)
        perms = [(0, *p, n - 1) for p in permutations(range(1, n - 1))]
        for mask in range(1 << len(edges)):
            if bin(mask).count("1") > MAX_EDGES or not _full_dag(mask, n, edges):
                continue
            stabiliser, canonical = [], True
            present = [(x, y) for b, (x, y) in enumerate(edges) if mask >> b & 1]
            for p in perms:
                if any(p[x] > p[y] for x, y in present):
                    continue
                image = sum(1 << edge_bit(p[x], p[y]) for x, y in present)
                if image < mask:
                    canonical = False
                    break
                if image == mask:
                    stabiliser.append(p)
            if not canonical:
                continue
            matrix_code = (n - 2) | mask << EDGE_SHIFT
            for labels in product(range(len(OPS)), repeat=n - 2):
                if all(labels <= _relabel(labels, p) for p in stabiliser):
                    yield matrix_code | sum(op << (OP_SHIFT + OP_BITS * i) for i, op in enumerate(labels))


def _relabel(labels: tuple[int, ...], p: tuple[int, ...]) -> tuple[int, ...]:
    out = [0] * len(labels)
    for v, op in enumerate(labels, start=1):
        out[p[v] - 1] = op
    return tuple(out)


def table_digest(encodings: np.ndarray, hashes: np.ndarray) -> str:
    h = hashlib.sha256(encodings.astype("<i8").tobytes())
    h.update(hashes.astype("S16").tobytes())
    return h.hexdigest()


def space_hash(module: str) -> str:
    """The space's 16-hex canonical hash of a cell with this module hash (``Space.canonical_hash``'s formula)."""
    return hashlib.blake2b(f"nb101:{module}".encode(), digest_size=8).hexdigest()


def compute_table(workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(sorted encodings int64, canonical hashes S16) of every unique cell. Hashing dominates
    (about a minute on one core), so it is spread over ``workers`` processes (default: every core)."""
    encodings = np.fromiter(canonical_cells(), dtype=np.int64)
    encodings.sort()
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        return encodings, _hash_chunk(encodings)
    chunks = np.array_split(encodings, workers * 4)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return encodings, np.concatenate(list(pool.map(_hash_chunk, chunks)))


def _hash_chunk(encodings: np.ndarray) -> np.ndarray:
    return np.array([space_hash(module_hash(*unpack(int(c)))) for c in encodings], dtype="S16")


def rebuild() -> tuple[np.ndarray, np.ndarray]:
    """Compute the table, check its count and digest, and write it to the cache atomically."""
    encodings, hashes = compute_table()
    if len(encodings) != SIZE or table_digest(encodings, hashes) != DIGEST:
        raise RuntimeError(f"NB101 enumeration found {len(encodings)} cells with digest "
                           f"{table_digest(encodings, hashes)}; expected {SIZE} with {DIGEST}")
    path = cache_dir() / CACHE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, encodings=encodings, hashes=hashes)
    write_atomic(path, buf.getvalue())
    table.cache_clear()
    return encodings, hashes


def load_cached(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The table in ``path`` if it has exactly the expected count and digest, else None."""
    try:
        with np.load(path) as f:
            encodings, hashes = f["encodings"], f["hashes"]
    except (OSError, KeyError, ValueError, EOFError):
        return None
    if len(encodings) != SIZE or table_digest(encodings, hashes) != DIGEST:
        return None
    return encodings, hashes


def table_if_cached() -> tuple[np.ndarray, np.ndarray] | None:
    """The table when it is in memory or on disk; None rather than computing it."""
    if table.cache_info().currsize or (cache_dir() / CACHE_NAME).is_file():
        return table()
    return None


@lru_cache(maxsize=1)
def table() -> tuple[np.ndarray, np.ndarray]:
    """The cached table; computed and written (:func:`rebuild`) on first use, or when the file
    fails its check."""
    return load_cached(cache_dir() / CACHE_NAME) or rebuild()
