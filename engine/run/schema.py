"""The one results schema shared by sweeps, published-score loaders and Tune trials."""
from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from archscore._core import VERSION


STATUS_OK = "ok"
STATUS_ERROR = "error"          # the estimator raised, or the worker died on this architecture
STATUS_INVALID = "invalid"      # the input could not be decoded into an architecture
STATUS_NONFINITE = "nonfinite"  # the estimator returned NaN or +-Inf
STATUSES = (STATUS_OK, STATUS_ERROR, STATUS_INVALID, STATUS_NONFINITE)

RESULT_SCHEMA = pa.schema([
    pa.field("space", pa.string(), nullable=False),
    pa.field("arch", pa.string(), nullable=False),        # the space's string form (raw input if invalid)
    pa.field("encoding", pa.binary()),                     # msgpack of the compact encoding
    pa.field("hash", pa.string()),                         # canonical (isomorphism-free) hash
    pa.field("estimator", pa.string(), nullable=False),
    pa.field("seed", pa.int64(), nullable=False),
    pa.field("score", pa.float64()),
    pa.field("status", pa.string(), nullable=False),
    pa.field("error", pa.string()),
    pa.field("seconds", pa.float64()),
    pa.field("input_index", pa.int64(), nullable=False),  # position in the input stream
    pa.field("worker", pa.string()),
    pa.field("version", pa.string(), nullable=False),
])

CONFIG_KEY = b"archscore.config"
VERSION_KEY = b"archscore.version"


def schema_with_config(config: dict[str, Any]) -> pa.Schema:
    """The results schema stamped with the run's config and the package version."""
    return RESULT_SCHEMA.with_metadata({
        CONFIG_KEY: json.dumps(config, sort_keys=True).encode(),
        VERSION_KEY: VERSION.encode(),
    })


def config_of(schema: pa.Schema) -> dict[str, Any]:
    meta = schema.metadata or {}
    return json.loads(meta[CONFIG_KEY]) if CONFIG_KEY in meta else {}


def table_to_ipc(table: pa.Table) -> bytes:
    """Compressed Arrow IPC bytes: small enough for Ray to inline in the reply (no object store)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()
