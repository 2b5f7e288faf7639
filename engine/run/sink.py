"""Exactly-once Parquet output: parts staged, committed by a manifest entry, then published.

Layout of an output location (a local directory, or any URI pyarrow's filesystems open, such as
``s3://bucket/prefix`` or ``gs://...``)::

    OUT/data/part-<id>.parquet       committed result rows: the one path every reader opens
    OUT/_run.json                    the run's config (what determines the rows) and version
    OUT/_manifest/part-<id>.json     the commit record of a part: batch ids, rows, bytes
    OUT/_staging/part-<id>.parquet   a part written but not yet published
    OUT/_lease.json                  the running writer (see :mod:`archscore.engine.run.lease`)

A commit writes the part to ``_staging/``, then its manifest entry (the commit point), then moves
the part into ``data/`` (a rename locally; copy and delete on object stores). So ``data/`` only
ever holds committed parts, and pandas, pyarrow, polars and duckdb can read it directly. Every
file is written whole or not at all (temp file, fsync and rename locally; one upload on object
stores). :meth:`ResultSink.open` finishes interrupted publications, deletes staged parts without
an entry, and drops entries whose part is missing or corrupt (their batches are scored again).
A batch is committed at most once: if a damaged location holds two entries for one batch, the
first is kept and the other removed (by the writer) or skipped (by readers), with a warning.
"""
from __future__ import annotations

import io
import json
import logging
import os
import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from archscore._core import VERSION, fsync_dir, write_atomic

from archscore.engine.run.schema import RESULT_SCHEMA, schema_with_config

log = logging.getLogger(__name__)

RUN_FILE = "_run.json"
MANIFEST = "_manifest"
STAGING = "_staging"
DATA = "data"
ROW_KEY = ("input_index", "estimator", "seed")


class ConfigMismatch(ValueError):
    """The output location holds committed rows of a run with a different config."""


class ResultsWarning(UserWarning):
    """A results location was damaged; what was skipped is named in the message."""


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

    def exists(self) -> bool:
        return self.fs.get_file_info(self.root).type != pafs.FileType.NotFound

    def makedirs(self, *parts: str) -> None:
        self.fs.create_dir(self.path(*parts), recursive=True)

    def write(self, rel: str, data: bytes) -> None:
        if self.local:
            write_atomic(self.path(rel), data)
        else:  # an object becomes visible only when its upload completes
            with self.fs.open_output_stream(self.path(rel)) as fh:
                fh.write(data)

    def read(self, rel: str) -> bytes | None:
        """The file's bytes, or None if it does not exist. Other I/O errors are raised: a
        passing store error must never look like a missing (and so repairable) file."""
        try:
            with self.fs.open_input_stream(self.path(rel)) as fh:
                return fh.read()
        except FileNotFoundError:
            return None
        except OSError:
            if self.fs.get_file_info(self.path(rel)).type == pafs.FileType.NotFound:
                return None
            raise

    def list(self, rel: str) -> list[str]:
        selector = pafs.FileSelector(self.path(rel), allow_not_found=True)
        return sorted(info.base_name for info in self.fs.get_file_info(selector))

    def size(self, rel: str) -> int | None:
        info = self.fs.get_file_info(self.path(rel))
        return info.size if info.type == pafs.FileType.File else None

    def move(self, src: str, dst: str) -> None:
        """Move a whole file: an atomic rename locally, copy then delete on object stores."""
        if self.local:
            os.replace(self.path(src), self.path(dst))
            fsync_dir(os.path.dirname(self.path(dst)))
        else:
            self.fs.copy_file(self.path(src), self.path(dst))
            self.delete(src)

    def delete(self, rel: str) -> None:
        try:
            self.fs.delete_file(self.path(rel))
        except (FileNotFoundError, OSError):
            pass


@dataclass
class _Scan:
    """What an output location holds: usable entries (part in ``data/`` or still staged)."""

    entries: list[dict[str, Any]]
    problems: list[str]
    dropped: list[str]  # manifest entries not used (corrupt)
    #: valid entries that repeat a batch of an earlier entry (two writers); their other batches count
    overlapping: list[dict[str, Any]]


