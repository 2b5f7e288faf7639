"""Exactly-once output: commits, resume, and repair of interrupted or corrupt state."""
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from archscore.engine.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.engine.sink import MANIFEST, PARTS, ConfigMismatch, ResultSink, read_results

PLAN = ScoringPlan("nb201", ("params", "flops"))


@pytest.fixture(scope="module")
def scorer():
    return Scorer(PLAN)


def table(scorer, batch_id, n=10):
    return scorer.score(WorkBatch(batch_id, 0, np.arange(batch_id * n, batch_id * n + n), batch_id * n))


def test_commit_and_resume(tmp_path, scorer):
    sink = ResultSink(tmp_path, {"a": 1}, rows_per_part=40).open()
    for b in range(5):
        sink.add(b, table(scorer, b))
    sink.flush()
    assert read_results(tmp_path).num_rows == 100
    again = ResultSink(tmp_path, {"a": 1}).open()
    assert again.done == {0, 1, 2, 3, 4} and again.resumed_rows == 100
    with pytest.raises(ValueError, match="already written"):
        again.add(3, table(scorer, 3))


def test_parts_carry_config_and_version(tmp_path, scorer):
    sink = ResultSink(tmp_path, {"space": "nb201"}).open()
    sink.add(0, table(scorer, 0))
    sink.flush()
    part = next((tmp_path / PARTS).iterdir())
    meta = pq.read_schema(part).metadata
    assert json.loads(meta[b"archscore.config"]) == {"space": "nb201"} and b"archscore.version" in meta


def test_other_config_is_refused(tmp_path):
    ResultSink(tmp_path, {"a": 1}).open()
    with pytest.raises(ConfigMismatch, match="different config"):
        ResultSink(tmp_path, {"a": 2}).open()


def test_orphan_part_and_broken_entry_are_repaired(tmp_path, scorer):
    sink = ResultSink(tmp_path, {}, rows_per_part=1).open()
    sink.add(0, table(scorer, 0))
    sink.add(1, table(scorer, 1))
    # a crash after a part was written but before its entry; a damaged entry; a leftover temp file
    (tmp_path / PARTS / "part-orphan.parquet").write_bytes((tmp_path / PARTS / next(
        p.name for p in (tmp_path / PARTS).iterdir())).read_bytes())
    entries = sorted((tmp_path / MANIFEST).iterdir())
    broken = next(e for e in entries if json.loads(e.read_text())["batches"] == [1])
    broken.write_text('{"part": "part-')
    (tmp_path / PARTS / ".part-x.parquet.tmp").write_bytes(b"half a file")
    again = ResultSink(tmp_path, {}).open()
    assert again.done == {0}
    assert len(list((tmp_path / PARTS).iterdir())) == 1 and len(list((tmp_path / MANIFEST).iterdir())) == 1
    assert any("uncommitted" in m for m in again.repaired) and any("corrupt" in m for m in again.repaired)
    assert read_results(tmp_path).num_rows == 20


def test_truncated_part_is_detected_and_its_batches_rescored(tmp_path, scorer):
    sink = ResultSink(tmp_path, {}, rows_per_part=1).open()
    sink.add(0, table(scorer, 0))
    sink.add(1, table(scorer, 1))
    entry = next(json.loads(e.read_text()) for e in (tmp_path / MANIFEST).iterdir()
                 if json.loads(e.read_text())["batches"] == [1])
    part = tmp_path / PARTS / entry["part"]
    part.write_bytes(part.read_bytes()[:-20])
    again = ResultSink(tmp_path, {}).open()
    assert again.done == {0} and any("corrupt" in m for m in again.repaired)
    again.add(1, table(scorer, 1))
    again.flush()
    rows = read_results(tmp_path)
    assert rows.num_rows == 40 and sorted(set(rows.column("input_index").to_pylist())) == list(range(20))


def test_object_store_uri_path(tmp_path, scorer):
    """A URI goes through pyarrow's filesystems (here file://, as s3:// or gs:// would)."""
    uri = f"file://{tmp_path}/remote"
    sink = ResultSink(uri, {"a": 1}, rows_per_part=1).open()
    sink.add(0, table(scorer, 0))
    sink.add(1, table(scorer, 1))
    assert read_results(uri).num_rows == 40
    assert ResultSink(uri, {"a": 1}).open().done == {0, 1}


def test_whole_object_writes_when_rename_is_unavailable(tmp_path, scorer):
    """The object-store code path (single whole upload, no rename) gives the same dataset."""
    sink = ResultSink(tmp_path, {}, rows_per_part=1)
    sink.store.local = False
    sink.open()
    sink.add(0, table(scorer, 0))
    assert not [p for p in (tmp_path / PARTS).iterdir() if p.name.startswith(".")]
    assert read_results(tmp_path).num_rows == 20
