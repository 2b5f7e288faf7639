"""Reference runner for AZ-NAS (Lee & Ham, CVPR 2024), authors' code cvlab-yonsei/AZ-NAS @ 5e6683a.

Everything numeric comes from the authors' checked-out repo:
  * expressivity / progressivity / trainability: NB201/ZeroShotProxy/compute_az_nas_score.py
    ``compute_nas_score`` (called as is, init included);
  * complexity: FLOPs (M) of the NB201 network counted by the repo's vendored xautodl
    ``xautodl.utils.get_model_infos`` (NB201/xautodl/utils/flop_benchmark.py), the counter whose
    numbers the NATS-Bench API stores and which the authors read from the API
    (tss_general.ipynb cell 7: ``archresult.get_compute_costs(dataset)['flops']``);
  * aggregation: the ``rank_agg`` lines of tss_general.ipynb cell 8, extracted from the notebook
    JSON at run time and exec'd verbatim (the authors have no function for it).

The only code of ours is a THIN ADAPTER (``AZNASAdapter``): it gives archscore's NB201Network the
``extract_cell_features`` method of the authors' model (NB201/custom/tss_model.py:54-68: stem
output, then the output of every entry of ``cells``, each ``retain_grad()``-ed), and makes
``.cuda()`` a no-op so that their hard-coded ``model.cuda()`` (compute_az_nas_score.py:111) does not
move a CPU model. Use ``python run_ref.py`` to print values for 3 archs.
"""
from __future__ import annotations
import os  # noqa: E402
import os as _os  # noqa: E402

ZSREF = _os.environ.get("ZSREF", "/tmp/zsref")  # where the references are checked out (README.md)
ROOT = _os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))))

import copy
import json
import os
import sys

import numpy as np
import torch
from torch import nn

REPO = os.path.join(ZSREF, "az_nas", "repo/NB201")
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from ZeroShotProxy import compute_az_nas_score as _az  # noqa: E402  (authors' module)
from xautodl.utils import get_model_infos as _get_model_infos  # noqa: E402  (authors' vendored xautodl)


