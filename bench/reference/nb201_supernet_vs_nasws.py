"""Run nasws (kcyu2014/nas-landmarkreg a00c361) NASBench201NetSearch (nasbench201/model_search.py,
SPOS 'oneshot' forward) against archscore's NB201Supernet on the same weights and input (train-mode
BN: batch statistics); then walkerning/aw_nas 732a003's NB201SharedNet (btcs/nasbench_201.py) if
$REF/aw_nas is checked out.

Reference arguments: those of the NB201 SPOS runs (bash/exps/validate-landmarkloss.sh, nao.sh):
`--search_policy spos --num_intermediate_nodes 4 --wsbn_affine=True --wsbn_track_stat=False`, and
no `--supernet_cell_type`, so the default 'op_on_node' (policy/cnn_search_configs.py:90); the
'op_on_edge' cell is run too. Path/global dropout 0 (defaults, :111/:113). Both take N = cells per
stage (model_search.py:53: [C]*N + [2C] + [2C]*N + [4C] + [4C]*N; ours: NB201Macro.N), here
C=8, N=1, 10 classes, a batch of 8 seeded 32x32x3 images.

nasws vs NB201 as published (D-X-Y's TinyNetwork/SearchCell), from reading the code:
  - cell op order ReLU-Conv-BN, 'none' = x.mul(0.) summed into the node, avg_pool_3x3 with
    count_include_pad=False, op list 'aa-nas' = none/skip/conv1x1/conv3x3/avgpool (our order): as
    published (lib/models/cell_operations.py:21-29 WSBN_OPS, 46-47, 54-68, 130-145, 163-176).
  - reduction = NB201 ResNetBasicblock (ReLUConvBN stride 2, ReLUConvBN, shortcut AvgPool2d(2) +
    1x1 conv without BN), stem conv3x3+BN, head BN-ReLU, global avg pool, Linear: as published,
    except that every BN (stem, cells, residual blocks, lastact) takes affine/track from
    --wsbn_affine/--wsbn_track_stat (model_search.py:49-51,65,87-89; cell_operations.py:95);
    the published supernet's blocks are affine and tracked. A nn.Dropout(--global_dropout_rate,
    default 0) sits before the classifier (model_search.py:86).
  - ReLUConvBN.forward calls self.train() ("always train mode for NASBench102",
    cell_operations.py:66-67): cell and residual-block BNs use batch statistics even in eval mode.
    With --wsbn_track_stat=False every BN does so anyway, so it changes nothing here.
  - 'op_on_node' (SearchCellOnNode, search_cells.py:215-270, the runs' default): the edges from
    node j>=2 into node i reuse the op set of edge i<-1 (:244-249), i.e. 3<-2 shares 3<-1's
    weights: 5 op sets per cell instead of NB201's 6. archscore's topology='nodes' is the same
    sharing; topology='edges' is 'op_on_edge' (SearchCell). Shown below: our per-edge weights put
    into the op_on_node model (3<-2 gets 3<-1's) differ exactly where edge 2->3 is a conv.
  - latent bugs the NB201 cells never reach: POOLING's 1x1 preprocess (C_in != C_out only) misses
    ReLUConvBN's `dilation` argument (cell_operations.py:137); path dropout calls .cuda()
    (operations/dropout.py:12, only when --path_dropout_rate > 0).
No torch-1.x shim is needed on this path (load_nasws.py's torch._six/networkx shims are for NB101).

aw_nas (btcs/nasbench_201.py, the weights manager 'nasbench-201' of
examples/research/surgery/nb201/deiso_plateaulr.yaml), from reading and running its code:
  - NB201SharedCell.forward (:2231-2260) evaluates edge from->to only if `from` is reachable from
    the input through non-'none' edges and `to` reaches the output (valid_input/valid_output,
    :2233-2247, also NB201CandidateNet :2328-2341). NB201 evaluates every edge: a ReLU-conv-BN on
    a dead (all-zero) node yields the BN's beta in train mode, so with affine cell BNs the outputs
    differ on such cells (shown; the one-line patch of :2254 to `if True:` makes them equal).
  - cell BNs are affine=False by default (cell_bn_affine=False, :2553; germ/nb201.py:207 too) while
    stem, residual blocks and lastact are affine (stem_affine/reduce_affine=True); every BN tracks
    running stats (nn.BatchNorm2d default). Non-affine cell BNs make the pruning above exact.
  - Dropout(0.1) before the classifier by default (dropout_rate=0.1, :2548, and in the yaml);
    NB201 has none. Set to 0 here (train mode would draw a mask).
  - reductions at layers (L+1)//3-1 and 2(L+1)//3-1 of num_layers L = 3N+2 (:2718-2722): same
    skeleton. Stem 'conv_bn_3x3' = conv3x3 + BN (ops.py:97), NB201ResidualBlock (ops.py:439) = NB201's.
The aw_nas classes are exec'd from the file's own source (ast): importing the module pulls the NB201
API, controllers and evaluators; its ops, Component and weights-manager base are imported as is.
"""
import ast, os, sys, re, types
from argparse import Namespace
from collections import defaultdict
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logging; logging.disable(logging.WARNING)
import numpy as np, torch
torch.set_num_threads(1)
import load_nasws
from archscore.spaces import get_space
from archscore.spaces.nb201.arch import EDGES, OPS
from archscore.spaces.nb201.model import ResNetBasicblock as OurResBlock

