"""Reference runner for MeCo (Jiang, Wang & Bie, NeurIPS 2023), authors' code HamsterMimi/MeCo at commit
0d830dd2f639f9d1ba3b5831a65df768d70fc93b (checked out in ./repo; 7 large result/notebook blobs were missing
from the mirror, none of them code).

Values (all imported from the repo, formula not rewritten):
  'meco'      correlation/NAS_Bench_201.py:get_score(net, x, device, measure='meco')     (lines 11-43)
              = the code path of the paper's NB201 correlation numbers (script main, lines 81-156).
  'meco_opt'  same function, measure='meco_opt' (random 8-channel subsample, python `random`).
  'meco_zcnas' zero-cost-nas/foresight/pruners/measures/meco.py:get_score (lines 25-54), the copy that
              `pip install zero-cost-nas` gives the Zero-Cost-PT NB201/DARTS *search* pipeline; uses the
              given x (split_data=1).
  'meco_randn64' (opt-in, randn64=True) correlation/foresight/pruners/measures/meco.py:get_score (25-57),
              the copy NAS_Bench_101.py uses: it IGNORES x and feeds torch.randn(1,3,64,64).
  'meco_authors_net' (opt-in, authors_net=True) 'meco' evaluated on the authors' own NB201 class
              (correlation/foresight/models/nasbench2.py NAS201Model) with our weights copied in.  The
              score depends on the module TREE (every module is hooked), so this is what their script
              would print for the same weights; see SPEC.md.

Why ast: NAS_Bench_201.py and the two meco.py files cannot be imported as modules here (script imports
torchvision via foresight.dataset; relative `from . import measure`).  The function definitions are
taken verbatim with `ast` and exec'd in a namespace binding exactly the names they use (torch, np, nn,
random).  For 'meco_opt' the name `random` is bound to `random.Random(seed)` (same Mersenne-Twister
`sample` as the module function after random.seed(seed)); the authors never seed python `random`, so
their meco_opt is not reproducible run to run.

Adapters: the model is deep-copied before hooking (get_score registers forward hooks on every module and
never removes them).  get_score does not touch train/eval: pass a train-mode model (the authors' nets
are freshly built, i.e. train mode).
"""
import os  # noqa: E402
import os as _os  # noqa: E402

ZSREF = _os.environ.get("ZSREF", "/tmp/zsref")  # where the references are checked out (README.md)
ROOT = _os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))))
import ast
import copy
import os
import random as _pyrandom
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.join(ZSREF, "meco")
REPO = os.path.join(HERE, "repo")
F_NB201 = os.path.join(REPO, "correlation", "NAS_Bench_201.py")
F_ZCNAS = os.path.join(REPO, "zero-cost-nas", "foresight", "pruners", "measures", "meco.py")
F_CORR = os.path.join(REPO, "correlation", "foresight", "pruners", "measures", "meco.py")


def _extract(path, name, extra_ns):
    tree = ast.parse(open(path).read(), path)
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    assert len(keep) == 1, (path, name)
    ns = {"torch": torch, "np": np, "nn": nn, "__name__": "meco_ref"}
    ns.update(extra_ns)
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), ns)
    return ns


_NB201_NS = _extract(F_NB201, "get_score", {"random": _pyrandom})
nb201_get_score = _NB201_NS["get_score"]
zcnas_get_score = _extract(F_ZCNAS, "get_score", {})["get_score"]
corr_get_score = _extract(F_CORR, "get_score", {})["get_score"]


def _meco_nb201(model, x, measure, seed):
    net = copy.deepcopy(model)
    _NB201_NS["random"] = _pyrandom.Random(seed) if seed is not None else _pyrandom
    try:
        return float(nb201_get_score(net, x, x.device, measure=measure))
    finally:
        _NB201_NS["random"] = _pyrandom


