"""Path queries on small cell graphs, as GRAF (Kadlecová et al., ICML 2024) computes them.

A graph is an adjacency dict ``node -> successors`` whose order is the order the edges were added
in: zc_combine builds networkx graphs edge by edge, and the paper's "most operations on a path"
counts operations on *the* path networkx's Bellman-Ford returns among equally short ones, which
depends on that order. :func:`bellman_ford_path` is a port of networkx's
``_inner_bellman_ford`` (networkx 3.x, BSD-3-Clause; SPFA with a FIFO queue, skipping a node
while one of its predecessors is queued) and of ``_build_paths_from_predecessors``' first path, so
the tie-breaking is networkx's without depending on networkx. ``bench/reference/graf_vs_zc_combine.py``
checks every NB201 cell and the NASLib NB101/NB301 cells against zc_combine's own code.
"""
from __future__ import annotations

from collections import deque
from itertools import combinations
from typing import Callable, Hashable, Iterable, Sequence

Adjacency = dict[Hashable, list[Hashable]]
VARIANTS = ("paper", "head")


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"GRAF variant must be one of {VARIANTS} (paper: zc_combine@456a12c, the published "
                         f"features; head: zc_combine@5a14948's max_op_on_path), got {variant!r}")
    return variant


def adjacency(edges: Iterable[tuple[Hashable, Hashable]], nodes: Iterable[Hashable] = ()) -> Adjacency:
    """Successor lists in edge order (``nodes`` are added first, as ``from_numpy_array`` does)."""
    adj: Adjacency = {n: [] for n in nodes}
    for u, v in edges:
        adj.setdefault(u, []).append(v)
        adj.setdefault(v, [])
    return adj


def shortest_path_length(adj: Adjacency, source: Hashable, target: Hashable) -> int | None:
    """Fewest edges from ``source`` to ``target`` (breadth first); None if unreachable or absent."""
    if source not in adj or target not in adj:
        return None
    seen, frontier, depth = {source}, [source], 0
    while frontier:
        if target in frontier:
            return depth
        nxt = []
        for u in frontier:
            for v in adj[u]:
                if v not in seen:
                    seen.add(v)
                    nxt.append(v)
        frontier, depth = nxt, depth + 1
    return None


def longest_path_nodes(adj: Adjacency, source: Hashable, target: Hashable) -> int | None:
    """Nodes on the longest ``source`` -> ``target`` path of a DAG (what Bellman-Ford with weight
    -1 returns: every such path has the same length); None if unreachable or absent."""
    if source not in adj or target not in adj:
        return None
    memo: dict[Hashable, int | None] = {}

    def longest(u: Hashable) -> int | None:
        if u == target:
            return 1
        if u not in memo:
            best = None
            for v in adj[u]:
                rest = longest(v)
                if rest is not None and (best is None or rest + 1 > best):
                    best = rest + 1
            memo[u] = best
        return memo[u]

    return longest(source)


def bellman_ford_path(adj: Adjacency, source: Hashable, target: Hashable,
                      weight: Callable[[Hashable, Hashable], float]) -> list[Hashable] | None:
    """The path ``nx.shortest_path(G, source, target, weight, method="bellman-ford")`` returns
    for the graph ``adj`` (no negative cycles: cells are DAGs); None where networkx raises
    ``NodeNotFound`` or ``NetworkXNoPath``."""
    if source not in adj or target not in adj:
        return None
    pred: dict[Hashable, list[Hashable]] = {source: []}
    dist: dict[Hashable, float] = {source: 0}
    queue, queued = deque([source]), {source}
    while queue:
        u = queue.popleft()
        queued.remove(u)
        if all(p not in queued for p in pred[u]):
            du = dist[u]
            for v in adj[u]:
                dv = du + weight(u, v)
                if dv < dist.get(v, float("inf")):
                    if v not in queued:
                        queue.append(v)
                        queued.add(v)
                    dist[v], pred[v] = dv, [u]
                elif v in dist and dv == dist[v]:
                    pred[v].append(u)
    if target not in pred:
        return None
    path = [target]
    while path[-1] != source:
        path.append(pred[path[-1]][0])
    return path[::-1]


def subsets(items: Sequence[int], empty: bool = False, largest: int | None = None) -> list[tuple[int, ...]]:
    """Subsets of ``items`` by size, lexicographic within a size (the order of zc_combine's configs)."""
    top = len(items) if largest is None else largest
    return [s for k in range(0 if empty else 1, top + 1) for s in combinations(items, k)]


def subset_name(subset: Sequence[int]) -> str:
    """zc_combine's column spelling of a subset: ``str(list)`` with brackets made parentheses."""
    return "(" + ", ".join(str(i) for i in subset) + ")"
