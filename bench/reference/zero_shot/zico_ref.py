"""Reference runner for ZiCo (Li et al., ICLR 2023), authors' code SLDGroup/ZiCo at commit
b0fec65923a90e84501593f675b1e2f422d79e3d (checked out in ./repo).

Value 'zico' = ZeroShotProxy/compute_zico.py:getzico (lines 47-63) -> getgrad (14-25) -> caculate_zico
(27-45), exactly as evolution_search.py:125-126 calls it (lossfunc = nn.CrossEntropyLoss(), line 229;
trainloader = a list of `maxbatch` (=2, line 54) [x, y] batches, lines 203-208).

Why ast: compute_zico.py line 12 imports global_utils (uses `distutils`, removed in Python 3.12) and
ModelLoader (imports torchvision, absent from the venv: the import fails).  Those imports are unused by the three functions, so the three
function definitions are taken VERBATIM from the file with `ast` and exec'd in a namespace holding
torch / nn / np (the names the file itself binds).  Nothing of the formula is rewritten.

Thin adapters (documented):
  * CPU: getzico calls network.cuda() and data.cuda() (lines 51, 55).  When CUDA is absent we patch
    nn.Module.cuda and torch.Tensor.cuda to identity for the duration of the call (restored after).
    On CPU `.grad.data.cpu().numpy()` (line 20/24) ALIASES the grad buffer; this is harmless here only
    because torch>=2 `zero_grad()` sets grads to None (fresh buffer each backward).  The authors ran
    torch 1.10 on CUDA, where `.cpu()` copies; both give the same numbers.
  * every_edge=True (default): archscore's InferCell.forward skips `none` edges; a conv whose output only
    feeds `none` edges then gets grad None and getgrad line 20 crashes (AttributeError).  NB201's own
    network (and the authors' foresight/xautodl nets) evaluate `none` as x*0, giving exact-zero grads,
    which caculate_zico drops (std==0).  So on a deep copy we route InferCell.forward to archscore's own
    forward_every_edge (identical values).  Set every_edge=False to run archscore's forward untouched.
  * The caller's model is deep-copied (getzico leaves grads and train mode on the net).
"""
import os  # noqa: E402
import os as _os  # noqa: E402

ZSREF = _os.environ.get("ZSREF", "/tmp/zsref")  # where the references are checked out (README.md)
ROOT = _os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))))
import ast
import contextlib
import copy
import os
import sys
import types

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.join(ZSREF, "zico")
SRC = os.path.join(HERE, "repo", "ZeroShotProxy", "compute_zico.py")


def _load_authors_functions():
    tree = ast.parse(open(SRC).read(), SRC)
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef)
            and n.name in ("getgrad", "caculate_zico", "getzico")]
    assert len(keep) == 3
    ns = {"torch": torch, "nn": nn, "np": np, "__name__": "compute_zico_ref"}
    exec(compile(ast.Module(body=keep, type_ignores=[]), SRC, "exec"), ns)
    return ns


_AUTH = _load_authors_functions()
getzico, getgrad, caculate_zico = _AUTH["getzico"], _AUTH["getgrad"], _AUTH["caculate_zico"]


@contextlib.contextmanager
def _cuda_is_identity():
    if torch.cuda.is_available():
        yield
        return
    m_cuda, t_cuda = nn.Module.cuda, torch.Tensor.cuda
    nn.Module.cuda = lambda self, *a, **k: self
    torch.Tensor.cuda = lambda self, *a, **k: self
    try:
        yield
    finally:
        nn.Module.cuda, torch.Tensor.cuda = m_cuda, t_cuda


def _route_every_edge(net):
    n = 0
    for mod in net.modules():
        if hasattr(mod, "forward_every_edge") and type(mod).__name__ == "InferCell":
            mod.forward = types.MethodType(type(mod).forward_every_edge, mod)
            n += 1
    return n


def reference_scores(model, x, y, n_batches=2, batches=None, every_edge=True, **_):
    """ZiCo of `model` (nn.Module: x -> logits).

    Batches: `batches=[(x1, y1), (x2, y2), ...]` if given, else x/y split along dim 0 into `n_batches`
    consecutive equal chunks (the authors: maxbatch=2 batches of --batch_size each, drawn from a
    shuffled train loader).  Loss: nn.CrossEntropyLoss() (mean), labels used.
    """
    if batches is None:
        assert x.shape[0] % n_batches == 0, "batch must split evenly"
        batches = list(zip(torch.chunk(x, n_batches, 0), torch.chunk(y, n_batches, 0)))
    net = copy.deepcopy(model)
    if every_edge:
        _route_every_edge(net)
    with _cuda_is_identity():
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        loader = [[bx.to(dev), by.to(dev)] for bx, by in batches]
        lossfunc = nn.CrossEntropyLoss().to(dev)
        res = getzico(net, loader, lossfunc)
    return {"zico": float(res)}


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.path.insert(0, ROOT)
    from archscore.spaces import get_space

    space = get_space("nb201")
    archs = [
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        # node 1's conv feeds only `none` edges: grad None under archscore's forward (see every_edge)
        "|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|",
    ]
    macro = space.macro(C=8, N=1, num_classes=10, in_channels=3, input_size=32)
    torch.manual_seed(1)
    x = torch.randn(16, 3, 32, 32)
    y = torch.randint(0, 10, (16,))
    for a in archs:
        torch.manual_seed(0)
        model = space.build(space.parse(a), macro).train()
        out = reference_scores(model, x, y)
        try:
            out["zico_archscore_forward"] = reference_scores(model, x, y, every_edge=False)["zico"]
        except AttributeError as e:  # authors' getgrad on a None grad
            out["zico_archscore_forward"] = f"crash: {e}"
        print(a, out)