def _part_ok(store: Store, rel: str, entry: dict[str, Any]) -> bool:
    """Whether the part is there, whole and as long as its entry says. A part that cannot be
    read for another reason (a store error) raises instead of counting as corrupt."""
    if store.size(rel) != entry["bytes"]:
        return False
    with store.fs.open_input_file(store.path(rel)) as fh:
        try:
            return pq.read_metadata(fh).num_rows == entry["rows"]
        except pa.ArrowInvalid:  # not Parquet, or a torn footer
            return False


def _scan(store: Store) -> _Scan:
    """Valid manifest entries whose part is intact, at most one entry per batch id.

    Each entry gets ``"where"``: ``data`` (published) or ``staging`` (committed, not yet moved).
    Entries are taken in order of their smallest batch id, then name, so the choice is stable.
    """
    candidates, problems, dropped = [], [], []
    for name in store.list(MANIFEST):
        if name.startswith(".") or not name.endswith(".json"):
            continue
        raw = store.read(f"{MANIFEST}/{name}")  # a store error propagates: never repair on a hiccup
        try:
            entry = json.loads(raw or b"")
            part = entry["part"]
            if _part_ok(store, f"{DATA}/{part}", entry):
                entry["where"] = DATA
            elif _part_ok(store, f"{STAGING}/{part}", entry):
                entry["where"] = STAGING
            else:
                raise ValueError("part missing or corrupt")
            entry["manifest"] = name
            entry["batches"] = [int(b) for b in entry["batches"]]
        except (ValueError, KeyError, TypeError):
            problems.append(f"manifest entry {name} or its part is missing or corrupt; its batches will be rescored")
            dropped.append(name)
            continue
        candidates.append(entry)
    candidates.sort(key=lambda e: (min(e["batches"], default=-1), e["manifest"]))
    taken: set[int] = set()
    good, overlapping = [], []
    for entry in candidates:
        overlap = taken.intersection(entry["batches"])
        if overlap:
            problems.append(f"manifest entry {entry['manifest']} repeats batches {sorted(overlap)[:5]} committed by "
                            "another entry (two writers?); its repeated rows are left out")
            entry["repeats"] = sorted(overlap)
            overlapping.append(entry)
        else:
            good.append(entry)
        taken.update(entry["batches"])
    return _Scan(good, problems, dropped, overlapping)


def refuse_other_settings(store: "Store", rel: str, record: dict[str, Any], out: str, kind: str) -> None:
    """Refuse to continue a run in ``out`` whose recorded settings (the JSON file ``rel``) differ.

    Raises:
        ValueError: naming each differing setting with both values.
    """
    previous = store.read(rel)
    if previous is not None:
        there = json.loads(previous)
        if there != record:
            raise ValueError(f"{out} holds a {kind} run with other settings; use another --out. Differences:\n  "
                             + "\n  ".join(describe_differences(there, record)))


