"""Run aw_nas 732a003's own germ NDS supernet (examples/research/surgery/nds/plugin/germ_nds.py,
force_ordinal) against archscore's NdsSupernet on the same weights and input (train-mode BN)."""
import os, sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logging; logging.disable(logging.WARNING)
import numpy as np, torch
torch.set_num_threads(1)
import load_awnas
from load_awnas import germ, germ_nds
from archscore.spaces import get_space
from archscore.spaces.nds import NdsArch
import archscore.spaces.nds.supernet as _nsn
def build_ref(kind):
    ss = germ.GermSearchSpace()
    if kind == "nds_resnet":   # GermResNet accepts depth/width choices
        net = germ_nds.GermResNet(ss, depths=[[1, 2]] * 3, widths=[[16, 24, 32]] * 3, force_ordinal=True)
    else:   # GermResNextA hard-codes the full grid; same constructor arguments, choices capped
        net = germ_nds.GermAnyNet(ss, block_type="res_bottleneck_block", depths=[[1, 2]] * 3, widths=[[16, 32]] * 3,
            strides=[1, 2, 2], bot_muls=[[0.25, 0.5, 1]] * 3, num_groups=[[1, 2, 4]] * 3, stem_type="res_stem_cifar",
            stem_w=16, num_classes=10, use_se=False, se_r=0.25, head_w=0, bn_affine=False,
            force_use_ordinal_channel_handler=True)
    return ss, net

def copy_weights(ours, ref, block):
    sd = {}
    sd["stem.conv.weight"] = ours.stem.conv.weight
    names = ["layer_a", "layer_b"] if block == "basic" else ["a_convbn", "b_convbn", "c_convbn"]
    for s, blocks in enumerate(ours.stages):
        for b, blk in enumerate(blocks):
            pre = f"stages.{s}.b{b + 1}."
            if blk.proj is not None:
                sd[pre + "proj_bn.conv.weight"] = blk.proj.conv.weight
            for i, n in enumerate(names):
                sd[pre + f"func.{n}.conv.weight"] = blk.convs[i].conv.weight
    sd["head.fc_layer.weight"] = ours.classifier.weight[:, :, None, None]
    sd["head.fc_layer.bias"] = ours.classifier.bias
    ref_params = dict(ref.named_parameters())
    assert set(sd) | {"stem.bn.weight", "stem.bn.bias"} == set(ref_params), set(ref_params) ^ set(sd)
    with torch.no_grad():
        for k, v in sd.items():
            assert ref_params[k].shape == v.shape, k
            ref_params[k].copy_(v)
    # ref stem BN is pycls's affine BN (weight 1, bias 0 at init); ours is non-affine
    assert torch.all(ref.stem.bn.weight == 1) and torch.all(ref.stem.bn.bias == 0)

def run(kind, settings, x):
    s = get_space(kind)
    torch.manual_seed(0)
    ours = s.supernet(s.macro(max_depth=2, max_width=32), bn_affine=False)
    with torch.no_grad():
        ours.classifier.bias.normal_(0, 0.1); ours.classifier.weight.normal_(0, 0.1)
    ss, ref = build_ref(kind)
    copy_weights(ours, ref, s.block)
    ours.train(); ref.train()
    for arch, note in settings:
        vals = {"depths": arch.depths, "widths": arch.widths}
        if s.block == "bottleneck":
            vals.update(bot_muls=arch.bot_muls, num_groups=arch.groups)
        d = {f"{k}.{i}": (v[i] if k != "bot_muls" else {0.25: 0.25, 0.5: 0.5, 1.0: 1}[v[i]])
             for k, v in vals.items() for i in range(3)}
        assert set(d) == set(ss.decisions), (set(d), set(ss.decisions))
        rollout = germ.GermRollout(d, ss)
        with torch.no_grad():
            a = ours(x, arch)
            b = ref.forward_rollout(rollout, x)
        print(f"{kind:14s} {s.to_string(arch):52s} max|diff| = {(a - b).abs().max().item():.3e}"
              f"  (|logit| max {a.abs().max().item():.2f}) {note}")

x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
rng = np.random.default_rng(0)
X = "bottleneck"
fixed = [((2, 2, 2), (32, 32, 32), (1.0, 1.0, 1.0), (1, 1, 1)),
         ((2, 1, 2), (32, 16, 32), (0.5, 0.25, 1.0), (2, 4, 1)),
         ((1, 2, 2), (32, 32, 16), (0.25, 0.5, 0.5), (4, 2, 2)),
         ((2, 2, 1), (32, 16, 16), (1.0, 1.0, 0.25), (4, 2, 4)),
         ((1, 1, 1), (32, 32, 32), (0.5, 1.0, 0.25), (2, 4, 2)),
         ((2, 2, 2), (32, 32, 32), (1.0, 0.5, 0.25), (4, 4, 4))]
sx = [(NdsArch(d, w, bm, g, block=X), "") for d, w, bm, g in fixed]
sp = get_space("nds_resnext_a"); mac = sp.macro(max_depth=2, max_width=32)
while len(sx) < 14:
    a = sp.sample_subnet(rng, mac)
    if a.widths[0] == 32: sx.append((a, "(random)"))
sx.append((NdsArch((2, 1, 1), (16, 32, 32), (0.5, 1.0, 1.0), (2, 1, 1), block=X), "(stage-1 width 16: KNOWN projection difference)"))
run("nds_resnext_a", sx, x)

sr = [(NdsArch((2, 2, 2), (32, 32, 32)), ""), (NdsArch((1, 2, 1), (24, 16, 32)), ""),
      (NdsArch((2, 1, 2), (32, 24, 16)), "")]
sp = get_space("nds_resnet"); mac = sp.macro(max_depth=2, max_width=32)
while len(sr) < 10:
    a = sp.sample_subnet(rng, mac)
    if a.widths[0] != 16: sr.append((a, "(random)"))
sr.append((NdsArch((2, 2, 1), (16, 24, 32)), "(stage-1 width 16: KNOWN projection difference)"))
run("nds_resnet", sr, x)

# negative control: our grouped 3x3 conv reading the FIRST w/g input columns (no block-diagonal offset)
import torch.nn.functional as F
from archscore.spaces.supernet_parts import sliced_batch_norm
def _wrong(self, x, c_out, groups=1):
    w = self.conv.weight[:c_out, : x.shape[1] // groups]
    return sliced_batch_norm(self.bn, F.conv2d(x, w, None, self.conv.stride, self.conv.padding, groups=groups), c_out)
_nsn.SlicedConvBn.forward = _wrong
print("control: first-columns grouped slicing instead of block diagonal")
run("nds_resnext_a", sx[1:4], x)
