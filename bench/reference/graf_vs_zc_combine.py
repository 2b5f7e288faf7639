"""archscore's GRAF features against zc_combine's own code, on the same architectures.

zc_combine (gabikadlecova/zc_combine) computes GRAF's features with networkx; its package import
pulls in NASLib, so this driver stubs the package and imports the feature modules only (as its
``get_feature_dataset`` is called by ``scripts/train_on_features.py``), builds each net the way
its conversions do from the benchmark's own key, and compares every column, name and value, with
archscore's ``Space.graf`` on the same key parsed by archscore:

- NB201: all 15,625 cells (``nb201_full.json``), from NB201's strings; NB101: NASLib's 500 keys
  (``nb101_first.json``); NB301: NASLib's 725 keys (``nb301_full.json``).
- ``paper`` = zc_combine@456a12c's feature code (the paper's), ``head`` = @5a14948 (later
  max-op-on-path). Both are checked out from the clone given as ``ZC_COMBINE``.

    git clone https://github.com/gabikadlecova/zc_combine /tmp/zc_combine
    ZC_COMBINE=/tmp/zc_combine python -m bench.reference.graf_vs_zc_combine --data-dir ../shared/data

Needs networkx and pandas (not archscore dependencies). Prints one line per space x variant.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from archscore.spaces import get_space

COMMITS = {"paper": "456a12c65b31663a8c2266b6a765a905bb651aa7", "head": "5a149481413e97977f49c36fde9f888531daebaf"}
CONFIGS = {"nb201": "nb201_full.json", "nb101": "nb101_first.json", "darts": "nb301_full.json"}
MODULES = {"nb201": "nasbench201", "nb101": "nasbench101", "darts": "darts"}
NB201_OPS = ["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]
NB201_EDGES = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))
NB101_OPS = ["input", "output", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu"]
NB301_OPS = ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
             "dil_conv_5x5"]


def checkout(clone: Path, commit: str, into: Path) -> Path:
    """The commit's ``zc_combine/`` tree under ``into`` (git archive: the clone is not touched)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(clone), "archive", commit, "zc_combine"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def load_reference(root: Path) -> dict[str, types.ModuleType]:
    """zc_combine's feature modules from ``root`` (fresh each call), NASLib-free."""
    import networkx as nx

    for name in [n for n in sys.modules if n == "zc_combine" or n.startswith("zc_combine.")]:
        del sys.modules[name]
    for name, sub in (("zc_combine", "zc_combine"), ("zc_combine.features", "zc_combine/features")):
        package = types.ModuleType(name)
        package.__path__ = [str(root / sub)]
        sys.modules[name] = package
    conversions = types.ModuleType("zc_combine.features.conversions")

    def to_graph(edges):  # conversions.to_graph, verbatim logic
        graph = nx.DiGraph()
        for e_from, e_to in edges:
            graph.add_edge(e_from, e_to)
        return graph

    conversions.to_graph = to_graph
    sys.modules["zc_combine.features.conversions"] = conversions
    names = ["dataset", *MODULES.values()]
    return {n: importlib.import_module(f"zc_combine.features.{n}") for n in names}


# -- nets as zc_combine's conversions build them from the benchmarks' keys ---------------------------
def nb201_net(arch_string: str):
    """``parse_ops_nb201`` of NASLib's op tuple (``convert_str_to_op_indices``), ``nb201_to_graph``."""
    node_ops = [[t.split("~")[0] for t in g.strip()[1:-1].split("|")] for g in arch_string.split("+")]
    ops = tuple(NB201_OPS.index(node_ops[v - 2][u - 1]) for u, v in NB201_EDGES)
    return dict(enumerate(NB201_OPS)), dict(zip(NB201_EDGES, ops))


def nb101_net(key: str):
    import networkx as nx

    codes = ast.literal_eval(key)
    n = int(np.sqrt(len(codes)))
    matrix = np.array(codes[:n * n]).reshape(n, n)
    return dict(enumerate(NB101_OPS)), list(codes[n * n:]), nx.from_numpy_array(matrix, create_using=nx.DiGraph)