C, N = 8, 1
nw = load_nasws.nb201()
op_choices = nw.model_search.get_search_spaces("cell", "aa-nas")   # as build_nasbench201_search_model
assert tuple(op_choices) == OPS, op_choices
s = get_space("nb201")

def make_args(cell_type):
    return Namespace(search_policy="spos", supernet_cell_type=cell_type, wsbn_track_stat=False, wsbn_affine=True,
                     global_dropout_rate=0.0, path_dropout_rate=0.0)

def build_ref(cell_type):
    return nw.model_search.NASBench201NetSearch(C, N, max_nodes=4, num_classes=10, op_choices=op_choices,
                                                args=make_args(cell_type))

def build_ours(topology, seed=0):
    torch.manual_seed(seed)
    net = s.supernet(s.macro(C=C, N=N), bn_affine=True, bn_track_running_stats=False, topology=topology)
    with torch.no_grad():   # non-trivial BN affine and classifier bias
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5); m.bias.normal_(0, 0.2)
        net.classifier.bias.normal_(0, 0.1); net.classifier.weight.normal_(0, 1.0)
    return net

def rcb(dst, src):   # (ReLU, Conv, BN) Sequential -> (ReLU, Conv, BN) Sequential
    return [(dst[1].weight, src[1].weight), (dst[2].weight, src[2].weight), (dst[2].bias, src[2].bias)]

def copy_in(pairs, ref, ours, ours_unpaired=()):
    """Assert every reference parameter is paired exactly once (and every one of ours, but for
    `ours_unpaired`), shapes equal; then copy ours -> reference."""
    ref_ids = {id(p) for p in ref.parameters()}
    ours_ids = {id(p) for p in ours.parameters()} - {id(p) for p in ours_unpaired}
    assert len(pairs) == len(ref_ids) == len({id(d) for d, _ in pairs}) and {id(d) for d, _ in pairs} == ref_ids
    assert len({id(o) for _, o in pairs}) == len(pairs) and {id(o) for _, o in pairs} == ours_ids, \
        (len(pairs), len(ours_ids))
    with torch.no_grad():
        for d, o in pairs:
            assert d.shape == o.shape, (d.shape, o.shape); d.copy_(o)
    return len(pairs)

