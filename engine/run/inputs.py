"""Input streams: where the architectures of a sweep come from, read lazily in chunks.

Every source is deterministic given its description (so a rerun sees the same stream and can
skip what is already done) and never materialises more than one chunk, except sampling, which
draws ``n`` distinct architectures up front.
"""
from __future__ import annotations

import hashlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from abc import ABC, abstractmethod
from typing import Any, Iterable, Iterator

import numpy as np

from archscore._core import file_sha256
from archscore.spaces import Space

MSGPACK_MAX_ITEM_BYTES = 1 << 20  # one encoding of a msgpack stream may not exceed 1 MiB


class InputSource(ABC):
    """A deterministic stream of items (int encodings, bytes encodings or strings)."""

    @abstractmethod
    def chunks(self, space: Space, size: int) -> Iterator[Any]:
        """The items in chunks of at most ``size``."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What determines the stream's items (a resume must see an equal description)."""

    def info(self) -> dict[str, Any]:
        """Facts recorded with the run that do not change its items (a file's path, say)."""
        return {}

    def validate(self, space: Space) -> None:
        """Raise ``ValueError`` for what is wrong before anything starts (sizes, columns, no items)."""
        if next(iter(self.chunks(space, 1)), None) is None:
            raise ValueError("the input has no architectures")

    def count(self, space: Space) -> int | None:
        """Items per seed when known without reading the input."""
        return None


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _as_array_if_ints(chunk: list[Any]) -> Any:
    if chunk and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in chunk):
        return np.asarray(chunk, dtype=np.int64)
    return chunk


@dataclass(frozen=True)
class EnumerateAll(InputSource):
    """Every architecture of a finite space, in encoding order."""

    def chunks(self, space: Space, size: int) -> Iterator[Any]:
        if space.size is not None and isinstance(space.encode(next(space.enumerate())), int):
            for start in range(0, space.size, size):
                yield np.arange(start, min(start + size, space.size), dtype=np.int64)
            return
        for chunk in _batched(space.enumerate(), size):
            yield _as_array_if_ints([space.encode(a) for a in chunk])

    def describe(self) -> dict[str, Any]:
        return {"kind": "all"}

    def validate(self, space: Space) -> None:
        if space.size is None:
            raise ValueError(f"space {space.name!r} is not finite: --all needs an enumerable space; use --sample N")

    def count(self, space: Space) -> int | None:
        return space.size


@dataclass(frozen=True)
class Sample(InputSource):
    """``n`` distinct architectures drawn uniformly with ``seed``."""

    n: int
    seed: int = 0

    def chunks(self, space: Space, size: int) -> Iterator[Any]:
        archs = space.sample(self.n, np.random.default_rng(self.seed))
        for chunk in _batched(archs, size):
            yield _as_array_if_ints([space.encode(a) for a in chunk])

    def describe(self) -> dict[str, Any]:
        return {"kind": "sample", "n": self.n, "seed": self.seed}

    def validate(self, space: Space) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise ValueError(f"--sample must be a positive number of architectures, got {self.n!r}")
        if space.size is not None and self.n > space.size:
            raise ValueError(f"--sample {self.n:,} exceeds the {space.size:,} architectures of space "
                             f"{space.name!r}; use --all to score every one")

    def count(self, space: Space) -> int | None:
        return self.n


