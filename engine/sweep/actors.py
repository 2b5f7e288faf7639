"""The scorer actor: one per GPU (or per CPU slot), holding a :class:`archscore.engine.sweep.scoring.Scorer`.

Models, scorers and the fixed data batch are built once in ``__init__`` and reused for every
batch. The device comes from the GPUs Ray assigned to the actor; an actor given no GPU hides all
GPUs from itself (Ray 2.6x no longer does that for ``num_gpus=0``), so a CPU slot never touches
a GPU that another actor owns.
"""
from __future__ import annotations

import os
import socket
from typing import Any

import ray

from archscore.engine.run.heap import retain_freed_memory
from archscore.engine.run.resources import worker_device
from archscore.engine.run.schema import table_to_ipc
from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch


class ScorerActor:
    def __init__(self, plan: ScoringPlan, threads: int | None = None) -> None:
        self.device = worker_device()
        self.heap_tuned = retain_freed_memory()
        if threads:
            import torch

            torch.set_num_threads(threads)
        self.gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        worker = f"{socket.gethostname()}/{os.getpid()}/{self.device}" + (
            f"[gpu {','.join(self.gpu_ids)}]" if self.gpu_ids else "")
        self.scorer = Scorer(plan, device=self.device, worker=worker)

    def score(self, batch: WorkBatch) -> bytes:
        """Result rows as compressed Arrow IPC (see :func:`archscore.engine.run.schema.table_to_ipc`)."""
        return table_to_ipc(self.scorer.score(batch))

    def ping(self) -> bool:
        return True

    def info(self) -> dict[str, Any]:
        """Where this actor runs and what it sees (for placement checks)."""
        return {"pid": os.getpid(), "host": socket.gethostname(), "device": self.device,
                "gpu_ids": self.gpu_ids, "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "worker": self.scorer.worker, "heap_tuned": self.heap_tuned}


def make_actor_class(num_cpus: float, num_gpus: float, max_restarts: int = 3) -> Any:
    """The Ray actor class with its resources; failures are retried by the scheduler, not Ray."""
    return ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=max_restarts,
                      max_task_retries=0)(ScorerActor)
