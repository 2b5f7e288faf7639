"""Run nasws (kcyu2014/nas-landmarkreg a00c361) NasBenchNetSearch (model_search.py, mixedvertex,
DynamicConv2dv2 fixed_chunck, DynamicBatchNorm2d) against archscore's NB101Supernet on the same
weights and input (train-mode BN: batch statistics)."""
import sys, inspect, textwrap; sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import logging; logging.disable(logging.WARNING)
from argparse import Namespace
import numpy as np, torch
torch.set_num_threads(1)
import load_nasws
from load_nasws import model_search, nb_model, ModelSpec_v2
from archscore.spaces import get_space
from archscore.spaces.nb101.graph import OPS

C = 8

def make_args():
    return Namespace(bn_type="bn", nasbenchnet_vertex_type="mixedvertex", num_intermediate_nodes=5, layers=1,
                     init_channels=C, model_spec=None, dynamic_conv_method="fixed_chunck", dynamic_conv_dropoutw=0.0,
                     channel_dropout_method="fixed_chunck", channel_dropout_dropouto=0.0, wsbn_sync=False,
                     wsbn_track_stat=False, wsbn_affine=True, wsbn_train=False, path_dropout_rate=0.0,
                     global_dropout_rate=0.0, search_policy="spos")

# (1) the reference as it is: stack widths
ref0 = model_search.NasBenchNetSearch(make_args())
print("nasws as is: stem", ref0.stem[0].out_channels, "cell (in,out) per stack:",
      [(m.input_channels, m.output_channels) for st in ref0.stacks.values() for k, m in st.items() if "module" in k])
del ref0

# (2) NASBench stack widths (stack 0 keeps the stem width): one line of NasBenchNet.__init__ changed
src = textwrap.dedent(inspect.getsource(nb_model.NasBenchNet.__init__))
old = "output_channels = 2 * input_channels"
assert src.count(old) == 1
src = src.replace(old, "output_channels = input_channels if stack_num == 0 else 2 * input_channels")
ns = {}; exec(compile(src, nb_model.__file__, "exec"), nb_model.__dict__, ns)
nb_model.NasBenchNet.__init__ = ns["__init__"]
ref = model_search.NasBenchNetSearch(make_args())
cells = [m for st in ref.stacks.values() for k, m in st.items() if "module" in k]
print("patched:     stem", ref.stem[0].out_channels, "cell (in,out) per stack:", [(m.input_channels, m.output_channels) for m in cells])

s = get_space("nb101")
torch.manual_seed(0)
ours = s.supernet(s.macro(C=C, N=1), bn_affine=True, bn_track_running_stats=False, dynamic_channels=True)
with torch.no_grad():   # non-trivial BN affine and classifier bias
    for m in ours.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5); m.bias.normal_(0, 0.2)
    ours.classifier.bias.normal_(0, 0.1); ours.classifier.weight.normal_(0, 1.0)

def cbr(dst_conv, dst_bn, src):   # our SlicedConvBnRelu -> (conv, bn)
    return [(dst_conv.weight, src.conv.weight), (dst_bn.weight, src.bn.weight), (dst_bn.bias, src.bn.bias)]

pairs = [(ref.stem[0].weight, ours.stem.conv.weight), (ref.stem[1].weight, ours.stem.bn.weight),
         (ref.stem[1].bias, ours.stem.bn.bias), (ref.dense.weight, ours.classifier.weight),
         (ref.dense.bias, ours.classifier.bias)]
for cell_ref, cell_ours in zip(cells, ours.cells):
    pairs += cbr(cell_ref.projection[0], cell_ref.projection[1], cell_ours.output_projection)
    for t in range(1, 6):
        v, slot = cell_ref.vertex_ops[f"vertex_{t}"], cell_ours.slots[t - 1]
        pairs += cbr(v.proj_ops[0].conv, v.proj_ops[0].bn.bn, slot.projection)
        for k in ("conv3x3-bn-relu", "conv1x1-bn-relu"):
            pairs += cbr(v.ops[k].conv, v.ops[k].bn.bn, slot.ops[k])
ref_ids = {id(p) for p in ref.parameters()}
assert len(pairs) == len(ref_ids) == len({id(d) for d, _ in pairs}) == len(list(ours.parameters())), \
    (len(pairs), len(ref_ids), len(list(ours.parameters())))
with torch.no_grad():
    for d, src in pairs:
        assert d.shape == src.shape; d.copy_(src)

rng = np.random.default_rng(0)
archs = list(s.sample(5, np.random.default_rng(0)))
by_size = {}
for a in s.sample(3000, rng):
    n = len(a.pruned[0]); by_size.setdefault(n, [])
    if len(by_size[n]) < 2: by_size[n].append(a)
for n in sorted(by_size): archs += by_size[n]
for text in ("011/001/000:input,conv3x3-bn-relu,output", "001/000/000:input,conv3x3-bn-relu,output",
             "010/001/000:input,maxpool3x3,output"):
    try:
        archs.append(s.parse(text))
    except ValueError as e:
        print("not parsed:", text, e)
x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
ours.train(); ref.train()
for a in archs:
    rows, ops = a.pruned
    n = len(rows)
    mat = np.array([[rows[i] >> j & 1 for j in range(n)] for i in range(n)])
    spec = ModelSpec_v2(mat, ["input"] + [OPS[o] for o in ops] + ["output"])
    assert (spec.matrix == mat).all()   # nasws's own pruning leaves it unchanged
    ref.change_model_spec(spec)
    with torch.no_grad():
        lo = ours(x, a)
        lr, _ = ref(x)
    print(f"V={n} {s.to_string(a)[:60]:60s} skip={bool(rows[0] >> (n-1) & 1)!s:5} "
          f"max|diff| = {(lo - lr).abs().max().item():.3e} (|logit| max {lo.abs().max().item():.2f})")

# negative control: our logits for arch i against the reference running arch i+1
ctl = []
for a, b in zip(archs[:4], archs[1:5]):
    rows, ops = b.pruned; n = len(rows)
    mat = np.array([[rows[i] >> j & 1 for j in range(n)] for i in range(n)])
    ref.change_model_spec(ModelSpec_v2(mat, ["input"] + [OPS[o] for o in ops] + ["output"]))
    with torch.no_grad():
        ctl.append((ours(x, a) - ref(x)[0]).abs().max().item())
print("control (mismatched archs) max|diff|:", ["%.2f" % c for c in ctl])
