"""Can the cluster host the actors a run asks for? Checked before starting and while running.

Ray queues an actor whose resources no node has, silently and for ever. So the driver packs the
requested actors onto the alive nodes' resources itself: when they do not fit it fails at once
(an embedded local Ray cannot grow), or, on a cluster it joined (which may autoscale), asks the
autoscaler for them and waits a bounded time, saying what it waits for.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import ray

from archscore.engine.run.errors import ResourcesUnavailable

log = logging.getLogger("archscore")


@dataclass(frozen=True)
class ActorShape:
    n: int
    cpus: float
    gpus: float

    def __str__(self) -> str:
        return (f"{self.n} actor{'s' if self.n != 1 else ''} x ({self.cpus:g} CPU, {self.gpus:g} GPU) = "
                f"{self.n * self.cpus:g} CPUs, {self.n * self.gpus:g} GPUs")


def alive_nodes() -> list[dict[str, float]]:
    """Total resources of each alive node."""
    return [dict(n.get("Resources", {})) for n in ray.nodes() if n.get("Alive")]


def fits(shape: ActorShape, nodes: list[dict[str, float]]) -> int:
    """How many of the actors fit on ``nodes`` (first fit, like Ray's packing of equal actors)."""
    free = [[n.get("CPU", 0.0), n.get("GPU", 0.0)] for n in nodes]
    placed = 0
    for _ in range(shape.n):
        for slot in free:
            if slot[0] + 1e-9 >= shape.cpus and slot[1] + 1e-9 >= shape.gpus:
                slot[0] -= shape.cpus
                slot[1] -= shape.gpus
                placed += 1
                break
    return placed


def describe_cluster(nodes: list[dict[str, float]]) -> str:
    if not nodes:
        return "the cluster has no alive node"
    cpus = sum(n.get("CPU", 0.0) for n in nodes)
    gpus = sum(n.get("GPU", 0.0) for n in nodes)
    return (f"the cluster has {cpus:g} CPUs and {'no' if not gpus else f'{gpus:g}'} GPUs on {len(nodes)} "
            f"node{'s' if len(nodes) != 1 else ''}")


def wait_for_resources(shape: ActorShape, timeout_s: float, poll_s: float = 2.0,
                       nodes_fn: Callable[[], list[dict[str, float]]] = alive_nodes,
                       should_stop: Callable[[], bool] = lambda: False) -> None:
    """Return once every actor of ``shape`` fits on the alive nodes.

    Raises:
        ResourcesUnavailable: they do not fit, and did not within ``timeout_s`` (0: at once).
    """
    nodes = nodes_fn()
    if fits(shape, nodes) == shape.n:
        return
    deadline = time.monotonic() + timeout_s
    if timeout_s > 0:
        _request_from_autoscaler(shape)
        log.warning("waiting up to %.0fs for the cluster to provide %s; %s", timeout_s, shape, describe_cluster(nodes))
    while time.monotonic() < deadline and not should_stop():
        time.sleep(min(poll_s, max(deadline - time.monotonic(), 0)))
        nodes = nodes_fn()
        if fits(shape, nodes) == shape.n:
            return
    if should_stop():
        from archscore.engine.run.errors import SweepInterrupted

        raise SweepInterrupted(f"stopped while waiting for the cluster to provide {shape}")
    hint = ("lower --actors, --cpus-per-actor or --gpus-per-actor" if shape.gpus == 0 or any(n.get("GPU") for n in nodes)
            else "this cluster has no GPUs: leave out --gpus-per-actor (CPU actors), or join a cluster with GPUs")
    waited = f" (waited {timeout_s:.0f}s; --resource-timeout sets the wait)" if timeout_s > 0 else ""
    raise ResourcesUnavailable(f"the run asks for {shape}, but {describe_cluster(nodes)}; only "
                               f"{fits(shape, nodes)} such actors fit{waited}. {hint[0].upper()}{hint[1:]}.")


def _request_from_autoscaler(shape: ActorShape) -> None:
    """Ask an autoscaling cluster for the actors' bundles (a no-op request elsewhere)."""
    try:
        from ray.autoscaler.sdk import request_resources

        bundle: dict[str, Any] = {"CPU": shape.cpus} | ({"GPU": shape.gpus} if shape.gpus else {})
        request_resources(bundles=[bundle] * shape.n)
    except Exception as exc:  # not an autoscaling cluster, or an older Ray: waiting still works
        log.debug("no autoscaler request: %s", exc)


def worker_device() -> str:
    """The device of this Ray worker: its assigned GPU, else the CPU (with every GPU hidden, so a
    CPU worker never touches a GPU that another owns)."""
    gpu_ids = ray.get_gpu_ids()
    if not gpu_ids:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        return "cpu"
    import torch

    # Ray sets CUDA_VISIBLE_DEVICES to the assigned ids, so the first visible device is ours.
    return "cuda:0" if torch.cuda.is_available() else "cpu"
