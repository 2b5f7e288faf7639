"""Shared fixtures: one Ray instance per test session, and the shared data folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def data_path(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the shared data file {path} (absent here; CI always has it)")
    return path


@pytest.fixture(scope="session")
def ray_session():
    """A small local Ray, started once for every test that needs it."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    root = str(Path(__file__).resolve().parents[1])  # workers import tests.chaos_plugin
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    import ray

    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, object_store_memory=200 * 1024 * 1024,
             log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _no_leaked_ray_resources(request):
    """A test that leaves an actor or a task holding CPUs in the shared cluster makes a later test
    wait for resources that never free (a Tune trial then hangs): fail the test that leaked."""
    yield
    if "ray_session" not in request.fixturenames:
        return
    import time

    import ray

    if not ray.is_initialized():
        return
    total = ray.cluster_resources()
    deadline = time.monotonic() + 30  # killed actors release their resources asynchronously
    while True:
        free = ray.available_resources()
        in_use = {k: total.get(k, 0.0) - free.get(k, 0.0) for k in ("CPU", "GPU")}
        held = {k: v for k, v in in_use.items() if v > 1e-6}
        if not held or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not held, f"the test left Ray resources held after it ended: {held}"