def darts_to_graph(genotype):
    """conversions.darts_to_graph, verbatim logic."""
    op_map = {o: i for i, o in enumerate(["out", *NB301_OPS])}
    edges = {}
    for i in range(len(genotype) // 2):
        for k in (2 * i, 2 * i + 1):
            op, j = genotype[k]
            u = "c_{k-2}" if j == 0 else ("c_{k-1}" if j == 1 else str(j - 2))
            edges[u, str(i)] = op_map[op]
    for i in range(len(genotype) // 2):
        edges[str(i), "c_{k}"] = op_map["out"]
    return {i: o for o, i in op_map.items()}, edges


def nb301_net(key: str):
    """``nb301_to_graph``: NASLib's ``convert_compact_to_genotype`` (op index -> name), per cell."""
    normal, reduce = ast.literal_eval(key)
    return tuple(darts_to_graph([(NB301_OPS[op], src) for src, op in cell]) for cell in (normal, reduce))


def reference_features(modules, config: Path, nets: dict):
    import pandas as pd

    cfg = json.loads(config.read_text())
    space_module = next(m for n, m in modules.items() if n != "dataset")
    frames = modules["dataset"].get_feature_dataset(nets, cfg, space_module.feature_func_dict)
    frame = pd.concat(list(frames.values()), axis=1)
    frame.columns = [c.replace("[", "(").replace("]", ")") for c in frame.columns]  # script_utils.get_dataset
    return list(frame.columns), frame.to_numpy(dtype=np.float64)


def benchmark_keys(space: str, data_dir: Path) -> list[str]:
    if space == "nb201":
        sp = get_space("nb201")
        return [sp.to_string(a) for a in sp.enumerate()]
    file = {"nb101": "zc_nasbench101.json", "darts": "zc_nasbench301.json"}[space]
    data = json.loads((data_dir / "naslib-zc" / file).read_text())
    return list((data["nasbench101"] if space == "nb101" else data)["cifar10"])


def compare(space: str, variant: str, root: Path, keys: list[str]) -> str:
    modules = load_reference(root)
    modules = {n: modules[n] for n in ("dataset", MODULES[space])}
    build = {"nb201": nb201_net, "nb101": nb101_net, "darts": nb301_net}[space]
    start = time.perf_counter()
    ref_names, ref = reference_features(modules, root / "zc_combine" / "configs" / CONFIGS[space],
                                        {i: build(k) for i, k in enumerate(keys)})
    ref_seconds = time.perf_counter() - start
    sp = get_space(space)
    archs = [sp.parse(k) if space == "nb201" else sp.from_naslib_key(k) for k in keys]
    start = time.perf_counter()
    ours = sp.graf(archs, variant)
    our_seconds = time.perf_counter() - start
    names_equal = ref_names == sp.graf_names()
    differ = ~np.isclose(ours, ref, rtol=0, atol=1e-12) if ours.shape == ref.shape else np.ones(1, bool)
    cells = int(differ.any(axis=1).sum()) if differ.ndim == 2 else -1
    return (f"{space:6s} {variant:5s} archs {len(keys):6d} features {ours.shape[1]:5d} (zc_combine {ref.shape[1]}) "
            f"names {'equal' if names_equal else 'DIFFER'}  cells differing {cells}  values differing "
            f"{int(differ.sum())}  max|diff| {float(np.abs(ours - ref).max()) if ours.shape == ref.shape else 'n/a'}  "
            f"s: zc_combine {ref_seconds:.1f} archscore {our_seconds:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--spaces", default="nb201,nb101,darts")
    parser.add_argument("--variants", default="paper,head")
    args = parser.parse_args()
    clone = Path(os.environ.get("ZC_COMBINE", "/tmp/zc_combine"))
    if not (clone / ".git").exists():
        raise SystemExit(f"ZC_COMBINE={clone} is not a git clone of gabikadlecova/zc_combine (see the docstring)")
    with tempfile.TemporaryDirectory() as tmp:
        roots = {v: checkout(clone, COMMITS[v], Path(tmp) / v) for v in args.variants.split(",")}
        for space in args.spaces.split(","):
            keys = benchmark_keys(space, args.data_dir)
            for variant, root in roots.items():
                print(compare(space, variant, root, keys), flush=True)


if __name__ == "__main__":
    main()
