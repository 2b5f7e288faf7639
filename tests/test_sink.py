"""Exactly-once output: commits, resume, repair, one writer at a time, and every reader."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from archscore.engine.run.errors import LeaseHeld, LeaseLost
from archscore.engine.run.lease import LEASE_FILE, Lease
from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.engine.run.sink import (DATA, MANIFEST, STAGING, ConfigMismatch, ResultSink, ResultsWarning, Store,
                                   read_results)

PLAN = ScoringPlan("nb201", ("params", "flops"))


@pytest.fixture(scope="module")
def scorer():
    return Scorer(PLAN)


def table(scorer, batch_id, n=10):
    return scorer.score(WorkBatch(batch_id, 0, np.arange(batch_id * n, batch_id * n + n), batch_id * n))


def committed(tmp_path, scorer, batches, config=None, rows_per_part=1):
    sink = ResultSink(tmp_path, config or {}, rows_per_part=rows_per_part).open()
    for b in batches:
        sink.add(b, table(scorer, b))
    sink.flush()
    return sink


def test_commit_and_resume(tmp_path, scorer):
    committed(tmp_path, scorer, range(5), {"a": 1}, rows_per_part=40)
    assert read_results(tmp_path).num_rows == 100
    again = ResultSink(tmp_path, {"a": 1}).open()
    assert again.done == {0, 1, 2, 3, 4} and again.resumed_rows == 100
    with pytest.raises(ValueError, match="already written"):
        again.add(3, table(scorer, 3))


def test_parts_carry_config_and_version(tmp_path, scorer):
    committed(tmp_path, scorer, [0], {"space": "nb201"})
    part = next((tmp_path / DATA).iterdir())
    meta = pq.read_schema(part).metadata
    config = json.loads(meta[b"archscore.config"])
    assert config["space"] == "nb201" and b"archscore.version" in meta


def test_other_config_is_refused_naming_the_keys(tmp_path, scorer):
    committed(tmp_path, scorer, [0], {"a": 1, "input": {"sha256": "aa", "column": "arch"}})
    with pytest.raises(ConfigMismatch, match=r"input\.sha256: there \"aa\", now \"bb\"") as info:
        ResultSink(tmp_path, {"a": 1, "input": {"sha256": "bb", "column": "arch"}}).open()
    assert "column" not in str(info.value)  # only the keys that differ are named


def test_a_run_that_committed_nothing_does_not_block_another_config(tmp_path):
    ResultSink(tmp_path, {"data": "fashion-mnist:/nowhere"}).open()  # failed before its first commit
    ResultSink(tmp_path, {"data": "synthetic"}).open()


def test_orphan_parts_and_broken_entry_are_repaired(tmp_path, scorer):
    committed(tmp_path, scorer, [0, 1])
    some_part = next((tmp_path / DATA).iterdir()).read_bytes()
    # crashes: a staged part without its entry, a stray part in data/, a damaged entry
    (tmp_path / STAGING / "part-orphan.parquet").write_bytes(some_part)
    (tmp_path / DATA / "part-stray.parquet").write_bytes(some_part)
    broken = next(e for e in (tmp_path / MANIFEST).iterdir() if json.loads(e.read_text())["batches"] == [1])
    broken.write_text('{"part": "part-')
    again = ResultSink(tmp_path, {}).open()
    assert again.done == {0}
    assert len(list((tmp_path / DATA).iterdir())) == 1 and not list((tmp_path / STAGING).iterdir())
    assert len(list((tmp_path / MANIFEST).iterdir())) == 1
    assert any("uncommitted" in m for m in again.repaired) and any("corrupt" in m for m in again.repaired)
    assert read_results(tmp_path).num_rows == 20


def test_a_commit_interrupted_before_publishing_is_finished_on_open(tmp_path, scorer):
    committed(tmp_path, scorer, [0])
    part = next((tmp_path / DATA).iterdir())
    part.rename(tmp_path / STAGING / part.name)  # crash between the manifest entry and the move
    assert read_results(tmp_path).num_rows == 20  # readers of the manifest see it already
    again = ResultSink(tmp_path, {}).open()
    assert again.done == {0} and (tmp_path / DATA / part.name).exists()


def test_truncated_part_is_detected_and_its_batches_rescored(tmp_path, scorer):
    committed(tmp_path, scorer, [0, 1])
    entry = next(json.loads(e.read_text()) for e in (tmp_path / MANIFEST).iterdir()
                 if json.loads(e.read_text())["batches"] == [1])
    part = tmp_path / DATA / entry["part"]
    part.write_bytes(part.read_bytes()[:-20])
    again = ResultSink(tmp_path, {}).open()
    assert again.done == {0} and any("corrupt" in m for m in again.repaired)
    again.add(1, table(scorer, 1))
    again.flush()
    rows = read_results(tmp_path)
    assert rows.num_rows == 40 and sorted(set(rows.column("input_index").to_pylist())) == list(range(20))


def test_a_batch_committed_twice_is_read_once_and_repaired(tmp_path, scorer):
    committed(tmp_path, scorer, [0, 1])
    # a second writer's commit of batch 1 (the situation the lease prevents)
    other = ResultSink(tmp_path, {}, rows_per_part=1)
    other._run_written = True
    other.add(1, table(scorer, 1))
    other.flush()
    with pytest.warns(ResultsWarning, match="repeats batches"):
        rows = read_results(tmp_path)
    keys = list(zip(*(rows.column(c).to_pylist() for c in ("input_index", "estimator", "seed"))))
    assert len(keys) == len(set(keys)) == 40
    ResultSink(tmp_path, {}).open()  # the writer removes the extra entry and its part
    assert len(list((tmp_path / DATA).iterdir())) == 2


def test_repeated_rows_inside_parts_are_dropped_with_a_warning(tmp_path, scorer):
    sink = ResultSink(tmp_path, {}, rows_per_part=100).open()
    sink.add(0, table(scorer, 0))
    sink.add(1, table(scorer, 0))  # a damaged run: batch 1 holds batch 0's rows
    sink.flush()
    with pytest.warns(ResultsWarning, match="20 rows repeat"):
        assert read_results(tmp_path).num_rows == 20


def test_error_and_invalid_rows_have_null_scores(tmp_path):
    rows = Scorer(ScoringPlan("nb201", ("params",))).score(WorkBatch(0, 0, ["not an arch", 5], 0))
    scores, statuses = rows.column("score"), rows.column("status").to_pylist()
    assert statuses == ["invalid", "ok"] and scores.null_count == 1 and scores[1].as_py() > 0


def test_object_store_uri_path(tmp_path, scorer):
    """A URI goes through pyarrow's filesystems (here file://, as s3:// or gs:// would)."""
    uri = f"file://{tmp_path}/remote"
    committed(uri, scorer, [0, 1], {"a": 1})
    assert read_results(uri).num_rows == 40
    assert ResultSink(uri, {"a": 1}).open().done == {0, 1}