def nasws_pairs(ref, ours, cell_type, share_from=None):
    """Pair nasws's parameters with ours. Op sets follow `ours.sets` (edges/nodes); with
    share_from='edges' into an op_on_node reference, a shared set takes edge i<-1's weights."""
    P = [(ref.stem[0].weight, ours.stem[0].weight), (ref.stem[1].weight, ours.stem[1].weight),
         (ref.stem[1].bias, ours.stem[1].bias), (ref.lastact[0].weight, ours.lastact[0].weight),
         (ref.lastact[0].bias, ours.lastact[0].bias), (ref.classifier.weight, ours.classifier.weight),
         (ref.classifier.bias, ours.classifier.bias)]
    unpaired = []
    assert len(ref.cells) == len(ours.layers)
    for rc, oc in zip(ref.cells, ours.layers):
        if isinstance(rc, nw.cell_operations.ResNetBasicblock):
            assert isinstance(oc, OurResBlock) and rc.stride == 2
            P += rcb(rc.conv_a.op, oc.conv_a) + rcb(rc.conv_b.op, oc.conv_b)
            P += [(rc.downsample[1].weight, oc.downsample[1].weight)]
            continue
        assert isinstance(rc, nw.search_cells.SearchCell)
        seen = {}   # reference op list (by id) -> our op set
        for e, (src, dst) in enumerate(EDGES):
            key = f"{dst}<-{src}"
            rops = rc.edges[key] if cell_type == "op_on_edge" else rc.nodes[rc.edges[key]]
            oset = oc.sets[e]
            if id(rops) in seen:   # a reference set shared by edges: paired once
                assert share_from or seen[id(rops)] == oset
                if oset != seen[id(rops)]:
                    unpaired += list(oc.candidates[oset].parameters())
                continue
            assert oset not in seen.values()
            seen[id(rops)] = oset
            for k, name in enumerate(OPS):
                ro, oo = rops[k], oc.candidates[oset].ops[k]
                if name.startswith("nor_conv"):
                    P += rcb(ro.op, oo)
                else:
                    assert not list(ro.parameters()) and not list(oo.parameters()), name
    return P, unpaired

def structure(a):   # our arch -> nasws genotypes.Structure (node i: ((op, j), ...))
    return nw.Structure([tuple((OPS[a.ops[e]], src) for e, (src, dst) in enumerate(EDGES) if dst == i)
                         for i in range(1, 4)])

def ref_logits(ref, a):
    ref.arch_cache = structure(a)   # NASBench201SearchSpace.change_model_spec
    return ref(x)[0]

archs = list(s.sample(6, np.random.default_rng(0)))
for text in ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",                                  # all none
             "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
             "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
             "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
             "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",   # none edges
             "|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|",  # dead node 1 feeds on
             "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|none~2|",           # output cut off
             "|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|",   # dead node 2 -> conv
             "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_1x1~2|"):
    archs.append(s.parse(text))
x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))

refs, ours = {}, {}
for cell_type, topology in (("op_on_edge", "edges"), ("op_on_node", "nodes")):
    refs[cell_type], ours[cell_type] = build_ref(cell_type), build_ours(topology)
    P, unpaired = nasws_pairs(refs[cell_type], ours[cell_type], cell_type)
    assert not unpaired
    n = copy_in(P, refs[cell_type], ours[cell_type])
    print(f"nasws {cell_type}: {n} parameter tensors paired 1:1 with ours topology={topology}; op sets per cell "
          f"{len(ours[cell_type].layers[0].candidates)}")
# our per-edge supernet's weights in the op_on_node reference: 3<-2 gets 3<-1's weights
mixed = build_ref("op_on_node")
P, unpaired = nasws_pairs(mixed, ours["op_on_edge"], "op_on_node", share_from="edges")
copy_in(P, mixed, ours["op_on_edge"], unpaired)
for m in [*refs.values(), *ours.values(), mixed]:
    m.train()

