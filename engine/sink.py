"""Exactly-once Parquet output: part files committed atomically and listed in a manifest.

Layout of an output directory::

    DIR/_run.json          the run's config (written once; a rerun must match it)
    DIR/_manifest.jsonl    one JSON line per committed part: its file, batch ids, rows, bytes
    DIR/parts/part-*.parquet

A batch is done exactly when a manifest line names it and its part file is intact. A part is
written to a hidden temp file, fsynced and renamed before its manifest line is appended and
fsynced, so a crash at any moment leaves either a complete entry or an orphan that
:meth:`ResultSink.open` deletes. A torn last manifest line, a missing or truncated part file are
detected on open; their batches are simply scored again.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from .schema import RESULT_SCHEMA, VERSION, schema_with_config

log = logging.getLogger(__name__)

RUN_FILE = "_run.json"
MANIFEST = "_manifest.jsonl"
PARTS = "parts"


class ConfigMismatch(ValueError):
    """The output directory holds a run with a different config."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _read_manifest(out: Path) -> list[dict[str, Any]]:
    path = out / MANIFEST
    if not path.exists():
        return []
    entries = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                entry = json.loads(line)
                if not line.endswith("\n"):
                    raise ValueError("torn line")
                entries.append(entry)
            except ValueError:
                log.warning("manifest %s line %d is incomplete (interrupted write); ignoring it", path, n)
    return entries


def _part_ok(out: Path, entry: dict[str, Any]) -> bool:
    part = out / PARTS / entry["part"]
    try:
        if part.stat().st_size != entry["bytes"]:
            return False
        return pq.read_metadata(part).num_rows == entry["rows"]
    except (OSError, pa.ArrowException, KeyError):
        return False


class ResultSink:
    """Buffers result tables and commits them as parts; knows which batches are done."""

    def __init__(self, out: str | os.PathLike, config: dict[str, Any], rows_per_part: int = 65_536) -> None:
        self.out = Path(out)
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
        """Create the directory, or check and repair an existing one and load its done batches.

        Raises:
            ConfigMismatch: ``DIR/_run.json`` records a different config.
        """
        (self.out / PARTS).mkdir(parents=True, exist_ok=True)
        run_file = self.out / RUN_FILE
        if run_file.exists():
            previous = json.loads(run_file.read_text())
            if previous.get("config") != self.config:
                raise ConfigMismatch(
                    f"{self.out} holds a run with a different config; use another --out or remove it.\n"
                    f"  there: {json.dumps(previous.get('config'), sort_keys=True)}\n"
                    f"  now:   {json.dumps(self.config, sort_keys=True)}")
        else:
            write_atomic(run_file, json.dumps({"config": self.config, "version": VERSION}, indent=2,
                                              sort_keys=True).encode())
        entries = _read_manifest(self.out)
        good = [e for e in entries if _part_ok(self.out, e)]
        listed = {e["part"] for e in good}
        for entry in entries:
            if entry not in good:
                self.repaired.append(f"part {entry['part']} is missing or corrupt; its batches will be rescored")
        for path in (self.out / PARTS).iterdir():
            if path.name not in listed:
                if not path.name.startswith("."):
                    self.repaired.append(f"removed uncommitted part {path.name}")
                path.unlink()
        if len(good) != len(entries) or (entries and not (self.out / MANIFEST).read_text().endswith("\n")):
            write_atomic(self.out / MANIFEST, "".join(json.dumps(e) + "\n" for e in good).encode())
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
        """Commit buffered batches as one part file plus a manifest line."""
        if not self._buffer_batches:
            return
        table = pa.concat_tables(self._buffer).replace_schema_metadata(self.schema.metadata)
        name = f"part-{uuid.uuid4().hex[:16]}.parquet"
        parts = self.out / PARTS
        tmp = parts / f".{name}.tmp"
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, parts / name)
        _fsync_dir(parts)
        entry = {"part": name, "batches": self._buffer_batches, "rows": table.num_rows,
                 "bytes": (parts / name).stat().st_size}
        with open(self.out / MANIFEST, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.done.update(self._buffer_batches)
        self.rows_committed += table.num_rows
        self._buffer, self._buffer_rows, self._buffer_batches = [], 0, []


def read_results(out: str | os.PathLike, columns: Iterable[str] | None = None) -> pa.Table:
    """All committed rows of a sweep output directory (only parts its manifest lists)."""
    out = Path(out)
    entries = [e for e in _read_manifest(out) if _part_ok(out, e)]
    cols = list(columns) if columns is not None else None
    if not entries:
        schema = RESULT_SCHEMA
        if cols is not None:
            schema = pa.schema([schema.field(c) for c in cols])
        return schema.empty_table()
    tables = [pq.read_table(out / PARTS / e["part"], columns=cols) for e in entries]
    return pa.concat_tables(tables)
