"""The NB101 space: values, strings, NASLib keys, pruning, enumeration, builder and costs.

Reference figures: NASLib's ``zc_nasbench101.json`` (published params/FLOPs of 500 cells) and the
benchmark's own hashes (see test_nb101_graph.py). The builder was also checked, outside the repo,
against NASBench-PyTorch ``37bc332``'s ``Network`` with the same weights and batch: equal logits on
40 NASLib cells (docs/spaces.md records it).
"""
import itertools
import json

import numpy as np
import pytest
import torch

from archscore.spaces import get_space
from archscore.spaces.nb101 import enumeration as nb101_enum
from archscore.spaces.nb101 import NB101Arch, from_spec, naslib_key
from archscore.spaces.nb101.cells import module_hash, pack, unpack
from archscore.spaces.nb101.graph import cell_hash
from tests.conftest import data_path

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
SPACE = get_space("nb101")
INCEPTION = ([[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
              [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
             ["input", C1, C3, C3, C3, MP, "output"])


def naslib_file():
    path = data_path("naslib-zc", "zc_nasbench101.json")
    return json.loads(path.read_text())["nasbench101"]["cifar10"]


def test_params_and_flops_equal_the_published_values_of_all_500_naslib_cells():
    entries = naslib_file()
    macro = SPACE.macro()
    archs = [SPACE.parse(k) for k in entries]
    params, flops = SPACE.costs_many(archs, macro)
    np.testing.assert_array_equal(params / 1e6, [e["params"] for e in entries.values()])
    np.testing.assert_allclose(flops / 1e6, [e["flops"] for e in entries.values()], rtol=0, atol=1e-9)


def test_readme_cell_params_equal_the_benchmarks_trainable_parameters():
    arch = from_spec(*INCEPTION)
    assert SPACE.params(arch, SPACE.macro()) == 2_694_282  # nasbench.query(spec)["trainable_parameters"]


def test_built_module_has_the_analytic_param_count_at_full_size():
    for arch in SPACE.sample(3, np.random.default_rng(0)) + [from_spec(*INCEPTION)]:
        net = SPACE.build(arch, SPACE.macro())
        assert sum(p.numel() for p in net.parameters()) == SPACE.params(arch, SPACE.macro())


def test_naslib_keys_parse_raw_round_trip_and_hash_as_the_benchmark():
    entries = naslib_file()
    for key in list(entries)[:100]:
        arch = SPACE.parse(key)
        assert naslib_key(arch) == key and SPACE.parse(SPACE.to_string(arch)) == arch
        codes = [int(c) for c in key.strip("()").split(",")]
        names = ["input", "output", MP, C1, C3]
        assert SPACE.canonical_string(arch) == cell_hash(np.array(codes[:49]).reshape(7, 7),
                                                         [names[c] for c in codes[49:]])


def test_spec_literals_parse():
    arch = from_spec(*INCEPTION)
    matrix, ops = INCEPTION
    assert SPACE.parse(repr((matrix, ops))) == arch
    assert SPACE.parse(json.dumps({"matrix": matrix, "ops": ops})) == arch
    assert SPACE.parse(json.dumps([matrix, ops])) == arch
    assert SPACE.to_string(arch) == ("0111010/0000001/0000001/0000100/0000001/0000001/0000000:"
                                     f"input,{C1},{C3},{C3},{C3},{MP},output")


@pytest.mark.parametrize("text, part", [
    ("01/10:input,output", "upper triangular"),
    ("011/001/000:input,conv5x5,output", "conv5x5"),
    ("011/001/000:input,output,output", "op\\(s\\) \\[.output.\\]"),
    ("01/00:output,input", "start with"),
    ("011/01/000:input,conv1x1-bn-relu,output", "row 1"),
    ("01/00", "ROW/ROW"),
    ("(1, 2, 3)", "NASLib NB101 key has 3"),
    ("[[0, 1], [0, 0]]", "square"),
    ("[[0, 1], 5]", "neither"),
    ('{"matrix": [[0]]}', "exactly 'matrix' and 'ops'"),
    ("00000000/" * 7 + "00000000:input," + "maxpool3x3," * 6 + "output", "7"),
])
def test_malformed_strings_raise_value_error_naming_the_part(text, part):
    with pytest.raises(ValueError, match=part):
        SPACE.parse(text)


def test_more_than_nine_edges_after_pruning_is_refused_but_not_before():
    dense = np.triu(np.ones((7, 7), dtype=int), 1)
    with pytest.raises(ValueError, match="21 edges after pruning"):
        from_spec(dense, ["input", C3, C3, C3, C3, C3, "output"])
    # 11 raw edges, but vertices 4 and 5 are dead ends: 7 edges remain after pruning
    m = np.zeros((7, 7), dtype=int)
    for s, d in [(0, 1), (1, 2), (2, 3), (3, 6), (0, 4), (1, 4), (2, 4), (0, 5), (1, 5), (2, 5), (0, 6)]:
        m[s, d] = 1
    arch = from_spec(m, ["input", C3, C3, C3, C1, C1, "output"])
    assert arch.is_connected and len(arch.pruned[0]) == 5


@pytest.mark.parametrize("code, part", [
    (7, "vertex field"), (1 << 40, "out of range"), (1 << 4, "edge bits"), (1 << 24, "op bits"),
    (1 | (3 << 24), "op code 3"), (-1, "out of range"),
])
def test_malformed_encodings_raise_value_error_naming_the_part(code, part):
    with pytest.raises(ValueError, match=part):
        SPACE.decode(code)


def test_disconnected_cell_is_a_degenerate_result_not_an_error():
    arch = from_spec([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", C3, "output"])
    other = from_spec([[0, 0, 0], [0, 0, 1], [0, 0, 0]], ["input", MP, "output"])
    assert not arch.is_connected and SPACE.canonical_string(arch) == "disconnected"
    assert SPACE.canonical_hash(arch) == SPACE.canonical_hash(other)
    macro = SPACE.macro(C=4, N=1)
    net = SPACE.build(arch, macro)
    out = net(torch.randn(2, 3, 32, 32))
    assert torch.equal(out, net.classifier.bias.expand(2, -1))
    assert SPACE.params(arch, macro) == sum(p.numel() for p in net.parameters())


def test_compact_encoding_fits_in_34_bits_and_survives_msgpack():
    msgpack = pytest.importorskip("msgpack")
    archs = SPACE.sample(200, np.random.default_rng(5)) + [SPACE.parse(k) for k in list(naslib_file())[:50]]
    codes = [SPACE.encode(a) for a in archs]
    assert max(codes) < 1 << 34
    assert [SPACE.decode(c) for c in msgpack.unpackb(msgpack.packb(codes))] == archs


def _full_dags(n):
    edges = [(x, y) for y in range(n) for x in range(y)]
    for mask in range(1 << len(edges)):
        if bin(mask).count("1") > 9:
            continue
        rows = [0] * n
        for b, (x, y) in enumerate(edges):
            if mask >> b & 1:
                rows[x] |= 1 << y
        outs = all(rows[v] for v in range(n - 1))
        ins = all(any(rows[u] >> v & 1 for u in range(v)) for v in range(1, n))
        if outs and ins:
            yield tuple(rows)


def _isomorphic(a, b):
    """Brute force: some permutation of the interior vertices maps cell a onto cell b."""
    (ra, oa), (rb, ob) = a, b
    n = len(ra)
    if n != len(rb):
        return False
    for perm in itertools.permutations(range(1, n - 1)):
        p = (0, *perm, n - 1)
        if all(oa[v - 1] == ob[p[v] - 1] for v in range(1, n - 1)) and all(
                (ra[x] >> y & 1) == (rb[p[x]] >> p[y] & 1) for x in range(n) for y in range(n)):
            return True
    return False


def test_hash_classes_equal_brute_force_isomorphism_classes_up_to_five_vertices():
    classes = {}
    for n in range(2, 6):
        for rows in _full_dags(n):
            for ops in itertools.product(range(3), repeat=n - 2):
                classes.setdefault(module_hash(rows, ops), []).append((rows, ops))
    assert len(classes) == 2_532  # generate_graphs.py's count of unique cells up to 5 vertices
    reps = []
    for members in classes.values():
        assert all(_isomorphic(members[0], m) for m in members[1:])
        reps.append(members[0])
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, len(reps), size=(3000, 2)):
        if i != j:
            assert not _isomorphic(reps[i], reps[j])
    emitted = list(nb101_enum.canonical_cells(max_vertices=5))
    assert len(emitted) == 2_532 and len({module_hash(*unpack(c)) for c in emitted}) == 2_532


@pytest.mark.slow
def test_full_enumeration_has_423624_cells_with_distinct_benchmark_hashes():
    encodings, hashes = nb101_enum.rebuild()  # computes, checks and refreshes the cache the other tests read
    assert len(encodings) == nb101_enum.SIZE == 423_624
    assert len(set(hashes.tolist())) == 423_624  # the benchmark's hashes: no two cells isomorphic
    assert nb101_enum.table_digest(encodings, hashes) == nb101_enum.DIGEST
    counts = np.bincount((encodings & 7) + 2, minlength=8)[2:]
    assert np.cumsum(counts).tolist() == [1, 7, 91, 2_532, 64_542, 423_624]


def test_enumeration_is_streamed_in_encoding_order_and_sampling_is_uniform_over_it():
    space_iter = SPACE.enumerate()
    first = [next(space_iter) for _ in range(1000)]
    codes = [SPACE.encode(a) for a in first]
    assert codes == sorted(codes) and all(a.is_connected and a.pruned == (a.rows, a.ops) for a in first)
    sample = SPACE.sample(2000, np.random.default_rng(0))
    sizes = np.bincount([a.num_vertices for a in sample], minlength=8)
    assert sizes[7] / 2000 == pytest.approx(359_082 / 423_624, abs=0.03)


def test_cache_file_is_trusted_only_with_the_expected_count_and_digest(tmp_path):
    encodings, hashes = nb101_enum.table()
    good = tmp_path / "good.npz"
    np.savez(good, encodings=encodings, hashes=hashes)
    assert nb101_enum.load_cached(good) is not None
    tampered = hashes.copy()
    tampered[5] = b"0" * 16
    np.savez(tmp_path / "bad.npz", encodings=encodings, hashes=tampered)
    np.savez(tmp_path / "short.npz", encodings=encodings[:-1], hashes=hashes[:-1])
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    for name in ("bad.npz", "short.npz", "junk.npz", "missing.npz"):
        assert nb101_enum.load_cached(tmp_path / name) is None


def test_value_equality_is_the_cell_as_given_and_identity_its_pruned_class():
    a = from_spec([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", C3, C1, "output"])
    b = from_spec([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", C3, C1, "output"])
    padded = NB101Arch((0b10010, 0b01100, 0b10000, 0, 0), (0, 1, 2))  # vertex 3 is a dead end
    assert a == b and hash(a) == hash(b) and pack(a.rows, a.ops) == a.encoding
    assert padded != a and SPACE.canonical_hash(padded) == SPACE.canonical_hash(a)
    assert SPACE.params(padded, SPACE.macro()) == SPACE.params(a, SPACE.macro())