print(f"{'architecture':105s} op_on_edge  op_on_node  |logit|max  edges->op_on_node")
for a in archs:
    with torch.no_grad():
        d = {k: (ours[k](x, a.ops) - ref_logits(refs[k], a)).abs().max().item() for k in refs}
        lo = ours["op_on_node"](x, a.ops)
        dm = (ours["op_on_edge"](x, a.ops) - ref_logits(mixed, a)).abs().max().item()
    print(f"{s.to_string(a):105s} {d['op_on_edge']:.3e}   {d['op_on_node']:.3e}   {lo.abs().max().item():7.2f}"
          f"     {dm:.3e}{'  (2->3 is a conv)' if OPS[a.ops[5]].startswith('nor_conv') else ''}")

# negative control: our logits for arch i against the reference running arch i+1
for k in refs:
    with torch.no_grad():
        ctl = [(ours[k](x, a.ops) - ref_logits(refs[k], b)).abs().max().item() for a, b in zip(archs[:5], archs[1:6])]
    print(f"control {k} (mismatched archs) max|diff|:", ["%.2f" % c for c in ctl])

# ---------------------------------------------------------------- aw_nas
AW = load_nasws.R + "/aw_nas"
if not os.path.isdir(AW + "/aw_nas"):
    print(f"aw_nas: {AW} not checked out, skipped"); sys.exit(0)
sys.path.insert(0, AW)
def _pkg(name, path):
    m = types.ModuleType(name); m.__path__ = [path]; sys.modules[name] = m; return m
aw = _pkg("aw_nas", AW + "/aw_nas"); aw.__version__ = "ref"
import aw_nas.utils as _u; aw.utils = _u
from aw_nas.base import Component; aw.Component = Component
import aw_nas.common
_pkg("aw_nas.weights_manager", AW + "/aw_nas/weights_manager")   # skip its __init__ (all weights managers)
from aw_nas.weights_manager.base import BaseWeightsManager, CandidateNet
from aw_nas.utils.parallel_utils import _check_support_candidate_member_mask
from aw_nas import ops as aw_ops
import six, yaml

def aw_classes(patch_valid=False):
    path = AW + "/aw_nas/btcs/nasbench_201.py"
    src = open(path).read()
    tree = ast.parse(src)
    names = ("NB201SharedCell", "NB201SharedOp", "BaseNB201SharedNet")
    code = "\n\n".join(ast.get_source_segment(src, n) for n in tree.body if isinstance(n, ast.ClassDef) and n.name in names)
    old = "if from_ in valid_input and to_ in valid_output:"
    assert code.count(old) == 1
    if patch_valid:   # evaluate every edge, as NB201 does
        code = code.replace(old, "if True:")
    ns = dict(torch=torch, nn=torch.nn, re=re, six=six, yaml=yaml, np=np, defaultdict=defaultdict, ops=aw_ops,
              BaseWeightsManager=BaseWeightsManager, CandidateNet=CandidateNet, NB201CandidateNet=None,
              NasBench201Rollout=None, _check_support_candidate_member_mask=_check_support_candidate_member_mask)
    exec(compile(code, path, "exec"), ns)
    # BaseNB201SharedNet is NB201SharedNet ('nasbench-201') less the cell/op classes it fills in
    return ns

def build_aw(cell_bn_affine, patch_valid=False):
    ns = aw_classes(patch_valid)
    # the attributes the net reads of NasBench201SearchSpace (defaults, num_layers = 3N + 2)
    ss = types.SimpleNamespace(num_vertices=4, ops_choices=OPS, num_layers=3 * N + 2)
    return ns["BaseNB201SharedNet"](ss, torch.device("cpu"), cell_cls=ns["NB201SharedCell"], op_cls=ns["NB201SharedOp"],
                                    init_channels=C, num_classes=10, dropout_rate=0.0, cell_bn_affine=cell_bn_affine)

