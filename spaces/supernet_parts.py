"""Pieces every weight-sharing supernet uses: per-sample path dropout and BN replacement."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def drop_path(x: torch.Tensor, rate: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero whole samples with probability ``rate``; rescale the kept ones. ``generator``: the
    trainer's own stream (None: torch's default)."""
    keep = 1.0 - rate
    mask = torch.empty((x.shape[0], 1, 1, 1), device=x.device, dtype=x.dtype).bernoulli_(keep, generator=generator)
    return x / keep * mask


def set_batch_norms(module: nn.Module, affine: bool, track: bool) -> None:
    """Replace every BatchNorm2d below ``module`` with one of the requested kind (same eps and momentum)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.BatchNorm2d(child.num_features, eps=child.eps, momentum=child.momentum,
                                                 affine=affine, track_running_stats=track))
        else:
            set_batch_norms(child, affine, track)


def refuse_dynamic_channels(space: str, options: dict) -> None:
    """``dynamic_channels`` only means something where channel counts vary (NB101, NDS)."""
    if options.pop("dynamic_channels", False):
        raise ValueError(f"dynamic_channels shares weights across channel counts, which {space} does not vary; "
                         "it applies to NB101 and NDS")


def sliced_batch_norm(bn: nn.BatchNorm2d, y: torch.Tensor, c: int) -> torch.Tensor:
    """``bn`` on its first ``c`` entries, with nn.BatchNorm2d's own rules (running statistics of
    the slice updated in place; momentum None: a cumulative average)."""
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            factor = 1.0 / float(bn.num_batches_tracked)
    use_batch = bn.training or bn.running_mean is None
    return F.batch_norm(y, None if bn.running_mean is None else bn.running_mean[:c],
                        None if bn.running_var is None else bn.running_var[:c],
                        None if bn.weight is None else bn.weight[:c], None if bn.bias is None else bn.bias[:c],
                        use_batch, factor, bn.eps)


class SlicedConvBn(nn.Module):
    """A conv-BN allocated at full size whose narrower uses take the first channels of its weights
    and BN; with ``groups`` > 1, the block diagonal of the dense weight (output channel ``o`` reads
    input columns ``(o // (W/g)) * (W/g) + i``, aw_nas's ``GroupMaskHandler``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, affine: bool, track: bool,
                 eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=eps, momentum=momentum, affine=affine, track_running_stats=track)

    def forward(self, x: torch.Tensor, c_out: int, groups: int = 1) -> torch.Tensor:
        weight = self.conv.weight
        if groups == 1:
            weight = weight[:c_out, : x.shape[1]]
        else:
            full = weight.shape[0] // groups  # a group's width at full size
            rows = torch.arange(c_out, device=weight.device)
            cols = (rows // full * full)[:, None] + torch.arange(x.shape[1] // groups, device=weight.device)
            weight = weight[rows[:, None], cols]
        y = F.conv2d(x, weight, None, self.conv.stride, self.conv.padding, groups=groups)
        return sliced_batch_norm(self.bn, y, c_out)
