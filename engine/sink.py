"""Exactly-once Parquet output: part files committed atomically, each with a manifest entry.

Layout of an output location (a local directory, or any URI pyarrow's filesystems open, such as
``s3://bucket/prefix`` or ``gs://...``)::

    OUT/_run.json                    the run's config (written once; a rerun must match it)
    OUT/parts/part-<id>.parquet      result rows
    OUT/_manifest/part-<id>.json     the commit record of that part: batch ids, rows, bytes

A batch is done exactly when a manifest entry names it and its part is intact. Every file is
written whole or not at all: locally through a hidden temp file, fsync and rename; on object
stores by a single upload, which becomes visible only once complete. A part is written before its
entry, so a crash at any moment leaves either a committed pair or an orphan part, which
:meth:`ResultSink.open` deletes. Missing, truncated or unreadable parts and entries are detected
on open and their batches scored again.
"""
from __future__ import annotations

import io
import json
import logging
import os
import uuid
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .schema import RESULT_SCHEMA, VERSION, schema_with_config

log = logging.getLogger(__name__)

RUN_FILE = "_run.json"
MANIFEST = "_manifest"
PARTS = "parts"


class ConfigMismatch(ValueError):
    """The output location holds a run with a different config."""


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to the local ``path`` through a temp file, fsync and a rename."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(directory or ".")


class Store:
    """A directory on a local disk or an object store, with whole-file writes."""

    def __init__(self, out: str | os.PathLike) -> None:
        out = os.fspath(out)
        if "://" in out:
            self.fs, self.root = pafs.FileSystem.from_uri(out)
        else:
            self.fs, self.root = pafs.LocalFileSystem(), os.path.abspath(out)
        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        self.uri = out

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def makedirs(self, *parts: str) -> None:
        self.fs.create_dir(self.path(*parts), recursive=True)

    def write(self, rel: str, data: bytes) -> None:
        if self.local:
            write_atomic(self.path(rel), data)
        else:  # an object becomes visible only when its upload completes
            with self.fs.open_output_stream(self.path(rel)) as fh:
                fh.write(data)

    def read(self, rel: str) -> bytes | None:
        try:
            with self.fs.open_input_stream(self.path(rel)) as fh:
                return fh.read()
        except (FileNotFoundError, OSError):
            return None

    def list(self, rel: str) -> list[str]:
        selector = pafs.FileSelector(self.path(rel), allow_not_found=True)
        return sorted(info.base_name for info in self.fs.get_file_info(selector))

    def size(self, rel: str) -> int | None:
        info = self.fs.get_file_info(self.path(rel))
        return info.size if info.type == pafs.FileType.File else None

    def delete(self, rel: str) -> None:
        try:
            self.fs.delete_file(self.path(rel))
        except (FileNotFoundError, OSError):
            pass


def _entries(store: Store) -> tuple[list[dict[str, Any]], list[str]]:
    """Valid manifest entries whose parts are intact, and messages about the rest (deleted)."""
    good, problems = [], []
    for name in store.list(MANIFEST):
        if name.startswith(".") or not name.endswith(".json"):
            continue
        raw = store.read(f"{MANIFEST}/{name}")
        try:
            entry = json.loads(raw or b"")
            part = f"{PARTS}/{entry['part']}"
            ok = store.size(part) == entry["bytes"]
            if ok:
                with store.fs.open_input_file(store.path(part)) as fh:
                    ok = pq.read_metadata(fh).num_rows == entry["rows"]
        except (ValueError, KeyError, TypeError, OSError, pa.ArrowException):
            ok, entry = False, None
        if ok:
            good.append(entry)
        else:
            problems.append(f"manifest entry {name} or its part is missing or corrupt; its batches will be rescored")
    return good, problems


