"""The zero-shot group: one network build per architecture, the fewest passes, every proxy.

Each proxy declares the signals it reads (``needs``); the group runs each pass that produces a
needed signal once, then lets every proxy compute its number from the shared signals. A pass that
raises marks its signals failed: the proxies reading them get an error row with the reason, the
others still score. Time is attributed fairly: the build is split over all proxies, each pass
over the proxies that read it.
"""
from __future__ import annotations

import time
from typing import Hashable, Sequence

import torch

from ..base import Estimator, EstimatorGroup, GroupResult, describe_exception
from .az_nas_pass import az_nas_pass, conv_linear_flops
from .vkdnw_pass import vkdnw_pass
from .zico_meco_pass import meco_score, zico_score
from .te_nas_pass import linear_region_inputs, linear_regions, ntk_condition
from .passes import (DATA_SIGNALS, Signals, data_pass, gradsign_pass, prunable_layers, swap_pass, synflow_pass,
                     zen_pass)

PASSES: dict[str, frozenset[str]] = {
    "data": DATA_SIGNALS,
    "synflow": frozenset({"synflow"}),
    "synflow_bn": frozenset({"synflow_bn"}),
    "zen": frozenset({"zen"}),
    "gradsign": frozenset({"gradsign"}),
    "swap": frozenset({"swap"}),
    "az_nas": frozenset({"az_nas"}),
    "conv_linear_flops": frozenset({"conv_linear_flops"}),
    "ntk_condition": frozenset({"ntk_condition"}),
    "linear_regions": frozenset({"linear_regions"}),
    "zico": frozenset({"zico"}),
    "meco": frozenset({"meco"}),
    "vkdnw": frozenset({"vkdnw"}),
}
#: the signals whose passes read the data batch (the others draw their own inputs)
BATCH_SIGNALS = DATA_SIGNALS | {"gradsign", "swap", "ntk_condition", "linear_regions", "zico", "meco"}


