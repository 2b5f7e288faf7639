"""Actor placement on Ray's logical GPUs (a CPU machine started with num_gpus=2)."""
import pytest
import ray

from archscore.engine.sweep.actors import make_actor_class
from archscore.engine.sweep.scoring import ScoringPlan

PLAN = ScoringPlan("nb201", ("params",))


def infos(num_gpus, n):
    cls = make_actor_class(num_cpus=0.25, num_gpus=num_gpus)
    actors = [cls.remote(PLAN) for _ in range(n)]
    try:
        return ray.get([a.info.remote() for a in actors], timeout=120)
    finally:
        for a in actors:
            ray.kill(a)


def test_one_actor_per_gpu_sees_only_its_gpu(ray_session):
    got = infos(1, 2)
    assert sorted(i["gpu_ids"][0] for i in got) == ["0", "1"]
    for i in got:
        assert i["cuda_visible_devices"] == i["gpu_ids"][0]
        assert i["device"] == "cpu"  # logical GPUs only: torch finds no CUDA device and falls back
        assert f"[gpu {i['gpu_ids'][0]}]" in i["worker"]


@pytest.mark.slow
def test_fractional_gpus_pack_several_actors_per_gpu(ray_session):
    got = infos(0.5, 4)
    ids = sorted(i["gpu_ids"][0] for i in got)
    assert ids == ["0", "0", "1", "1"]


def test_cpu_actors_see_no_gpu(ray_session):
    for i in infos(0, 2):
        assert i["gpu_ids"] == [] and i["cuda_visible_devices"] == "" and i["device"] == "cpu"


def test_sweep_places_one_actor_per_gpu_by_default(ray_session, tmp_path):
    from archscore.engine import Sample, SweepConfig, read_results, run_sweep

    run_sweep(SweepConfig("nb201", ["params"], str(tmp_path), Sample(64), batch_size=8, progress=False,
                          cpus_per_actor=0.5))
    workers = set(read_results(tmp_path).column("worker").to_pylist())
    assert {w.rsplit("[", 1)[1] for w in workers} <= {"gpu 0]", "gpu 1]"} and len(workers) >= 1