class ResultSink:
    """Buffers result tables and commits them as parts; knows which batches are done."""

    def __init__(self, out: str | os.PathLike, config: dict[str, Any], rows_per_part: int = 65_536) -> None:
        self.store = Store(out)
        self.out = self.store.uri
        self.config = config
        self.rows_per_part = rows_per_part
        self.schema = schema_with_config(config)
        self._buffer: list[pa.Table] = []
        self._buffer_rows = 0
        self._buffer_batches: list[int] = []
        self.done: set[int] = set()
        self.rows_committed = 0
        self.resumed_rows = 0
        self.repaired: list[str] = []

    def open(self) -> "ResultSink":
        """Create the location, or check and repair an existing one and load its done batches.

        Raises:
            ConfigMismatch: ``OUT/_run.json`` records a different config.
        """
        store = self.store
        store.makedirs(PARTS)
        store.makedirs(MANIFEST)
        previous = store.read(RUN_FILE)
        if previous is not None:
            recorded = json.loads(previous).get("config")
            if recorded != self.config:
                raise ConfigMismatch(
                    f"{self.out} holds a run with a different config; use another --out or remove it.\n"
                    f"  there: {json.dumps(recorded, sort_keys=True)}\n"
                    f"  now:   {json.dumps(self.config, sort_keys=True)}")
        else:
            store.write(RUN_FILE, json.dumps({"config": self.config, "version": VERSION}, indent=2,
                                             sort_keys=True).encode())
        good, self.repaired = _entries(store)
        good_names = {e["part"] for e in good}
        for name in store.list(MANIFEST):
            if not name.endswith(".json") or name[:-5] + ".parquet" not in good_names:
                store.delete(f"{MANIFEST}/{name}")
        for name in store.list(PARTS):
            if name not in good_names:
                if not name.startswith("."):
                    self.repaired.append(f"removed uncommitted part {name}")
                store.delete(f"{PARTS}/{name}")
        for entry in good:
            self.done.update(entry["batches"])
            self.resumed_rows += entry["rows"]
        for message in self.repaired:
            log.warning("%s: %s", self.out, message)
        return self

    def add(self, batch_id: int, table: pa.Table) -> None:
        """Buffer one finished batch; commits a part once enough rows are buffered."""
        if batch_id in self.done or batch_id in self._buffer_batches:
            raise ValueError(f"batch {batch_id} was already written")
        self._buffer.append(table)
        self._buffer_rows += table.num_rows
        self._buffer_batches.append(batch_id)
        if self._buffer_rows >= self.rows_per_part:
            self.flush()

    def flush(self) -> None:
        """Commit buffered batches: the part file, then its manifest entry."""
        if not self._buffer_batches:
            return
        table = pa.concat_tables(self._buffer).replace_schema_metadata(self.schema.metadata)
        stem = f"part-{uuid.uuid4().hex[:16]}"
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        data = buf.getvalue()
        self.store.write(f"{PARTS}/{stem}.parquet", data)
        entry = {"part": f"{stem}.parquet", "batches": self._buffer_batches, "rows": table.num_rows,
                 "bytes": len(data)}
        self.store.write(f"{MANIFEST}/{stem}.json", json.dumps(entry).encode())
        self.done.update(self._buffer_batches)
        self.rows_committed += table.num_rows
        self._buffer, self._buffer_rows, self._buffer_batches = [], 0, []


def read_results(out: str | os.PathLike, columns: Iterable[str] | None = None) -> pa.Table:
    """All committed rows of a sweep output (only parts with a valid manifest entry)."""
    store = Store(out)
    entries, _ = _entries(store)
    cols = list(columns) if columns is not None else None
    if not entries:
        schema = RESULT_SCHEMA if cols is None else pa.schema([RESULT_SCHEMA.field(c) for c in cols])
        return schema.empty_table()
    tables = []
    for entry in sorted(entries, key=lambda e: min(e["batches"], default=0)):
        with store.fs.open_input_file(store.path(PARTS, entry["part"])) as fh:
            tables.append(pq.read_table(fh, columns=cols))
    return pa.concat_tables(tables)