def test_whole_object_writes_when_rename_is_unavailable(tmp_path, scorer):
    """The object-store code path (single whole uploads, copy instead of rename) gives the same dataset."""
    sink = ResultSink(tmp_path, {}, rows_per_part=1)
    sink.store.local = False
    sink.open()
    sink.add(0, table(scorer, 0))
    assert not list((tmp_path / STAGING).iterdir())
    assert [p.name for p in (tmp_path / DATA).iterdir() if p.name.startswith(".")] == []
    assert read_results(tmp_path).num_rows == 20


def test_every_reader_opens_the_data_folder(tmp_path, scorer):
    """pandas, pyarrow, polars and duckdb read ``OUT/data`` and get exactly the committed rows."""
    polars = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    import pandas as pd

    committed(tmp_path, scorer, [0, 1, 2])
    (tmp_path / STAGING / "part-crashed.parquet").write_bytes(next((tmp_path / DATA).iterdir()).read_bytes())
    data = str(tmp_path / DATA)
    expected = read_results(tmp_path).num_rows
    assert expected == 60
    assert len(pd.read_parquet(data)) == expected
    assert pq.read_table(data).num_rows == expected
    assert polars.read_parquet(data).height == expected
    query = f"select count(*), count(score) from read_parquet('{data}')"
    assert duckdb.connect().execute(query).fetchall() == [(60, 60)]


# -- one writer at a time ------------------------------------------------------------------------

def test_a_second_writer_is_refused_naming_the_first(tmp_path):
    store = Store(tmp_path)
    first = Lease(store).acquire()
    try:
        with pytest.raises(LeaseHeld, match=rf"pid {os.getpid()} on host .*--takeover"):
            Lease(store).acquire()
    finally:
        first.release()
    assert not (tmp_path / LEASE_FILE).exists()
    Lease(store).acquire().release()


def test_a_killed_writers_lease_is_taken_over_at_once(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from archscore.engine.run.lease import Lease; from archscore.engine.run.sink import Store; "
        f"Lease(Store({str(tmp_path)!r})).acquire(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LeaseHeld):
            Lease(Store(tmp_path)).acquire()
    finally:
        holder.kill()
        holder.wait()
    Lease(Store(tmp_path)).acquire().release()  # its process is gone: the lease is stale


def test_an_expired_lease_is_taken_over_and_the_old_writer_stops(tmp_path):
    store = Store(tmp_path)
    old = Lease(store, ttl_s=0.2, renew_s=3600).acquire()
    record = json.loads((tmp_path / LEASE_FILE).read_text())
    record["host"] = "another-host"  # so that only its age can make it stale
    (tmp_path / LEASE_FILE).write_text(json.dumps(record))
    time.sleep(0.3)
    new = Lease(store).acquire()
    with pytest.raises(LeaseLost, match="taken over"):
        old.check()
    new.check()
    new.release()


def test_takeover_takes_a_live_lease(tmp_path):
    store = Store(tmp_path)
    first = Lease(store).acquire()
    with pytest.raises(LeaseHeld, match=f"pid {os.getpid()}"):  # alive: refused without --takeover
        Lease(store).acquire()
    second = Lease(store, takeover=True).acquire()
    assert json.loads(store.read(LEASE_FILE))["token"] == second.token
    with pytest.raises(LeaseLost, match="taken over"):  # the first writer stops before its next commit
        first.check()
    first.release()  # not its lease any more: it leaves the file alone
    assert json.loads(store.read(LEASE_FILE))["token"] == second.token
    second.release()
    assert store.read(LEASE_FILE) is None


def test_an_entry_that_repeats_one_batch_keeps_its_other_batches(tmp_path, scorer):
    committed(tmp_path, scorer, [0, 1], rows_per_part=100)  # one entry: batches 0 and 1
    other = ResultSink(tmp_path, {}, rows_per_part=100)
    other._run_written = True
    other.add(1, table(scorer, 1))  # a second writer's entry: batch 1 again, and batch 2
    other.add(2, table(scorer, 2))
    other.flush()
    with pytest.warns(ResultsWarning):
        rows = read_results(tmp_path)
    assert sorted(set(rows.column("input_index").to_pylist())) == list(range(30)) and rows.num_rows == 60
    again = ResultSink(tmp_path, {}).open()
    assert again.done == {0, 1, 2} and any("rewrote" in m for m in again.repaired)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)  # repaired: nothing is repeated any more
        assert read_results(tmp_path).num_rows == 60
    assert sum(pq.read_metadata(p).num_rows for p in (tmp_path / DATA).iterdir()) == 60
