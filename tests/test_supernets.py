"""The weight-sharing supernets of the spaces beyond NB201 (NB201's own: test_one_shot.py): a subnet
computes the stand-alone network of its architecture with inherited weights, touches only its own
ops, and every architecture is reachable by the path samplers (tiny macros, synthetic batches)."""
from collections import Counter

import numpy as np
import pytest
import torch

from archscore.estimators.one_shot import Heuristics, SupernetTrainer
from archscore.estimators.one_shot.sampling import PathSampler
from archscore.engine.run.data import DataSpec, load_images
from archscore.spaces import get_space
from archscore.spaces.darts.supernet import edge_index, op_set_keys

SHAPE = (3, 32, 32)


def batch(n=4, seed=0):
    return torch.randn(n, *SHAPE, generator=torch.Generator().manual_seed(seed))


# -- DARTS ---------------------------------------------------------------------------------------

DARTS = get_space("darts")
DARTS_TINY = DARTS.macro(C=4, N=1)


def darts_inherited(net, arch):
    """The stand-alone network of ``arch`` with the supernet's weights (mapped by name)."""
    alone = DARTS.build(arch, DARTS_TINY)
    theirs = net.state_dict()
    mine = {}
    for name in alone.state_dict():
        parts = name.split(".")
        if parts[0] == "cells" and parts[2] == "ops":
            k, j = int(parts[1]), int(parts[3])
            cell = arch.reduce if net.cells[k].reduction else arch.normal
            src, op = cell[j]
            edge_set = net.cells[k].sets[edge_index(src, 2 + j // 2)]
            name_in_net = ".".join(["cells", str(k), "candidates", str(edge_set), "ops", str(op)] + parts[4:])
        else:
            name_in_net = name
        mine[name] = theirs[name_in_net]
    alone.load_state_dict(mine)
    return alone


@pytest.mark.parametrize("seed", range(3))
def test_a_darts_subnet_is_the_stand_alone_network_with_inherited_weights(seed):
    torch.manual_seed(seed)
    net = DARTS.supernet(DARTS_TINY, bn_affine=True, bn_track_running_stats=True)
    for arch in DARTS.sample(4, np.random.default_rng(seed)):
        alone = darts_inherited(net, arch)
        x = batch(seed=seed)
        with torch.no_grad():
            assert torch.equal(net.train()(x, arch), alone.train()(x))


def test_a_darts_subnet_touches_only_its_own_ops():
    net = DARTS.supernet(DARTS_TINY)
    arch = DARTS.sample(1, np.random.default_rng(5))[0]
    net(batch(), arch).sum().backward()
    used = set()
    for k, cell in enumerate(net.cells):
        for j, (src, op) in enumerate(arch.reduce if cell.reduction else arch.normal):
            used.add((k, cell.sets[edge_index(src, 2 + j // 2)], op))
    seen_used = seen_unused = 0
    for name, p in net.named_parameters():
        if ".candidates." in name:
            parts = name.split(".")
            key = (int(parts[1]), int(parts[3]), int(parts[5]))
            if key in used:
                seen_used += 1
                assert p.grad is not None, name
            else:
                seen_unused += 1
                assert p.grad is None, name
    assert seen_used and seen_unused


def test_darts_ops_on_nodes_share_one_set_per_target_node():
    assert op_set_keys("edges") == tuple(range(14))
    sets = op_set_keys("nodes")
    from_inputs = [sets[edge_index(s, n)] for n in range(2, 6) for s in (0, 1)]
    assert len(set(from_inputs)) == 8
    assert sets[edge_index(2, 4)] == sets[edge_index(3, 4)] and sets[edge_index(2, 5)] == sets[edge_index(4, 5)]
    assert len(set(sets)) == 8 + 3  # nodes 3, 4, 5 take intermediate inputs
    small = sum(p.numel() for p in DARTS.supernet(DARTS_TINY, topology="nodes").parameters())
    assert small < sum(p.numel() for p in DARTS.supernet(DARTS_TINY).parameters())


def test_darts_choices_reach_every_genotype_and_sample_uniformly():
    shape = DARTS.choice_shape()
    assert shape == (1, 7, 7, 3, 7, 7, 6, 7, 7, 10, 7, 7) * 2
    assert np.prod(shape, dtype=float) == pytest.approx((180 * 49 ** 4) ** 2)
    for arch in DARTS.sample(20, np.random.default_rng(1)):
        sorted_pairs = [tuple(sorted(c[2 * i: 2 * i + 2])) for c in arch.cells() for i in range(4)]
        choices = []
        for n, (a, b) in enumerate(sorted_pairs):
            i = n % 4
            pairs = [(x, y) for x in range(i + 2) for y in range(x + 1, i + 2)]
            choices += [pairs.index((a[0], b[0])), a[1], b[1]]
        assert DARTS.canonical_string(DARTS.from_choices(choices)) == DARTS.canonical_string(arch)
    sampler = PathSampler(DARTS, "uniform", 1, np.random.default_rng(0))
    last_node_inputs = Counter(tuple(sorted(s for s, _ in sampler.step()[0].normal[6:])) for _ in range(2000))
    assert len(last_node_inputs) == 10 and min(last_node_inputs.values()) > 140  # 200 expected each


def test_darts_supernet_refuses_what_does_not_apply():
    with pytest.raises(ValueError, match="dynamic_channels .* NB101"):
        DARTS.supernet(DARTS_TINY, dynamic_channels=True)
    with pytest.raises(ValueError, match="cell_bn"):
        DARTS.supernet(DARTS.macro(C=4, N=1, cell_bn="naslib"))
    with pytest.raises(ValueError, match="fairnas needs decisions with equal option counts"):
        PathSampler(DARTS, "fairnas", 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="deiso needs a finite space"):
        PathSampler(DARTS, "deiso", 1, np.random.default_rng(0))


# -- training any space's supernet ---------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic():
    return load_images(DataSpec.parse("synthetic"), 10, SHAPE)


TINY = {"nb101": {"C": 8, "N": 1}, "darts": {"C": 4, "N": 1}, "nds_resnet": {"max_depth": 2, "max_width": 24},
        "nds_resnext_a": {"max_depth": 2, "max_width": 32}}


@pytest.mark.parametrize("space_name, heuristics", [
    ("darts", {"bn_track_running_stats": True, "path_dropout": 0.2, "archs_per_step": 2}),
    ("darts", {"wsbn": True, "bn_affine": False, "topology": "nodes", "bn_recalibrate_batches": 1}),
    ("nb101", {"bn_recalibrate_batches": 1, "path_dropout": 0.1}),
    ("nb101", {"dynamic_channels": False, "sampling": "deiso"}),
    ("nds_resnet", {"bn_track_running_stats": True}),
    ("nds_resnext_a", {"bn_recalibrate_batches": 1, "archs_per_step": 2}),
])
@pytest.mark.slow
def test_a_supernet_trains_resumes_exactly_and_scores(synthetic, space_name, heuristics):
    space = get_space(space_name)
    macro = space.macro(**TINY[space_name])
    h = Heuristics.from_mapping({"epochs": 2, "batch_size": 64, **heuristics})

    def make():
        return SupernetTrainer(space, macro, h, synthetic, "synthetic", SHAPE)

    straight = make()
    straight.train_epoch()
    straight.train_epoch()
    first = make()
    first.train_epoch()
    resumed = make()
    resumed.load_state(first.state())
    resumed.train_epoch()
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
    rng = np.random.default_rng(0)
    archs = [space.sample_subnet(rng, macro) for _ in range(3)]
    acc, loss = resumed.scorer(eval_batches=1, batch_size=32).score(archs)
    assert np.all((0 <= acc) & (acc <= 100)) and np.all(np.isfinite(loss))
    assert np.array_equal(straight.scorer(eval_batches=1, batch_size=32).score(archs)[1], loss)


# -- NB101 ---------------------------------------------------------------------------------------

NB101 = get_space("nb101")
NB101_TINY = NB101.macro(C=8, N=1)


def copy_conv_bn(conv, bn, src_conv_weight, src_bn, rows=None):
    """Load a stand-alone conv + BN with the first channels of a supernet unit (or ``rows`` given)."""
    c_out, c_in = conv.weight.shape[:2]
    conv.weight.data.copy_(src_conv_weight[:c_out, :c_in] if rows is None else rows)
    for name in ("weight", "bias", "running_mean", "running_var"):
        if getattr(src_bn, name) is not None and getattr(bn, name) is not None:
            getattr(bn, name).data.copy_(getattr(src_bn, name)[:c_out])


def nb101_inherited(net, arch):
    from archscore.spaces.nb101.cells import compute_vertex_channels
    from archscore.spaces.nb101.graph import OPS
    from archscore.spaces.nb101.model import Cell, ConvBnRelu

    alone = NB101.build(arch, NB101_TINY)

    def unit(module, width):
        return module.by_width[str(width)] if hasattr(module, "by_width") else module

    def load(dst, src):
        copy_conv_bn(dst[0], dst[1], src.conv.weight, src.bn)

    load(alone.layers[0], net.stem)
    rows, ops = arch.pruned
    cells = [m for m in alone.layers if isinstance(m, Cell)]
    assert len(cells) == len(net.cells)
    for cell, scell in zip(cells, net.cells):
        channels = compute_vertex_channels(rows, scell.c_in, scell.c_out)
        for t, op in enumerate(cell.vertex_ops, start=1):
            if isinstance(op, ConvBnRelu):
                load(op, unit(scell.slots[t - 1].ops[OPS[ops[t - 1]]], channels[t]))
        for key, proj in cell.projections.items():
            t = int(key)
            load(proj, scell.output_projection if t == len(rows) - 1 else unit(scell.slots[t - 1].projection, channels[t]))
    alone.classifier.load_state_dict(net.classifier.state_dict())
    return alone


@pytest.mark.parametrize("dynamic", [True, False])
def test_an_nb101_subnet_is_the_stand_alone_network_with_inherited_weights(dynamic):
    torch.manual_seed(0)
    net = NB101.supernet(NB101_TINY, dynamic_channels=dynamic, bn_track_running_stats=True)
    archs = NB101.sample(6, np.random.default_rng(3))
    assert len({len(a.pruned[0]) for a in archs if a.pruned}) > 1  # cells of several sizes
    for arch in archs:
        alone = nb101_inherited(net, arch)
        x = batch()
        with torch.no_grad():
            assert torch.allclose(net.train()(x, arch), alone.train()(x), rtol=0, atol=1e-5)


def test_nb101_widths_share_weights_only_with_dynamic_channels():
    shared = sum(p.numel() for p in NB101.supernet(NB101_TINY).parameters())
    separate = sum(p.numel() for p in NB101.supernet(NB101_TINY, dynamic_channels=False).parameters())
    assert separate > shared
    from archscore.spaces.nb101.supernet import widths
    assert widths(128) == (25, 26, 32, 42, 43, 64, 128)


def test_a_disconnected_nb101_cell_outputs_zeros_in_the_supernet():
    from archscore.spaces.nb101 import from_spec

    arch = from_spec([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"])
    assert arch.pruned is None
    net = NB101.supernet(NB101_TINY).eval()
    with torch.no_grad():
        assert torch.equal(net(batch(), arch), net.classifier.bias.expand(4, -1))


def test_nb101_supernet_refuses_what_does_not_apply():
    with pytest.raises(ValueError, match="wsbn"):
        NB101.supernet(NB101_TINY, wsbn=True)
    with pytest.raises(ValueError, match="topology=nodes"):
        NB101.supernet(NB101_TINY, topology="nodes")
    with pytest.raises(ValueError, match="fairnas needs decisions"):
        PathSampler(NB101, "fairnas", 1, np.random.default_rng(0))


# -- NDS -----------------------------------------------------------------------------------------

def nds_inherited(space, net, arch, macro):
    alone = space.build(arch, macro)

    def load(dst_seq, i, src, groups=1):
        conv, bn = dst_seq[i], dst_seq[i + 1]
        rows = None
        if groups > 1:  # the block diagonal of the full-width weight, row by row
            W = src.conv.weight
            full, c_out, c_in = W.shape[0] // groups, conv.weight.shape[0], conv.weight.shape[1]
            rows = torch.stack([W[o, (o // full) * full: (o // full) * full + c_in] for o in range(c_out)])
        copy_conv_bn(conv, bn, src.conv.weight, src.bn, rows)

    load(alone.stem, 0, net.stem)
    blocks = iter(alone.blocks)
    for stage in range(3):
        for b in range(arch.depths[stage]):
            dst, src = next(blocks), net.stages[stage][b]
            if dst.proj is not None:
                load(dst.proj, 0, src.proj)
            for k, conv in enumerate(src.convs):
                load(dst.f, 3 * k, conv, arch.groups[stage] if (arch.block == "bottleneck" and k == 1) else 1)
    w = arch.widths[-1]
    alone.classifier.weight.data.copy_(net.classifier.weight[:, :w])
    alone.classifier.bias.data.copy_(net.classifier.bias)
    return alone


@pytest.mark.parametrize("space_name", ["nds_resnet", "nds_resnext_a"])
def test_an_nds_subnet_is_the_stand_alone_network_with_inherited_weights(space_name):
    space = get_space(space_name)
    macro = space.macro(max_depth=2, max_width=32)
    torch.manual_seed(0)
    net = space.supernet(macro, bn_track_running_stats=True)
    rng = np.random.default_rng(4)
    archs = [space.sample_subnet(rng, macro) for _ in range(6)]
    if space_name == "nds_resnext_a":
        assert {g for a in archs for g in a.groups} == {1, 2, 4}
    for arch in archs:
        alone = nds_inherited(space, net, arch, macro)
        x = batch()
        with torch.no_grad():
            assert torch.allclose(net.train()(x, arch), alone.train()(x), rtol=0, atol=1e-5)


def test_nds_caps_bound_sampling_and_scoring():
    space = get_space("nds_resnet")
    macro = space.macro(max_depth=2, max_width=24)
    rng = np.random.default_rng(0)
    drawn = [space.sample_subnet(rng, macro) for _ in range(300)]
    assert {d for a in drawn for d in a.depths} == {1, 2} and {w for a in drawn for w in a.widths} == {16, 24}
    net = space.supernet(macro)
    with pytest.raises(ValueError, match="beyond this supernet's grid"):
        net(batch(), space.parse("ds=1,3,1;ws=16,16,16"))
    with pytest.raises(ValueError, match="max_width=8 is below every choice"):
        space.supernet(space.macro(max_width=8))
    with pytest.raises(ValueError, match="dynamic_channels=false"):
        space.supernet(macro, dynamic_channels=False)


# -- settings, streams, BN options ---------------------------------------------------------------

@pytest.mark.parametrize("space_name", sorted(TINY))
def test_every_supernet_builds_with_non_affine_tracked_batch_norm(space_name):
    space = get_space(space_name)
    net = space.supernet(space.macro(**TINY[space_name]), bn_affine=False, bn_track_running_stats=True)
    rng = np.random.default_rng(0)
    arch = space.sample_subnet(rng, space.macro(**TINY[space_name]))
    assert net.eval()(batch(), arch).shape == (4, 10)


@pytest.mark.parametrize("space_name, settings, message", [
    ("nb101", {"wsbn": True}, "wsbn"),
    ("nb101", {"topology": "nodes"}, "topology=nodes"),
    ("nb101", {"sampling": "fairnas"}, "fairnas needs decisions"),
    ("darts", {"sampling": "deiso"}, "deiso needs a finite space"),
    ("darts", {"dynamic_channels": True}, "dynamic_channels"),
    ("nds_resnet", {"dynamic_channels": False}, "dynamic_channels=false"),
    ("nds_resnet", {"init_channels": 8}, "init_channels sets the macro's C / N, which nds_resnet does not have"),
    ("nb201", {"dynamic_channels": True}, "dynamic_channels"),
])
def test_settings_a_space_refuses_fail_before_anything_is_built(space_name, settings, message):
    from archscore.estimators.one_shot import check_settings

    space = get_space(space_name)
    with pytest.raises(ValueError, match=message):
        check_settings(space, space.macro(), Heuristics.from_mapping(settings))


def test_unset_dynamic_channels_resolves_to_the_space_default():
    h = Heuristics()
    assert h.dynamic_channels is None
    assert h.for_space(get_space("nb101")).dynamic_channels is True
    assert h.for_space(get_space("nds_resnext_a")).dynamic_channels is True
    assert h.for_space(get_space("nb201")).dynamic_channels is False  # as NB201 runs recorded it before
    assert Heuristics(dynamic_channels=False).for_space(get_space("nb101")).dynamic_channels is False


@pytest.mark.slow
def test_two_trainers_in_one_process_do_not_share_a_path_dropout_stream(synthetic):
    space, macro = get_space("darts"), get_space("darts").macro(C=4, N=1)
    h = Heuristics.from_mapping({"epochs": 2, "batch_size": 64, "path_dropout": 0.3})

    def make():
        return SupernetTrainer(space, macro, h, synthetic, "synthetic", SHAPE)

    alone = make()
    alone.train_epoch()
    a, b = make(), make()  # interleaved: a, b, a draws
    a.train_epoch()
    torch.rand(1000)  # the global stream moves; the trainers' own do not
    b.train_epoch()
    for (k, x), y, z in zip(alone.model.state_dict().items(), a.model.state_dict().values(),
                            b.model.state_dict().values()):
        assert torch.equal(x, y) and torch.equal(x, z), k


def test_an_nds_truth_sample_keeps_what_a_capped_supernet_has(tmp_path):
    from archscore.engine.evaluation.truth import truth_sample

    space = get_space("nds_resnet")
    archs = [space.parse(t) for t in ("ds=1,1,1;ws=16,16,16", "ds=2,1,2;ws=24,16,24", "ds=3,1,1;ws=16,16,16",
                                      "ds=1,1,1;ws=256,16,16")]
    path = tmp_path / "truth.csv"
    path.write_text("arch,test_accuracy\n" + "".join(f'"{space.to_string(a)}",{90 + i}.5\n' for i, a in enumerate(archs)))
    names, values, _ = truth_sample(str(path), "nds_resnet", None, 10, space.macro(max_depth=2, max_width=24))
    assert names == sorted(space.to_string(a) for a in archs[:2]) and sorted(values) == [90.5, 91.5]
    with pytest.raises(ValueError, match="within the supernet's macro"):
        truth_sample(str(path), "nds_resnet", None, 10, space.macro(max_depth=1, max_width=16))