class ZeroShotGroup(EstimatorGroup):
    def score(self, archs: Sequence[Hashable], seed: int) -> GroupResult:
        ctx = self.ctx
        ests: list[ZeroShotEstimator] = self.estimators  # type: ignore[assignment]
        result = GroupResult.empty(len(ests), len(archs))
        needs = frozenset().union(*(e.needs for e in ests))
        passes = [p for p, signals in PASSES.items() if signals & needs]
        users = {p: sum(1 for e in ests if e.needs & PASSES[p]) for p in passes}
        x = y = None
        if needs & BATCH_SIGNALS or any(e.needs_data for e in ests):
            x, y = ctx.data(seed)
        for b, arch in enumerate(archs):
            start = time.perf_counter()
            try:
                torch.manual_seed(seed)
                model = ctx.space.build(arch, ctx.macro).to(ctx.device).train()
            except Exception as exc:
                message = f"building the network failed: {describe_exception(exc)}"
                result.errors.update(((e, b), message) for e in range(len(ests)))
                continue
            build_s = time.perf_counter() - start
            sig = Signals(weights=[m.weight.detach() for m in prunable_layers(model)],
                          num_classes=ctx.num_classes or 0,
                          params_k=sum(p.numel() for n, p in model.named_parameters() if "auxiliary" not in n) / 1e3)
            pass_s = {p: self._run_pass(p, model, x, y, needs, seed, sig) for p in passes}
            for e, est in enumerate(ests):
                start = time.perf_counter()
                failed = sorted(est.needs & sig.failed.keys())
                if failed:
                    result.errors[e, b] = sig.failed[failed[0]]
                else:
                    try:
                        result.scores[e, b] = est.compute(sig)
                    except Exception as exc:
                        result.errors[e, b] = describe_exception(exc)
                shared = sum(pass_s[p] / users[p] for p in passes if est.needs & PASSES[p])
                result.seconds[e, b] = build_s / len(ests) + shared + time.perf_counter() - start
            del model, sig
        return result

    def _using(self, signal: str) -> list[ZeroShotEstimator]:
        return [e for e in self.estimators if signal in e.needs]  # type: ignore[misc]

    def _run_pass(self, name: str, model: torch.nn.Module, x: torch.Tensor | None, y: torch.Tensor | None,
                  needs: frozenset[str], seed: int, sig: Signals) -> float:
        start = time.perf_counter()
        try:
            getattr(self, f"_pass_{name}")(model, x, y, needs, seed, sig)
        except Exception as exc:
            message = f"{name} pass failed: {describe_exception(exc)}"
            sig.failed.update((s, message) for s in PASSES[name] & needs)
        return time.perf_counter() - start

    # one method per entry of PASSES: (model, x, y, needs, seed, sig), filling the pass's signals

    def _pass_data(self, model, x, y, needs, seed, sig) -> None:
        data_pass(model, x, y, needs & DATA_SIGNALS, sig)

    def _pass_synflow(self, model, x, y, needs, seed, sig) -> None:
        sig.synflow = synflow_pass(model, self.ctx.input_shape, with_bn=False)

    def _pass_synflow_bn(self, model, x, y, needs, seed, sig) -> None:
        sig.synflow_bn = synflow_pass(model, self.ctx.input_shape, with_bn=True)

    def _pass_zen(self, model, x, y, needs, seed, sig) -> None:
        sig.zen = zen_pass(model, self.ctx.input_shape, self.ctx.data_batch_size, seed)

    def _pass_gradsign(self, model, x, y, needs, seed, sig) -> None:
        sig.gradsign = gradsign_pass(model, x, y)

    def _pass_swap(self, model, x, y, needs, seed, sig) -> None:
        sizes = sorted({e.samples for e in self._using("swap")})
        if x.shape[0] < sizes[-1]:
            raise ValueError(f"swap needs a data batch of at least {sizes[-1]} inputs (its samples option); "
                             f"the batch holds {x.shape[0]}")
        sig.swap = {n: swap_pass(model, x[:n]) for n in sizes}

    def _pass_az_nas(self, model, x, y, needs, seed, sig) -> None:
        for source, reinit, precision in sorted({e.variant for e in self._using("az_nas")}):
            sig.az_nas[source, reinit, precision] = az_nas_pass(
                model, x if source == "data" else None, self.ctx.input_shape, self.ctx.data_batch_size, seed,
                reinit=reinit, precision=precision)

    def _pass_conv_linear_flops(self, model, x, y, needs, seed, sig) -> None:
        sig.conv_linear_flops = conv_linear_flops(model, self.ctx.input_shape)

    def _pass_zico(self, model, x, y, needs, seed, sig) -> None:
        sig.zico = {n: zico_score(model, x, y, n) for n in sorted({e.batches for e in self._using("zico")})}

    def _pass_meco(self, model, x, y, needs, seed, sig) -> None:
        sig.meco = {n: meco_score(model, x[:n]) for n in sorted({e.batch for e in self._using("meco")})}

    def _pass_vkdnw(self, model, x, y, needs, seed, sig) -> None:
        for params, source, reinit in sorted({e.variant for e in self._using("vkdnw")}):
            sig.vkdnw[params, source, reinit] = vkdnw_pass(model, x if source == "data" else None, self.ctx.input_shape,
                                                           self.ctx.data_batch_size, seed, params, reinit)

    def _pass_ntk_condition(self, model, x, y, needs, seed, sig) -> None:
        sig.ntk_condition = ntk_condition(model, x)

    def _pass_linear_regions(self, model, x, y, needs, seed, sig) -> None:
        for samples, batches, size in sorted({e.variant for e in self._using("linear_regions")}):
            crops = linear_region_inputs(x, samples * batches, size, torch.Generator(device="cpu").manual_seed(seed))
            sig.linear_regions[samples, batches, size] = linear_regions(model, crops, samples)


class ZeroShotEstimator(Estimator):
    """A proxy computed from the signals of the fused passes (see :mod:`.passes`)."""

    group = ZeroShotGroup
    builds_models = True
    #: The signals the proxy reads. An option may set it per instance (``naswot``'s
    #: ``relu_modules``), staying among data signals when the class's are (``needs_data`` is per class).
    needs: frozenset[str] = frozenset()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.needs_data = bool(cls.needs & BATCH_SIGNALS)

    def compute(self, sig: Signals) -> float:
        """The proxy's value from the shared signals."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute()")


def layer_sum(values: Sequence[torch.Tensor]) -> float:
    """Sum over layers of per-layer tensors, in float64 (the published 'sum_arr' reduction)."""
    return float(sum(v.double().sum() for v in values))