@dataclass(frozen=True)
class FromFile(InputSource):
    """Architectures from a file.

    - ``.parquet`` / ``.csv``: column ``arch`` (strings in the space's form, or int encodings).
    - ``.msgpack``: a stream of msgpack objects, each an encoding (int or bytes) or a string;
      unpacked with size limits so a corrupt file cannot exhaust memory.
    - ``.json``: a NASLib zero-cost file (``zc_nasbench{101,201,301}.json``): its architectures,
      in the file's order, parsed as :func:`~archscore.engine.evaluation.truth.load_naslib` does,
      so a sweep scores exactly the cells ``evaluate --truth`` of the same file ranks.
    - anything else: text, one architecture per line in the space's string form; blank lines
      are skipped, every other line is one input item (a bad one becomes an ``invalid`` row).
    """

    path: str
    column: str = "arch"

    def chunks(self, space: Space, size: int) -> Iterator[Any]:
        path = Path(self.path)
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            if self.column not in pf.schema_arrow.names:
                raise ValueError(f"{path} has no column {self.column!r}; columns: {pf.schema_arrow.names}")
            for batch in pf.iter_batches(batch_size=size, columns=[self.column]):
                yield _as_array_if_ints(batch.column(0).to_pylist())
        elif suffix == ".csv":
            import pyarrow.csv as pcsv

            reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 20))
            if self.column not in reader.schema.names:
                raise ValueError(f"{path} has no column {self.column!r}; columns: {reader.schema.names}")
            pending: list[Any] = []
            for batch in reader:
                pending.extend(batch.column(self.column).to_pylist())
                while len(pending) >= size:
                    yield _as_array_if_ints(pending[:size])
                    pending = pending[size:]
            if pending:
                yield _as_array_if_ints(pending)
        elif suffix == ".json":
            from archscore.engine.evaluation.truth import load_naslib

            archs = load_naslib(path, space=space.name)[0].column("arch").to_pylist()
            yield from _batched(archs, size)
        elif suffix in (".msgpack", ".mpk"):
            import msgpack

            with open(path, "rb") as fh:
                unpacker = msgpack.Unpacker(fh, raw=False, max_buffer_size=MSGPACK_MAX_ITEM_BYTES,
                                            max_bin_len=MSGPACK_MAX_ITEM_BYTES, max_str_len=MSGPACK_MAX_ITEM_BYTES,
                                            max_array_len=4096, max_map_len=0)
                count = 0
                chunk: list[Any] = []
                while True:
                    try:
                        item = next(unpacker)
                    except StopIteration:
                        left = os.fstat(fh.fileno()).st_size - unpacker.tell()
                        if left:
                            raise ValueError(f"{path}: msgpack stream is truncated: item {count + 1} is incomplete "
                                             f"(the last {left} bytes do not form a whole item)") from None
                        break
                    except (ValueError, msgpack.UnpackException) as exc:
                        if isinstance(exc, msgpack.BufferFull) or "exceeds max" in str(exc):
                            raise ValueError(f"{path}: item {count + 1} exceeds the limits of an architecture "
                                             f"({MSGPACK_MAX_ITEM_BYTES} bytes, 4096 array entries)") from None
                        raise ValueError(f"{path}: not a msgpack stream of architectures (item {count + 1}: "
                                         f"{str(exc) or type(exc).__name__})") from None
                    count += 1
                    chunk.append(item)
                    if len(chunk) == size:
                        yield _as_array_if_ints(chunk)
                        chunk = []
                if chunk:
                    yield _as_array_if_ints(chunk)
        else:
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = (line.strip() for line in fh)
                yield from _batched((line for line in lines if line), size)

    def _tabular(self) -> bool:
        return Path(self.path).suffix.lower() in (".parquet", ".pq", ".csv")

    def describe(self) -> dict[str, Any]:
        """Keyed on the file's content (not its name or mtime) and, for tables, the column."""
        return {"kind": "file", "sha256": file_sha256(self.path), "column": self.column if self._tabular() else None}

    def info(self) -> dict[str, Any]:
        return {"path": os.path.abspath(self.path)}

    def validate(self, space: Space) -> None:
        if not Path(self.path).is_file():
            raise ValueError(f"--input {self.path!r} is not a file")
        try:
            super().validate(space)
        except ValueError as exc:
            message = str(exc)  # the readers name the file already: say which option gave it, once
            named = message.startswith((str(self.path), str(Path(self.path))))
            raise ValueError(f"--input {message}" if named else f"--input {self.path}: {message}") from None


@dataclass(frozen=True)
class FromIterable(InputSource):
    """Items from a Python iterable (Python API). ``name`` identifies it for resuming."""

    items: Any
    name: str = "iterable"

    def chunks(self, space: Space, size: int) -> Iterator[Any]:
        src = self.items() if callable(self.items) else self.items
        for chunk in _batched(src, size):
            yield _as_array_if_ints(chunk)

    def describe(self) -> dict[str, Any]:
        """Keyed on the items' content when they are a concrete sequence; a generator is keyed
        on ``name`` alone (it cannot be read twice), so give each distinct stream its own name."""
        if isinstance(self.items, (list, tuple, range, np.ndarray)):
            digest = hashlib.sha256()
            for item in self.items:
                digest.update(repr(item.item() if isinstance(item, np.generic) else item).encode() + b"\n")
            return {"kind": "iterable", "name": self.name, "sha256": digest.hexdigest()}
        return {"kind": "iterable", "name": self.name}

    def validate(self, space: Space) -> None:
        if callable(self.items) or isinstance(self.items, (list, tuple, np.ndarray, range)):
            super().validate(space)  # a one-shot iterator cannot be peeked; an empty one fails later