def describe_differences(there: Any, now: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like values, with both values."""
    if isinstance(there, dict) and isinstance(now, dict):
        out = []
        for key in sorted(set(there) | set(now), key=str):
            out += describe_differences(there.get(key), now.get(key), f"{prefix}{key}.")
        return out
    if there != now:
        return [f"{prefix.rstrip('.') or '(config)'}: there {json.dumps(there)}, now {json.dumps(now)}"]
    return []


class ResultSink:
    """Buffers result tables and commits them as parts; knows which batches are done.

    ``config`` is what determines the rows (a rerun resumes only with an equal config); ``info``
    is recorded beside it (paths, for example) but not compared.
    """

    def __init__(self, out: str | os.PathLike, config: dict[str, Any], rows_per_part: int = 65_536,
                 info: dict[str, Any] | None = None, flush_every_s: float = 30.0, lease: Any = None) -> None:
        self.store = Store(out)
        self.out = self.store.uri
        self.config = config
        self.info = info or {}
        self.rows_per_part = rows_per_part
        self.flush_every_s = flush_every_s
        self.lease = lease
        self.schema = schema_with_config({**config, "info": self.info})
        self._buffer: list[pa.Table] = []
        self._buffer_rows = 0
        self._buffer_batches: list[int] = []
        self._last_flush = time.monotonic()
        self._run_written = False
        #: while True, buffered rows are not committed (the driver's first-rows check is pending)
        self.hold = False
        self.done: set[int] = set()
        self.rows_committed = 0
        self.resumed_rows = 0
        self.repaired: list[str] = []

    def check_config(self) -> None:
        """Raise :class:`ConfigMismatch` if the location holds committed rows of another config.

        Read-only: safe to call before anything starts. A location whose earlier run committed
        nothing (it failed before its first commit) accepts any config.
        """
        previous = self.store.read(RUN_FILE)
        if previous is None or not _scan(self.store).entries:
            return
        try:
            recorded = json.loads(previous).get("config")
        except ValueError:
            recorded = None
        if recorded != self.config:
            diffs = describe_differences(recorded, self.config)
            raise ConfigMismatch(
                f"{self.out} holds rows of a run with a different config, so it cannot be resumed with this one; "
                "use another --out, or rerun with the original settings. Differences:\n  " + "\n  ".join(diffs))

    def open(self) -> "ResultSink":
        """Check the config, repair an existing location and load its done batches.

        Raises:
            ConfigMismatch: the location holds committed rows of a different config.
        """
        self.check_config()
        store = self.store
        for folder in (DATA, STAGING, MANIFEST):
            store.makedirs(folder)
        scan = _scan(store)
        self.repaired = list(scan.problems)
        for name in scan.dropped:
            store.delete(f"{MANIFEST}/{name}")
        for entry in scan.overlapping:
            self._rewrite_without_repeats(entry, scan.entries)
        scan = _scan(store)
        good = {e["part"] for e in scan.entries}
        for entry in scan.entries:
            if entry["where"] == STAGING:  # committed before a crash, not yet published: finish it
                store.move(f"{STAGING}/{entry['part']}", f"{DATA}/{entry['part']}")
                self.repaired.append(f"published committed part {entry['part']}")
        for folder in (STAGING, DATA):
            for name in store.list(folder):
                if name in good and folder == DATA:
                    continue
                if not name.startswith("."):
                    self.repaired.append(f"removed uncommitted part {folder}/{name}")
                store.delete(f"{folder}/{name}")
        for entry in scan.entries:
            self.done.update(entry["batches"])
            self.resumed_rows += entry["rows"]
        self._run_written = bool(scan.entries)
        for message in self.repaired:
            log.warning("%s: %s", self.out, message)
        return self

    def _rewrite_without_repeats(self, entry: dict[str, Any], kept: list[dict[str, Any]]) -> None:
        """Replace an entry that repeats committed batches by one holding only its new rows."""
        store = self.store
        keys = set()
        for other in kept:
            with store.fs.open_input_file(store.path(other["where"], other["part"])) as fh:
                t = pq.read_table(fh, columns=list(ROW_KEY))
            keys.update(zip(*(t.column(c).to_pylist() for c in ROW_KEY)))
        with store.fs.open_input_file(store.path(entry["where"], entry["part"])) as fh:
            table = pq.read_table(fh)
        mask = [k not in keys for k in zip(*(table.column(c).to_pylist() for c in ROW_KEY))]
        fresh = [b for b in entry["batches"] if b not in set(entry["repeats"])]
        if fresh and any(mask):
            self._buffer, self._buffer_rows, self._buffer_batches = [table.filter(mask)], sum(mask), fresh
            run_written, self._run_written = self._run_written, True
            self.flush()
            self._run_written = run_written
            self.done.clear()
            self.rows_committed = 0
        store.delete(f"{MANIFEST}/{entry['manifest']}")
        store.delete(f"{entry['where']}/{entry['part']}")
        self.repaired.append(f"rewrote {entry['part']} without the rows of batches {entry['repeats'][:5]} "
                             "that another entry had committed")

    def add(self, batch_id: int, table: pa.Table) -> None:
        """Buffer one finished batch; commits a part once enough rows or seconds have gathered."""
        if batch_id in self.done or batch_id in self._buffer_batches:
            raise ValueError(f"batch {batch_id} was already written")
        self._buffer.append(table)
        self._buffer_rows += table.num_rows
        self._buffer_batches.append(batch_id)
        if not self.hold and (self._buffer_rows >= self.rows_per_part
                              or time.monotonic() - self._last_flush >= self.flush_every_s):
            self.flush()

    def discard(self) -> None:
        """Forget buffered rows (a run error: nothing of it is committed)."""
        self._buffer, self._buffer_rows, self._buffer_batches = [], 0, []

    def flush(self) -> None:
        """Commit buffered batches: stage the part, write its manifest entry, publish the part."""
        self._last_flush = time.monotonic()
        if not self._buffer_batches:
            return
        if self.lease is not None:
            self.lease.check()
        if not self._run_written:
            self.store.write(RUN_FILE, json.dumps({"config": self.config, "info": self.info, "version": VERSION},
                                                  indent=2, sort_keys=True).encode())
            self._run_written = True
        table = pa.concat_tables(self._buffer).replace_schema_metadata(self.schema.metadata)
        stem = f"part-{uuid.uuid4().hex[:16]}"
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        data = buf.getvalue()
        self.store.write(f"{STAGING}/{stem}.parquet", data)
        entry = {"part": f"{stem}.parquet", "batches": self._buffer_batches, "rows": table.num_rows,
                 "bytes": len(data)}
        self.store.write(f"{MANIFEST}/{stem}.json", json.dumps(entry).encode())  # the commit point
        self.done.update(self._buffer_batches)
        self.rows_committed += table.num_rows
        self.discard()
        try:
            self.store.move(f"{STAGING}/{stem}.parquet", f"{DATA}/{stem}.parquet")
        except OSError as exc:  # committed all the same: readers of the manifest see it, open() publishes it
            log.warning("%s: publishing committed part %s to %s/ failed (%s); the next run publishes it",
                        self.out, stem, DATA, exc)


def read_results(out: str | os.PathLike, columns: Iterable[str] | None = None) -> pa.Table:
    """All committed rows of a sweep output, each (input_index, estimator, seed) once.

    Only parts named by a valid manifest entry are read. If a damaged location holds a batch
    twice, or a part repeats a row, the extra copies are left out and a :class:`ResultsWarning`
    says what was dropped.
    """
    store = Store(out)
    scan = _scan(store)
    for problem in scan.problems:
        warnings.warn(f"{store.uri}: {problem}", ResultsWarning, stacklevel=2)
    cols = list(columns) if columns is not None else None
    entries = scan.entries + scan.overlapping  # repeated rows are dropped below, the rest kept
    if not entries:
        schema = RESULT_SCHEMA if cols is None else pa.schema([RESULT_SCHEMA.field(c) for c in cols])
        return schema.empty_table()
    read_cols = None if cols is None else list(dict.fromkeys([*cols, *ROW_KEY]))
    tables = []
    for entry in entries:
        try:
            with store.fs.open_input_file(store.path(entry["where"], entry["part"])) as fh:
                tables.append(pq.read_table(fh, columns=read_cols))
        except FileNotFoundError:  # published by the running writer since the scan
            with store.fs.open_input_file(store.path(DATA, entry["part"])) as fh:
                tables.append(pq.read_table(fh, columns=read_cols))
    table = pa.concat_tables(tables)
    table = _drop_repeated_rows(table, store.uri)
    return table if cols is None else table.select(cols)


def _drop_repeated_rows(table: pa.Table, where: str) -> pa.Table:
    keys = table.select(list(ROW_KEY)).append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    first = keys.group_by(list(ROW_KEY), use_threads=False).aggregate([("_row", "min")])
    if first.num_rows == table.num_rows:
        return table
    warnings.warn(f"{where}: {table.num_rows - first.num_rows} rows repeat an (input_index, estimator, seed) "
                  "already read; only the first copy of each is returned", ResultsWarning, stacklevel=3)
    return table.take(pa.array(np.sort(first.column("_row_min").to_numpy())))