class AZNASAdapter(nn.Module):
    """Thin adapter (ours): exposes archscore NB201Network through the interface compute_nas_score needs.

    feature list = [stem(x), cells[0](.), cells[1](.), ..., cells[3N+1](.)]  (3N+3 maps; 18 for N=5, 6 for N=1)
    i.e. stem conv+BN, N InferCells at C, ResNet reduction block, N cells at 2C, reduction, N cells
    at 4C. ``lastact``/GAP/classifier are NOT in the list (same as custom/tss_model.py:54-68).
    The wrapped network is registered as a submodule, so ``model.apply(init)`` and ``model.train()``
    inside their code reach the same modules in the same order as on their TinyNetwork.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def cuda(self, device=None):  # their code calls model.cuda() unconditionally; keep the device of the model
        return self

    def extract_cell_features(self, inputs):  # mirrors custom/tss_model.py:54-68
        cell_features = []
        feature = self.net.stem(inputs)
        if feature.requires_grad:
            feature.retain_grad()
        cell_features.append(feature)
        for cell in self.net.cells:
            feature = cell(feature)
            if feature.requires_grad:
                feature.retain_grad()
            cell_features.append(feature)
        return cell_features


def _as_adapted(model: nn.Module) -> nn.Module:
    if hasattr(model, "extract_cell_features"):  # their own TinyNetwork (or already adapted)
        if not isinstance(model, AZNASAdapter):
            model.cuda = lambda *a, **k: model  # same no-op for their class on CPU
        return model
    return AZNASAdapter(model)


def reference_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *,
                     reinit: bool = True, init_method: str = "kaiming_norm_fanin",
                     seed: int | None = None, complexity: bool = True) -> dict[str, float]:
    """AZ-NAS components for one network, by the authors' ``compute_nas_score``.

    model: archscore NB201Network (or their TinyNetwork). It is MUTATED like in their code: put in
        train mode, weights re-initialised (if reinit), BN running stats updated by one forward.
    x: the batch (authors: torch.randn(64,3,32,32) for CIFAR; passed to their code as a one-batch
        ``trainloader`` so ``input_ = next(iter(trainloader))[0]`` is exactly x). y is ignored
        (AZ-NAS uses no labels).
    reinit: True = authors' path (init_model(model, init_method) inside compute_nas_score,
        drawing from the torch global RNG). False = keep the given weights: their module-level
        ``init_model`` is swapped for identity during the call (only change to their path).
    seed: if not None, torch.manual_seed(seed) right before the call (RNG feeds the kaiming init and
        the Rademacher (bernoulli) probes of the trainability term).
    complexity: add 'complexity' = FLOPs in M from xautodl get_model_infos on a copy of the model at
        input (1,3,H,W) (authors took this from the NATS-Bench API; same counter). Computed under
        torch.random.fork_rng so the caller's RNG stream is not disturbed.
    """
    adapted = _as_adapted(model)
    gpu = x.device.index if x.is_cuda else None
    loader = [(x, y)]
    if seed is not None:
        torch.manual_seed(seed)
    orig_init = _az.init_model
    if not reinit:
        _az.init_model = lambda m, method="kaiming_norm_fanin": m
    try:
        info = _az.compute_nas_score(adapted, gpu, loader, x.shape[2], x.shape[0], init_method=init_method)
    finally:
        _az.init_model = orig_init
    out = {k: float(v) for k, v in info.items()}
    if complexity:
        net = adapted.net if isinstance(adapted, AZNASAdapter) else adapted
        with torch.random.fork_rng(devices=[]):
            flops, _params = _get_model_infos(copy.deepcopy(net), (1, x.shape[1], x.shape[2], x.shape[3]))
        out["complexity"] = float(flops)
    return out


# ---------------------------------------------------------------- aggregation (authors' notebook code)
_NB = os.path.join(REPO, "tss_general.ipynb")
_EXPECTED_AGG = (
    "    rank_agg = None\n"
    "    l = len(api_flops)\n"
    "    rank_agg = np.log(stats.rankdata(api_flops) / l)\n"
    "    for k in results.keys():\n"
    "        print(k)\n"
    "        if rank_agg is None:\n"
    "            rank_agg = np.log( stats.rankdata(results[k]) / l)\n"
    "        else:\n"
    "            rank_agg = rank_agg + np.log( stats.rankdata(results[k]) / l)\n"
)


def _authors_agg_source() -> str:
    cells = json.load(open(_NB))["cells"]
    src = "".join(cells[8]["source"])
    start = src.index("    rank_agg = None\n")
    end = src.index("    best_idx = np.argmax(rank_agg)")
    block = src[start:end].rstrip("\n") + "\n"
    assert block == _EXPECTED_AGG, "notebook aggregation differs from the audited text"
    import textwrap
    return textwrap.dedent(block).replace("print(k)", "pass")  # only change: silence the print


def reference_aggregate(component_table) -> np.ndarray:
    """AZ-NAS score over a population: exec of tss_general.ipynb cell 8 lines (authors' code).

    component_table: dict with keys 'expressivity', 'progressivity', 'trainability' (sequences over
    the population) and 'complexity' (FLOPs, same order), or a list of per-network dicts as returned
    by reference_scores. Returns rank_agg (float64, higher = better):
        log(rankdata(flops)/l) + sum_{k in E,P,T} log(rankdata(results[k])/l),  l = population size,
    scipy rankdata method='average' (ties get the mean rank), ascending (largest value -> rank l ->
    log 1 = 0), no component negated.
    """
    if isinstance(component_table, (list, tuple)):
        component_table = {k: [row[k] for row in component_table] for k in component_table[0]}
    import scipy.stats as stats
    results = {k: list(component_table[k]) for k in ("expressivity", "progressivity", "trainability")}
    ns = {"np": np, "stats": stats, "api_flops": list(component_table["complexity"]), "results": results}
    exec(_authors_agg_source(), ns)
    return np.asarray(ns["rank_agg"], dtype=np.float64)


# ---------------------------------------------------------------- demo / self-check
if __name__ == "__main__":
    torch.set_num_threads(1)
    from archscore.spaces import get_space
    from custom.tss_model import TinyNetwork  # authors' model class, for the adapter check
    from xautodl.models.cell_searchs.genotypes import Structure

    space = get_space("nb201")
    archs = [
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|",
    ]
    macro = space.macro(C=8, N=1, num_classes=10, in_channels=3, input_size=32)
    torch.manual_seed(0)
    x = torch.randn(16, 3, 32, 32)
    y = torch.randint(0, 10, (16,))
    rows = []
    for s in archs:
        torch.manual_seed(0)
        model = space.build(space.parse(s), macro).train()
        keep = reference_scores(model, x, y, reinit=False, seed=1)          # archscore's own weights
        model = space.build(space.parse(s), macro).train()
        ours = reference_scores(model, x, y, reinit=True, seed=1)           # authors' path (re-init)
        theirs_net = TinyNetwork(8, 1, Structure.str2structure(s), 10)
        theirs = reference_scores(theirs_net, x, y, reinit=True, seed=1)    # authors' own class
        print(s)
        print("  archscore net, given weights :", keep)
        print("  archscore net, authors' init :", ours)
        print("  authors' TinyNetwork, init   :", theirs)
        print("  max |diff| adapter vs theirs :", max(abs(ours[k] - theirs[k]) for k in ours))
        rows.append(ours)
    print("rank_agg over these 3:", reference_aggregate(rows))
