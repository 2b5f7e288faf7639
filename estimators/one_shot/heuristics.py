"""Supernet-training heuristics as one validated, serialisable value object.

Every switch of Yu et al. ("How to Train Your Super-Net", 2021) and Ning et al. ("Evaluating
Efficient Performance Estimators of Neural Architectures", NeurIPS 2021) that applies to a cell
space, under the key names the CLI (``--set key=value``), YAML files, Tune search files and result
columns share. :data:`HEURISTICS_DOC` says, per key, what it does, its default and its source;
``archscore supernet heuristics`` prints it. Defaults follow Yu et al.'s NB201 baseline
(kcyu2014/nas-landmarkreg ``a00c361``, the public code of their ``nasws`` base) unless noted.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from ..training import LR_SCHEDULES
from .sampling import SAMPLERS

TOPOLOGIES = ("edges", "nodes")


@dataclass(frozen=True)
class Heuristics:
    sampling: str = "uniform"
    archs_per_step: int = 1
    bn_track_running_stats: bool = False
    bn_affine: bool = True
    wsbn: bool = False
    bn_recalibrate_batches: int = 0
    lr: float = 0.025
    lr_min: float = 0.001
    lr_schedule: str = "cosine"
    warmup_epochs: float = 0.0
    weight_decay: float = 5e-4
    momentum: float = 0.9
    batch_size: int = 256
    epochs: int = 10
    grad_clip: float = 5.0
    grad_to_none: bool = False
    path_dropout: float = 0.0
    topology: str = "edges"
    dynamic_channels: bool | None = None
    cells_per_stage: int | None = None
    init_channels: int | None = None
    data_portion: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            ("sampling", self.sampling in SAMPLERS, f"one of {', '.join(SAMPLERS.names())}"),
            ("archs_per_step", self.archs_per_step >= 1, ">= 1"),
            ("bn_recalibrate_batches", self.bn_recalibrate_batches >= 0, ">= 0"),
            ("lr", self.lr > 0, "> 0"),
            ("lr_min", self.lr_min >= 0, ">= 0"),
            ("lr_schedule", self.lr_schedule in LR_SCHEDULES, f"one of {', '.join(LR_SCHEDULES)}"),
            ("warmup_epochs", 0 <= self.warmup_epochs < self.epochs, "in [0, epochs)"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("epochs", self.epochs >= 1, ">= 1"),
            ("grad_clip", self.grad_clip >= 0, ">= 0 (0: off)"),
            ("path_dropout", 0 <= self.path_dropout < 1, "in [0, 1)"),
            ("topology", self.topology in TOPOLOGIES, f"one of {', '.join(TOPOLOGIES)}"),
            ("cells_per_stage", self.cells_per_stage is None or self.cells_per_stage >= 1, ">= 1 or unset"),
            ("init_channels", self.init_channels is None or self.init_channels >= 1, ">= 1 or unset"),
            ("data_portion", 0 < self.data_portion <= 1, "in (0, 1]"),
        ]
        for key, ok, rule in checks:
            if not ok:
                raise ValueError(f"heuristic {key}={getattr(self, key)!r} must be {rule}")

    @classmethod
    def from_mapping(cls, values: dict[str, Any], base: "Heuristics | None" = None) -> "Heuristics":
        """``base`` (default: the defaults) with ``values`` applied; text values are converted.

        Raises:
            ValueError: an unknown key or a value of the wrong type, naming the key.
        """
        base = base or cls()
        known = {f.name: f for f in fields(cls)}
        typed: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown heuristic {key!r}; known: {', '.join(known)}")
            typed[key] = _convert(key, known[key].type, value)
        return dataclasses.replace(base, **typed)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def for_space(self, space: Any) -> "Heuristics":
        """These heuristics with the space-dependent defaults resolved (``dynamic_channels`` unset:
        the space's own), so records and checkpoints hold what actually ran."""
        if self.dynamic_channels is None:
            return dataclasses.replace(self, dynamic_channels=bool(space.supernet_dynamic_channels))
        return self

    def module_options(self) -> dict[str, Any]:
        """The switches that shape the supernet module (``space.supernet(macro, **these)``).
        Recalibration needs running statistics, so it builds BN with tracking on."""
        return {"bn_affine": self.bn_affine,
                "bn_track_running_stats": self.bn_track_running_stats or self.bn_recalibrate_batches > 0,
                "wsbn": self.wsbn, "topology": self.topology, "path_dropout": self.path_dropout,
                **({} if self.dynamic_channels is None else {"dynamic_channels": self.dynamic_channels})}

    def macro_overrides(self) -> dict[str, int]:
        """The low-fidelity switches as macro settings of a cell space (C and N)."""
        out = {}
        if self.init_channels is not None:
            out["C"] = self.init_channels
        if self.cells_per_stage is not None:
            out["N"] = self.cells_per_stage
        return out


def _convert(key: str, annotation: Any, value: Any) -> Any:
    kind = str(annotation)
    try:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            if "None" in kind:
                return None
            raise ValueError(value)
        if kind.startswith("bool"):
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes", "on"):
                return True
            if str(value).lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError(value)
        if kind.startswith("int"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if kind.startswith("float"):
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"heuristic {key}={value!r} is not a {kind.split(' ')[0]}") from None


#: key -> (what it does, source); the default is the dataclass's
HEURISTICS_DOC: dict[str, tuple[str, str]] = {
    "sampling": ("which subnets a step trains: uniform single path (each edge's op uniform; SPOS), fairnas (strict "
                 "fairness: per edge a random permutation of the ops, so one step trains as many subnets as there "
                 "are ops and every op of every edge exactly once), deiso (uniform over canonical classes, one "
                 "representative each)", "Guo et al. SPOS; Chu et al. FairNAS; Ning et al. (aw_nas deiso)"),
    "archs_per_step": ("subnets per optimizer step, their gradients summed on one batch (fairnas: a multiple of "
                       "the op count, rounded up)", "Yu et al. (FairNAS sums); Ning et al. (mepa_samples)"),
    "bn_track_running_stats": ("BN keeps running statistics; off: batch statistics in training and scoring",
                               "Yu et al. (off in their NB201 baseline)"),
    "bn_affine": ("BN has learnable scale and shift", "Yu et al. (on)"),
    "wsbn": ("a BN after each parameter-free candidate op: NB201's skip and pooling ops, DARTS's pooling ops (as "
             "DARTS's search MixedOp); convolutions own theirs already. Yu et al.'s WSBN keys a BN per "
             "incoming-edge set on NB101 and is not applied on NB201; this is its per-op analogue. Refused on "
             "NB101 and NDS", "Yu et al. (NAO-style WSBN); Liu et al. DARTS"),
    "bn_recalibrate_batches": ("before scoring a subnet, reset BN statistics and recompute them as a cumulative "
                               "average over this many training batches (0: batch statistics)", "Yu et al., Ning et al."),
    "lr": ("initial learning rate of SGD", "nas-landmarkreg a00c361 bash/exps/validate-landmarkloss.sh (0.025)"),
    "lr_min": ("where the cosine schedule ends (PyTorch's eta_min; above lr it anneals up, as PyTorch does)", "nas-landmarkreg a00c361 learning_rate_min "
                                                                 "(0.001; the NB201 scripts keep the default)"),
    "lr_schedule": ("cosine (from lr to lr_min, per step; the reference steps per epoch), step (x0.1 every 30 "
                    "epochs) or constant", "nas-landmarkreg a00c361 (cosine)"),
    "warmup_epochs": ("linear learning-rate warm-up", "common practice (0)"),
    "weight_decay": ("L2 weight decay", "nas-landmarkreg a00c361 validate-landmarkloss.sh (5e-4; its argparse "
                                        "default is 3e-4)"),
    "momentum": ("SGD momentum (no Nesterov)", "nas-landmarkreg a00c361 (0.9, the default its scripts keep)"),
    "batch_size": ("images per step", "nas-landmarkreg a00c361 validate-landmarkloss.sh (256; argparse default 64)"),
    "epochs": ("training epochs", "Yu et al. use 400 at full size; the CLI sets it"),
    "grad_clip": ("gradient-norm clipping (0: off)", "Yu et al., Ning et al. (5)"),
    "grad_to_none": ("false: gradients are zeroed in place before each step, so an op trained once keeps getting "
                     "weight decay and momentum in the steps that do not sample it (ops never sampled have no "
                     "gradient and stay as initialised); true: set to None, so a step moves only the ops it trains",
                     "nas-landmarkreg a00c361 (optimizer.zero_grad() under torch 1.6: in place)"),
    "path_dropout": ("drop a cell's whole output per sample while training, rate scaled by depth "
                     "((i+1)/L x rate for cell i of L), kept outputs rescaled; never while scoring",
                     "Yu et al. (NAO-style, off by default)"),
    "topology": ("edges: every edge owns its ops (NB201 as published); nodes: edges from the cell input own "
                 "their ops while the edges from intermediate nodes into a node share one op set",
                 "edges: NB201 as published (Dong & Yang); nas-landmarkreg a00c361's NB201 scripts keep its "
                 "argparse default op_on_node (cnn_search_configs.py:90), i.e. nodes; the ablation measures both"),
    "dynamic_channels": ("share convolution weights across channel counts by slicing (first channels); unset: the "
                         "space's default (NB101: on, as Yu et al.'s nasbench101; NDS: on, the only form, as Ning "
                         "et al.'s ordinal supernet). Off on NB101: each width owns its weights. Refused on "
                         "NB201 and DARTS, whose channel counts do not vary", "Yu et al."),
    "cells_per_stage": ("low fidelity: cells per stage (N) of the supernet; unset: the macro's", "Yu et al."),
    "init_channels": ("low fidelity: initial channels (C) of the supernet; unset: the macro's", "Yu et al."),
    "data_portion": ("low fidelity: fraction of the training split used", "Yu et al. (0.5 of CIFAR-10 train)"),
    "seed": ("initialisation, sampling and data order", "-"),
}
