"""Faults: killed actors, poison architectures, a killed driver; exactly-once output throughout."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest

from archscore.engine import Sample, SweepConfig, read_results, run_sweep
from archscore.engine.run.sink import MANIFEST

PLUGIN = ["tests.chaos_plugin"]


def rows_by_key(out):
    rows = read_results(out).to_pylist()
    keys = [(r["input_index"], r["estimator"], r["seed"]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicated rows"
    return {(r["input_index"], r["estimator"], r["seed"]): r for r in rows}


def echo_config(out, n=300, **echo):
    return SweepConfig("nb201", ["echo", "params"], str(out), Sample(n, seed=5), seeds=[0, 1], batch_size=10,
                       estimator_config={"echo": echo}, gpus_per_actor=0, progress=False, plugins=PLUGIN,
                       rows_per_part=40)


@pytest.mark.slow
def test_actor_killed_mid_run_loses_nothing(ray_session, tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    killed = []

    def chaos():
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            found = sorted(p for p in pids.iterdir() if int(p.name) != os.getpid())  # not the driver
            if len(found) >= 2:
                time.sleep(0.5)
                try:
                    os.kill(int(found[0].name), signal.SIGKILL)
                    killed.append(found[0].name)
                except ProcessLookupError:  # gone already: the assertion below reports it
                    return
            time.sleep(0.1)

    thread = threading.Thread(target=chaos)
    thread.start()
    summary = run_sweep(echo_config(tmp_path / "out", sleep=0.1, pid_dir=str(pids)))  # about 3 s of work
    thread.join()
    assert killed and summary.stats.retried >= 1
    rows = rows_by_key(tmp_path / "out")
    assert len(rows) == 300 * 2 * 2
    assert all(r["status"] == "ok" for r in rows.values())
    for r in rows.values():
        if r["estimator"] == "echo":
            assert r["score"] == msgpack.unpackb(r["encoding"]) + r["seed"]


@pytest.mark.slow
def test_poison_architecture_is_isolated_and_the_rest_score(ray_session, tmp_path):
    from archscore.spaces import get_space

    space = get_space("nb201")
    archs = space.sample(40, np.random.default_rng(5))
    poison = space.encode(archs[17])
    summary = run_sweep(SweepConfig("nb201", ["echo"], str(tmp_path), Sample(40, seed=5), batch_size=8,
                                    estimator_config={"echo": {"kill": [poison]}}, gpus_per_actor=0,
                                    progress=False, plugins=PLUGIN))
    rows = rows_by_key(tmp_path)
    assert len(rows) == 40
    bad = [r for r in rows.values() if r["status"] != "ok"]
    assert len(bad) == 1 and bad[0]["input_index"] == 17
    assert bad[0]["status"] == "error" and "failed its worker twice" in bad[0]["error"]
    assert summary.stats.isolated == 1 and summary.stats.split >= 3


DRIVER = textwrap.dedent("""
    import sys
    from archscore.engine import Sample, SweepConfig, run_sweep
    run_sweep(SweepConfig("nb201", ["echo", "params"], sys.argv[1], Sample(300, seed=5), seeds=[0, 1],
                          batch_size=10, estimator_config={"echo": {"sleep": 0.05}}, gpus_per_actor=0,
                          progress=False, plugins=["tests.chaos_plugin"], rows_per_part=40, address=sys.argv[2]))
""")


@pytest.mark.slow
def test_driver_killed_then_resumed_equals_an_uninterrupted_run(ray_session, tmp_path):
    out = tmp_path / "killed"
    address = ray_session.get_runtime_context().gcs_address
    env = {**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"]}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(out), address], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        manifest = out / MANIFEST
        if manifest.exists() and len(list(manifest.iterdir())) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(read_results(out))
    assert 0 < partial < 1200
    summary = run_sweep(echo_config(out, sleep=0.05))  # same config: resumes
    assert summary.rows_resumed == partial
    clean = tmp_path / "clean"
    run_sweep(echo_config(clean, sleep=0.0))
    resumed, reference = rows_by_key(out), rows_by_key(clean)
    assert resumed.keys() == reference.keys() and len(resumed) == 1200
    assert all(resumed[k]["score"] == reference[k]["score"] for k in reference)


@pytest.mark.slow
def test_dead_actors_are_replaced_when_restarts_run_out(ray_session):
    import ray

    from archscore.engine.sweep.actors import make_actor_class
    from archscore.engine.sweep.scheduler import Scheduler
    from archscore.engine.sweep.scoring import ScoringPlan, WorkBatch

    plan = ScoringPlan("nb201", ("echo",), estimator_config={"echo": {"kill": [3]}}, plugins=tuple(PLUGIN))
    cls = make_actor_class(num_cpus=0.5, num_gpus=0, max_restarts=0)
    scheduler = Scheduler(lambda: cls.remote(plan), n_actors=1, max_in_flight=1)
    done = {}
    stats = scheduler.run(iter([WorkBatch(0, 0, np.arange(6), 0), WorkBatch(1, 0, np.arange(6, 12), 6)]),
                          on_done=lambda b, t: done.setdefault(b, t), failure_rows=_failure_rows())
    scheduler.shutdown()
    assert stats.actors_replaced >= 1 and stats.isolated == 1
    assert sorted(done) == [0, 1] and done[0].num_rows == 6


def _failure_rows():
    from archscore.engine.sweep.scoring import RowBuilder
    from archscore.spaces import get_space

    return RowBuilder(get_space("nb201"), ["echo"], "driver").failure_rows
