"""Subnet equality: archscore's DartsSupernet(arch) vs quark0/darts model_search.Network (f276dd3) with
one-hot architecture weights (the genotype's (input, op) pairs weight 1, every other edge on 'none'),
same weights, same batch, train mode."""
import sys, json, torch, numpy as np
import os
REF = os.environ.get("REF", "/tmp/ref_supernets")
sys.path.insert(0, REF + "/darts/cnn"); sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)) + "/stubs")
torch.Tensor.cuda = lambda self, *a, **k: self  # CPU machine: their code calls .cuda()
import model_search
from genotypes import PRIMITIVES
from archscore.spaces import get_space
from archscore.spaces.darts import OPS
from archscore.spaces.darts.supernet import edge_index
s = get_space("darts")
d = json.load(open("/work/shared/data/naslib-zc/zc_nasbench301.json"))["cifar10"]
C, LAYERS = 8, 5
theirs = model_search.Network(C, 10, LAYERS, criterion=None)
torch.manual_seed(1)
with torch.no_grad():  # random weights everywhere (stem BN affine too), so a mis-mapped one shows
    for p in theirs.parameters():
        p.normal_(0, 0.5)
ours = s.supernet(s.macro(C=C, N=1), bn_affine=False, bn_track_running_stats=True, wsbn=True)
# map their parameters/buffers to ours: stem, cells.k.preprocess*, cells.k._ops.e._ops.p -> cells.k.candidates.e.ops.(p-1)
ts = theirs.state_dict(); os_ = ours.state_dict()
mapped = {}
for k, v in ts.items():
    parts = k.split(".")
    if parts[0] == "cells" and parts[2] == "_ops":
        prim = PRIMITIVES[int(parts[5])]
        if prim == "none":
            continue
        rest = parts[6:]
        if prim in ("max_pool_3x3", "avg_pool_3x3"):
            rest = ["1"] + rest[1:]  # their Sequential(pool, BN) -> our Sequential(pool, BN)
            assert parts[6] == "1", k
        nk = ".".join(["cells", parts[1], "candidates", parts[3], "ops", str(OPS.index(prim))] + rest)
    else:
        nk = k
    mapped[".".join(t for t in nk.split(".") if t != "op")] = v  # their ops wrap a Sequential in .op
missing = set(os_) - set(mapped); extra = set(mapped) - set(os_)
assert missing == set() and extra == set(), (sorted(missing)[:5], sorted(extra)[:5])
ours.load_state_dict(mapped)
worst, n = 0.0, 0
for key in list(d)[:20]:
    a = s.parse(key)
    an = torch.full((14, len(PRIMITIVES)), -float("inf")); ar = an.clone()
    an[:, 0] = 0; ar[:, 0] = 0   # 'none' everywhere ...
    for alpha, cell in ((an, a.normal), (ar, a.reduce)):
        for i in range(4):
            for src, op in cell[2 * i: 2 * i + 2]:
                e = edge_index(src, 2 + i)
                alpha[e, 0] = -float("inf"); alpha[e, PRIMITIVES.index(OPS[op])] = 0   # ... but the chosen pairs
    theirs.alphas_normal.data.copy_(an); theirs.alphas_reduce.data.copy_(ar)
    torch.manual_seed(0); x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        y1 = theirs.train()(x); y2 = ours.train()(x, a)
    worst = max(worst, (y1 - y2).abs().max().item()); n += 1
print(f"their |logit| max {y1.abs().max():.2f}; {n} genotypes, C={C}, {LAYERS} cells: max |diff| of train-mode logits = {worst:.3e}")
# control: our subnet of a different genotype must not match theirs
other = s.parse(list(d)[20])
with torch.no_grad():
    print(f"control (another genotype): max |diff| = {(theirs.train()(x) - ours.train()(x, other)).abs().max().item():.3e}")