# ---------------------------------------------------------------- authors' NB201 class, our weights
_FOPS = ["none", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_1x1", "skip_connect"]  # nasbench2_ops.OPS order


def _arch_str_of(model):
    """NB201 string of an archscore NB201Network, read from its first cell's edge modules."""
    sys.path.insert(0, ROOT)
    from archscore.spaces.nb201.arch import EDGES
    cell = next(m for m in model.modules() if type(m).__name__ == "InferCell")
    names = []
    for e in cell.edges:
        t = type(e).__name__
        if t == "Zero":
            names.append("none")
        elif t == "Identity":
            names.append("skip_connect")
        elif t == "AvgPool3x3":
            names.append("avg_pool_3x3")
        elif t == "ReLUConvBN":
            names.append("nor_conv_%dx%d" % (e[1].kernel_size[0], e[1].kernel_size[0]))
        else:
            raise ValueError(t)
    groups = []
    for node in range(1, 4):
        groups.append("|" + "|".join(f"{names[i]}~{s}" for i, (s, d) in enumerate(EDGES) if d == node) + "|")
    return "+".join(groups), names


def build_authors_net(model):
    """NAS201Model (authors' class) holding `model`'s weights.  Only adapter: each stack_cell Sequential
    is cut to archscore's N cells (the class hard-codes 5).  Cell BN in their class is affine=False /
    track_running_stats=False and cell convs have bias=True: we zero the biases and require our cell BN
    affine params to be (1, 0), so the forward is the same function."""
    sys.path.insert(0, os.path.join(REPO, "correlation"))
    from foresight.models import nasbench2
    arch_str, names = _arch_str_of(model)
    C = model.stem[0].out_channels
    nc = model.classifier.out_features
    cells = list(model.cells)
    N = (len(cells) - 2) // 3
    net = nasbench2.get_model_from_arch_str(arch_str, nc, init_channels=C)
    for s in (1, 2, 3):
        seq = getattr(net, f"stack_cell{s}")
        setattr(net, f"stack_cell{s}", nn.Sequential(*list(seq)[:N]))
    sd = model.state_dict()
    new = {}
    used = set()

    def put(dst, src):
        new[dst] = sd[src]
        used.add(src)

    for k in ("weight",):
        put("stem.net.0.weight", "stem.0.weight")
    for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        put(f"stem.net.1.{k}", f"stem.1.{k}")
        put(f"top.lastact.0.{k}", f"lastact.0.{k}")
    put("classifier.weight", "classifier.weight")
    put("classifier.bias", "classifier.bias")
    idx = 0
    for s in (1, 2, 3):
        if s > 1:
            rb = f"reduction{s - 1}"
            put(f"{rb}.residual.1.weight", f"cells.{idx}.downsample.1.weight")
            for part in ("conv_a", "conv_b"):
                put(f"{rb}.{part}.op.1.weight", f"cells.{idx}.{part}.1.weight")
                for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                    put(f"{rb}.{part}.op.2.{k}", f"cells.{idx}.{part}.2.{k}")
            idx += 1
        for j in range(N):
            for e, opname in enumerate(names):
                if opname.startswith("nor_conv"):
                    o = e * 5 + _FOPS.index(opname)
                    put(f"stack_cell{s}.{j}.options.{o}.op.1.weight", f"cells.{idx}.edges.{e}.1.weight")
                    new[f"stack_cell{s}.{j}.options.{o}.op.1.bias"] = torch.zeros(C * 2 ** (s - 1))
                    w, b = sd[f"cells.{idx}.edges.{e}.2.weight"], sd[f"cells.{idx}.edges.{e}.2.bias"]
                    assert torch.all(w == 1) and torch.all(b == 0), "cell BN affine must be at init"
                    for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                        used.add(f"cells.{idx}.edges.{e}.2.{k}")
            idx += 1
    missing = set(sd) - used
    assert not missing, missing
    theirs = net.state_dict()
    for k in new:
        assert k in theirs and theirs[k].shape == new[k].shape, k
    for k in theirs:  # keys we don't fill: unused op options and the unused pre_GAP head
        if k not in new:
            opt = k.split(".options.")
            assert k.startswith("pre_GAP.") or (len(opt) == 2 and names[int(opt[1].split(".")[0]) // 5]
                                                != _FOPS[int(opt[1].split(".")[0]) % 5]), k
    net.load_state_dict(new, strict=False)
    return net.train()


def reference_scores(model, x, y=None, seed=0, authors_net=False, randn64=False, **_):
    """MeCo of `model` on input x (authors: ONE CIFAR image, x.shape == (1,3,32,32)); y unused."""
    out = {
        "meco": _meco_nb201(model, x, "meco", seed),
        "meco_opt": _meco_nb201(model, x, "meco_opt", seed),
        "meco_zcnas": float(zcnas_get_score(copy.deepcopy(model), x, None, x.device, 1)),
    }
    if randn64:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out["meco_randn64"] = float(corr_get_score(copy.deepcopy(model), x, None, x.device, 1))
    if authors_net:
        net = build_authors_net(model)
        out["meco_authors_net"] = _meco_nb201(net, x, "meco", seed)
        out["meco_opt_authors_net"] = _meco_nb201(net, x, "meco_opt", seed)
    return out


def hook_count(model, x):
    """How many hooked forward calls get_score sees (diagnostic for SPEC.md)."""
    n = [0]
    hs = [m.register_forward_hook(lambda *a: n.__setitem__(0, n[0] + 1)) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return n[0]


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
    for C, N in ((8, 1), (16, 5)):
        macro = space.macro(C=C, N=N, num_classes=10, in_channels=3, input_size=32)
        torch.manual_seed(1)
        x = torch.randn(1, 3, 32, 32)  # the authors' batch: one image
        print(f"--- C={C} N={N}, x {tuple(x.shape)}")
        for a in archs:
            torch.manual_seed(0)
            model = space.build(space.parse(a), macro).train()
            out = reference_scores(model, x, None, seed=0, authors_net=True, randn64=True)
            theirs = build_authors_net(model)
            with torch.no_grad():
                d = (copy.deepcopy(model)(x) - theirs(x)).abs().max().item()
            out["logit_maxdiff_vs_authors_net"] = d
            out["hooks_ours"] = hook_count(copy.deepcopy(model), x)
            out["hooks_authors_net"] = hook_count(theirs, x)
            print(a, {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()})
