"""cluster.yaml is a valid Ray cluster-launcher config (Ray's own schema and defaults)."""
from pathlib import Path

import yaml

CLUSTER = Path(__file__).resolve().parents[1] / "cluster.yaml"


def test_cluster_yaml_passes_rays_validation():
    # a private Ray API: pinned here so that a Ray upgrade that changes it is noticed
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load(CLUSTER.read_text())
    prepared = prepare_config(config)
    validate_config(prepared)
    types = prepared["available_node_types"]
    assert types["gpu_worker"]["resources"]["GPU"] == 1 and types["gpu_worker"]["max_workers"] >= 1
    assert types["head"]["resources"]["CPU"] == 0
    assert any("pip install" in c and "archscore" in c for c in prepared["setup_commands"])
    head = " ".join(prepared["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head  # never unauthenticated in public


def test_the_job_submission_flow_is_installed():
    """The README's `ray job submit` flow needs ray[default]; the package depends on it."""
    from ray.job_submission import JobSubmissionClient  # noqa: F401
    import aiohttp  # noqa: F401  (the dashboard's server, part of ray[default])


def test_a_broken_config_is_rejected():
    import pytest
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load(CLUSTER.read_text())
    config["available_node_types"]["gpu_worker"]["max_workers"] = "many"
    with pytest.raises(Exception):
        validate_config(prepare_config(config))
