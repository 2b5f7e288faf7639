"""The scoring process keeps freed tensor memory for reuse (glibc hosts)."""
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt tuning needs glibc")

PROBE = """
import ctypes, sys
from archscore.engine.run.heap import retain_freed_memory
if sys.argv[1] == "tuned":
    assert retain_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096
size = 8 << 20  # a few-MB block, like one activation tensor
before = rss()
block = libc.malloc(size)
ctypes.memset(block, 1, size)
libc.free(block)
print(rss() - before)
"""


def _kept_after_free(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.slow
def test_freed_blocks_stay_in_the_process_only_when_tuned():
    assert _kept_after_free("default") < 1 << 20  # glibc mmaps the block and unmaps it on free
    assert _kept_after_free("tuned") > 6 << 20  # kept on the heap, ready for the next tensor


def test_cpu_actor_reports_the_tuned_heap(ray_session):
    import ray

    from archscore.engine.sweep.actors import make_actor_class
    from archscore.engine.sweep.scoring import ScoringPlan

    actor = make_actor_class(num_cpus=0.25, num_gpus=0).remote(ScoringPlan("nb201", ("params",)))
    try:
        assert ray.get(actor.info.remote(), timeout=120)["heap_tuned"] is True
    finally:
        ray.kill(actor)
