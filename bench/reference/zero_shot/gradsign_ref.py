"""Reference runner for GradSign (Zhang & Jia, ICLR 2022), authors' code cmu-catalyst/GradSign
at commit 26412be8000a19c1a1147b2bb9399a7d1003eaf1 (newest; checked out in ./repo).

Primary value 'gradsign' = the authors' NB201 (Spearman) path: zero-cost-nas-code/build.py ->
foresight.pruners.predictive.find_measures(..., measure_names=["grad_conflict"]) ->
foresight/pruners/measures/grad_conflict.py:get_grad_conflict (np.nansum).  Imported from the repo.

Secondary value 'gradsign_mean' = the variant in zero-cost-nas-code/gradsign.py:68-83 (np.nanmean).  That
file is a script (argparse + data loading at import time), so its two function definitions
(get_flattened_metric, get_grad_conflict) are extracted verbatim with `ast` and exec'd; not rewritten.

Thin adapter (documented): archscore's NB201Network has no `get_prunable_copy`; predictive.py:179-180 would
attach `copynet` (deepcopy, mode preserved).  The authors' own NAS201Model.get_prunable_copy
(foresight/models/nasbench2.py:80-88) returns a copy with identical weights in *train* mode.  We attach an
equivalent adapter: deepcopy + .train().  The caller's model is deep-copied first, so it is never mutated
(find_measures_arrays otherwise moves it to CPU, adds an attribute, and calls .train() on it).
"""
import os  # noqa: E402
import os as _os  # noqa: E402

ZSREF = _os.environ.get("ZSREF", "/tmp/zsref")  # where the references are checked out (README.md)
ROOT = _os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))))
import ast
import copy
import os
import sys
import types

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.join(ZSREF, "gradsign")
ZC = os.path.join(HERE, "repo", "zero-cost-nas-code")
if ZC not in sys.path:
    sys.path.insert(0, ZC)

from foresight.pruners import predictive  # noqa: E402  (authors' code)


def _load_script_functions():
    """Exec get_flattened_metric/get_grad_conflict from zero-cost-nas-code/gradsign.py verbatim."""
    path = os.path.join(ZC, "gradsign.py")
    tree = ast.parse(open(path).read(), path)
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef)
            and n.name in ("get_flattened_metric", "get_grad_conflict")]
    mod = ast.Module(body=keep, type_ignores=[])
    ns = {"np": np, "torch": torch, "nn": nn, "F": F}
    exec(compile(mod, path, "exec"), ns)
    return ns["get_grad_conflict"]


_script_grad_conflict = _load_script_functions()


def _adapter_prunable_copy(self, bn=True):
    # mirrors NAS201Model.get_prunable_copy (nasbench2.py:80-88): same weights, BN kept (bn=True), .train()
    net = copy.deepcopy(self)
    if bn is False:  # never taken for grad_conflict (measure registered with bn=True)
        raise NotImplementedError
    return net.train()


def reference_scores(model, x, y, mean_variant=True, num_classes=None, **_):
    """model: nn.Module mapping x -> logits. x: (N,C,H,W) float, y: (N,) long labels (used by CE loss)."""
    device = torch.device("cpu")
    net = copy.deepcopy(model).cpu()
    net.get_prunable_copy = types.MethodType(_adapter_prunable_copy, net)
    loader = [(x.cpu(), y.cpu())]                     # one "random" batch, as dataload_info=1
    nc = num_classes if num_classes is not None else 10
    m = predictive.find_measures(net, loader, ("random", 1, nc), device,
                                 loss_fn=F.cross_entropy, measure_names=["grad_conflict"])
    out = {"gradsign": float(m["grad_conflict"])}
    if mean_variant:
        net2 = copy.deepcopy(model).cpu().train()
        out["gradsign_mean"] = float(_script_grad_conflict(net=net2, inputs=x.cpu(), targets=y.cpu(),
                                                           loss_fn=F.cross_entropy))
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.path.insert(0, ROOT)
    from archscore.spaces import get_space

    space = get_space("nb201")
    archs = [
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|",
    ]
    macro = space.macro(C=8, N=1, num_classes=10, in_channels=3, input_size=32)
    torch.manual_seed(1)
    x = torch.randn(16, 3, 32, 32)
    y = torch.randint(0, 10, (16,))
    for a in archs:
        torch.manual_seed(0)
        model = space.build(space.parse(a), macro).train()
        print(a, reference_scores(model, x, y))