def aw_pairs(ref, ours, cell_affine):
    P = [(ref.stem.op[0].weight, ours.stem[0].weight), (ref.stem.op[1].weight, ours.stem[1].weight),
         (ref.stem.op[1].bias, ours.stem[1].bias), (ref.lastact[0].weight, ours.lastact[0].weight),
         (ref.lastact[0].bias, ours.lastact[0].bias), (ref.classifier.weight, ours.classifier.weight),
         (ref.classifier.bias, ours.classifier.bias)]
    fixed = []   # our cell BN affine where aw_nas's cell BN has none: set to identity (weight 1, bias 0)
    for rc, oc in zip(ref.cells, ours.layers):
        if isinstance(rc, aw_ops.NB201ResidualBlock):
            P += rcb(rc.conv_a.op, oc.conv_a) + rcb(rc.conv_b.op, oc.conv_b) + [(rc.downsample[1].weight, oc.downsample[1].weight)]
            continue
        for e, (src, dst) in enumerate(EDGES):
            rops, oops = rc.edges[src][dst].p_ops, oc.candidates[oc.sets[e]].ops
            for k, name in enumerate(OPS):
                if not name.startswith("nor_conv"):
                    assert not list(rops[k].parameters()) and not list(oops[k].parameters()); continue
                r, o = rops[k].op, oops[k]
                P += [(r[1].weight, o[1].weight)]
                if cell_affine:
                    P += [(r[2].weight, o[2].weight), (r[2].bias, o[2].bias)]
                else:
                    assert not r[2].affine; fixed += [o[2].weight, o[2].bias]
                    with torch.no_grad():
                        o[2].weight.fill_(1.0); o[2].bias.zero_()
    return P, fixed

def aw_genotype(a):   # our arch -> aw_nas rollout.arch: matrix[to][from] = op index
    g = np.zeros((4, 4), dtype=int)
    for e, (src, dst) in enumerate(EDGES):
        g[dst][src] = a.ops[e]
    return g

def dead(a):   # a conv edge out of a node the input does not reach, into a node that reaches the output
    live_in, live_out = {0}, {3}
    for e, (src, dst) in enumerate(EDGES):
        if a.ops[e] and src in live_in: live_in.add(dst)
    for e, (src, dst) in reversed(list(enumerate(EDGES))):
        if a.ops[e] and dst in live_out: live_out.add(src)
    return any(OPS[a.ops[e]].startswith("nor_conv") and src not in live_in and dst in live_out
               for e, (src, dst) in enumerate(EDGES))
runs = {}
for label, affine, patch in (("aw_nas defaults (cell BN affine=False)", False, False),
                             ("aw_nas cell_bn_affine=True", True, False),
                             ("aw_nas cell_bn_affine=True, :2254 patched to `if True:`", True, True)):
    ref, our = build_aw(affine, patch), build_ours("edges", seed=1)
    P, fixed = aw_pairs(ref, our, affine)
    n = copy_in(P, ref, our, fixed)
    ref.train(); our.train()
    with torch.no_grad():
        runs[label] = [(our(x, a.ops) - ref(x, aw_genotype(a))).abs().max().item() for a in archs]
        if patch:
            ctl = [(our(x, a.ops) - ref(x, aw_genotype(b))).abs().max().item() for a, b in zip(archs[:5], archs[1:6])]
    print(f"{label}: {n} parameter tensors paired" + (f", {len(fixed)} of ours (cell BN affine) fixed to 1/0" if fixed else ""))
print(f"{'architecture':105s} " + "  ".join(f"[{i}]" + " " * 6 for i in range(len(runs))) + " (columns: the runs above in order)")
for i, a in enumerate(archs):
    print(f"{s.to_string(a):105s} " + "  ".join(f"{r[i]:.3e}" for r in runs.values())
          + ("  (conv out of a dead node)" if dead(a) else ""))
print("control aw_nas patched (mismatched archs) max|diff|:", ["%.2f" % c for c in ctl])
