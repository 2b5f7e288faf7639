"""Training a weight-sharing supernet under :class:`~.heuristics.Heuristics`, in plain torch.

One :class:`SupernetTrainer` owns the supernet, optimizer, schedule, path sampler and data split;
:meth:`SupernetTrainer.train_epoch` runs one epoch and :meth:`SupernetTrainer.state` /
:meth:`SupernetTrainer.from_state` give a checkpoint (everything needed to continue bit for bit:
weights, optimizer, step, random states). The engine decides where checkpoints go and on which
device and actor this runs; a Tune trial is a thin loop around ``train_epoch``.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..training import ImageData, Schedule, batches, make_optimizer, split
from .heuristics import Heuristics
from .sampling import PathSampler
from .scoring import CHECKPOINT_FORMAT, VALID_FRACTION, SubnetScorer


def check_settings(space: Any, macro: Any, heuristics: Heuristics) -> Any:
    """Refuse, before anything runs, heuristics this space's supernet or path sampler cannot take;
    returns the supernet's macro (the low-fidelity overrides applied). Builds nothing.

    Raises:
        ValueError: naming the setting.
    """
    h = heuristics.for_space(space)
    try:
        macro = macro.with_overrides(h.macro_overrides())
    except ValueError as exc:
        keys = " / ".join(k for k, v in (("init_channels", h.init_channels), ("cells_per_stage", h.cells_per_stage))
                          if v is not None)
        raise ValueError(f"heuristic {keys} sets the macro's C / N, which {space.name} does not have ({exc}); "
                         f"its macro: {', '.join(space.macro().as_dict())}") from None
    try:
        space.supernet_options(macro, **h.module_options())
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from None
    PathSampler(space, h.sampling, h.archs_per_step, np.random.default_rng(0), macro)
    return macro


class SupernetTrainer:
    def __init__(self, space: Any, macro: Any, heuristics: Heuristics, data: ImageData, data_spec: str,
                 input_shape: tuple[int, int, int], device: str = "cpu") -> None:
        import torch

        h = self.heuristics = heuristics.for_space(space)
        self.space, self.data, self.data_spec, self.device = space, data, data_spec, device
        self.macro = check_settings(space, macro, h)
        self.input_shape = input_shape
        torch.manual_seed(h.seed)
        self.model = space.supernet(self.macro, **h.module_options()).to(device)
        self.split = split(data, h.data_portion, VALID_FRACTION, seed=0)
        self.steps_per_epoch = -(-len(self.split.train) // h.batch_size)
        self.schedule = Schedule(h.lr, h.lr_schedule, h.epochs, self.steps_per_epoch, h.warmup_epochs,
                                 lr_min=h.lr_min)
        self.optimizer = make_optimizer(self.model.parameters(), h.lr, h.momentum, h.weight_decay, nesterov=False)
        self.rng = np.random.default_rng([h.seed, 2])
        self.sampler = PathSampler(space, h.sampling, h.archs_per_step, self.rng, self.macro)
        self.epoch = 0
        self.step = 0
        # path dropout draws from this trainer's own generator (on its device), so two trainers in
        # one process (a test, PBT) do not draw from each other's stream; it is checkpointed
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(h.seed)
        self.model.generator = self.generator

    def train_epoch(self) -> dict[str, float]:
        """One pass over the training split; each step trains the sampler's subnets on one batch,
        their gradients summed, then clips and steps once."""
        import torch
        import torch.nn.functional as F

        h = self.heuristics
        start = time.perf_counter()
        self.model.train()
        total_loss, correct, seen = 0.0, 0, 0
        train = self.split.train
        for x, y in batches(self.data, self.data.train_x[train], self.data.train_y[train], h.batch_size,
                            self.input_shape, self.rng, self.data.crop_flip, self.device):
            for group in self.optimizer.param_groups:
                group["lr"] = self.schedule(self.step)
            self.optimizer.zero_grad(set_to_none=h.grad_to_none)
            for arch in self.sampler.step():
                logits = self.model(x, self.space.subnet_key(arch))
                loss = F.cross_entropy(logits, y)
                loss.backward()
                total_loss += loss.item() * len(y)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
            if h.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), h.grad_clip)
            self.optimizer.step()
            self.step += 1
        self.epoch += 1
        if not np.isfinite(total_loss):
            raise FloatingPointError(f"supernet training diverged in epoch {self.epoch}")
        return {"epoch": self.epoch, "train_loss": total_loss / max(seen, 1),
                "train_accuracy": 100.0 * correct / max(seen, 1), "seconds": time.perf_counter() - start,
                "lr": self.schedule(max(self.step - 1, 0))}

    def scorer(self, eval_batches: int = 4, batch_size: int = 256) -> SubnetScorer:
        return SubnetScorer(self.model, self.space, self.data, self.split, self.input_shape, eval_batches,
                            batch_size, self.heuristics.bn_recalibrate_batches, self.device)

    def state(self) -> dict[str, Any]:
        """Everything to score subnets and to continue training exactly where this left off."""
        return {"format": CHECKPOINT_FORMAT, "space": self.space.name, "macro": self.macro.as_dict(),
                "heuristics": self.heuristics.as_dict(), "data": self.data_spec, "epoch": self.epoch,
                "step": self.step, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "rng": self.rng.bit_generator.state, "torch_rng": self.generator.get_state(),
                # the parameters holding a (zeroed) gradient: with grad_to_none off, the optimizer
                # keeps decaying exactly these, so a resumed run must hold them too
                "with_grad": [name for name, p in self.model.named_parameters() if p.grad is not None]}

    def load_state(self, state: dict[str, Any], may_differ: tuple[str, ...] = ()) -> None:
        """Continue from :meth:`state` of a trainer with the same heuristics and data, except the
        heuristics named in ``may_differ`` (population-based training continues another trial's
        supernet under mutated hyperparameters: this trainer's values of those keys apply from here).

        Raises:
            ValueError: the checkpoint was made under other settings.
        """
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not an archscore supernet checkpoint (format {state.get('format')!r})")
        mine = {"space": self.space.name, "data": self.data_spec,
                **{f"heuristics.{k}": v for k, v in self.heuristics.as_dict().items() if k not in may_differ}}
        recorded = {"space": state.get("space"), "data": state.get("data"),
                    **{f"heuristics.{k}": v for k, v in dict(state.get("heuristics") or {}).items()}}
        keys = [k for k in mine if mine[k] != recorded.get(k)]
        if keys:
            raise ValueError(f"the checkpoint was trained with other settings ({', '.join(keys)})")
        self.model.load_state_dict(state["model"])
        with_grad = set(state.get("with_grad", ()))
        for name, p in self.model.named_parameters():
            p.grad = p.new_zeros(p.shape) if name in with_grad else None
        self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:  # the optimizer's state carries its own copies
            group["momentum"], group["weight_decay"] = self.heuristics.momentum, self.heuristics.weight_decay
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.rng.bit_generator.state = state["rng"]
        self.generator.set_state(state["torch_rng"].cpu())  # map_location may have moved it
