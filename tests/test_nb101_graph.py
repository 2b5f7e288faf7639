"""NB101 cell graphs: pruning and the benchmark's hash.

The expected hashes were computed in this session by google-research/nasbench ``b942470``'s own
``ModelSpec.hash_spec`` (run in a scratch folder on the same matrices), which also agreed with
``cell_hash`` on 3,000 random cells and on all 500 of NASLib's NB101 keys.
"""
import json

import numpy as np
import pytest

from archscore.spaces.nb101.graph import OPS, cell_hash, prune
from tests.conftest import data_path

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
INCEPTION = (np.array([[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
                       [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]]),
             ["input", C1, C3, C3, C3, MP, "output"])


def test_hashes_equal_the_benchmarks_own():
    assert cell_hash(np.array([[0, 1], [0, 0]]), ["input", "output"]) == "043721b9c7fe8c5fad811d47d83132ec"
    assert cell_hash(*INCEPTION) == "28cfc7874f6d200472e1a9dcd8650aa0"  # the nasbench README's example cell


def random_topological_order(matrix, rng):
    indegree, order = matrix.sum(axis=0).tolist(), []
    ready = [v for v in range(len(matrix)) if indegree[v] == 0]
    while ready:
        v = ready.pop(int(rng.integers(len(ready))))
        order.append(v)
        for w in np.flatnonzero(matrix[v]):
            indegree[w] -= 1
            if indegree[w] == 0:
                ready.append(int(w))
    return order


def test_isomorphic_cells_hash_equal_and_different_labels_do_not():
    rng = np.random.default_rng(1)
    matrix, ops = INCEPTION
    orders = {tuple(random_topological_order(matrix, rng)) for _ in range(50)}
    assert len(orders) > 5
    for order in map(list, orders):  # the same cell with its vertices numbered in another valid order
        assert cell_hash(matrix[np.ix_(order, order)], [ops[v] for v in order]) == cell_hash(matrix, ops)
    assert cell_hash(matrix, ["input", C3, C1, C3, C3, MP, "output"]) == cell_hash(matrix, ops)  # twin branches
    assert cell_hash(matrix, ["input", C1, C3, C3, C3, C1, "output"]) != cell_hash(matrix, ops)
    assert cell_hash(matrix, ["input", C1, C3, MP, C3, C3, "output"]) != cell_hash(matrix, ops)


def test_pruning_drops_vertices_off_every_input_output_path():
    m = np.zeros((5, 5), dtype=int)
    m[0, 1] = m[1, 4] = 1  # the computed path
    m[0, 2] = 1  # 2 reaches no output
    m[3, 4] = 1  # 3 is reached from no input
    pruned, ops = prune(m, ["input", C3, C1, MP, "output"])
    assert pruned.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]] and ops == ["input", C3, "output"]
    assert cell_hash(m, ["input", C3, C1, MP, "output"]) == cell_hash(pruned, ops)
    assert cell_hash(np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]]), ["input", C3, "output"]) is None  # computes nothing


@pytest.mark.parametrize("matrix, ops, message", [
    (np.zeros((2, 3)), ["input", "output"], "square"),
    (np.zeros((3, 3)), ["input", "output"], "3 vertices but 2 ops"),
    (np.array([[0, 1], [1, 0]]), ["input", "output"], "upper triangular"),
    (np.array([[0, 2], [0, 0]]), ["input", "output"], "0 or 1"),
    (np.array([[0, 1], [0, 0]]), ["output", "input"], "start with 'input'"),
    (np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]]), ["input", "conv5x5", "output"], "conv5x5"),
])
def test_malformed_cells_are_refused_naming_the_part(matrix, ops, message):
    with pytest.raises(ValueError, match=message):
        cell_hash(matrix, ops)


def test_naslibs_nb101_keys_are_292_distinct_cells():
    zc = json.loads(data_path("naslib-zc", "zc_nasbench101.json").read_text())["nasbench101"]["cifar10"]
    names = {0: "input", 1: "output", 2: MP, 3: C1, 4: C3}
    hashes = []
    for key in zc:
        codes = [int(c) for c in key.strip("()").split(",")]
        hashes.append(cell_hash(np.array(codes[:49]).reshape(7, 7), [names[c] for c in codes[49:]]))
    assert len(hashes) == 500 and None not in hashes and len(set(hashes)) == 292
    assert OPS == (C3, C1, MP)
