"""Ground truth and published scores, loaded as Arrow tables.

A truth table has columns ``space``, ``arch`` (the space's string form, the default join key),
``hash`` (the canonical hash, for joining by isomorphism class) and one float64 column per metric,
named as in the source file. Friendly aliases of those names (``test_accuracy`` for NB201's
``test-accuracy``) are kept in the schema metadata (:func:`metric_aliases`).

Which columns are metrics:

- a benchmark's own CSV layouts (each space lists its own in ``Space.truth_layouts``: NB201's
  two): their loss and accuracy columns (not ``index``, ``C``, ``N``, ``num_classes``, ... nor
  the ``*-time`` columns);
- any other CSV/Parquet file: its floating-point columns, except those whose name says they
  measure time (``time``, ``seconds``): integer columns are identifiers or configuration
  (``index``, ``C``, ``N``) and times are costs, not quality. ``load_truth(metrics=[...])``
  keeps exactly the named numeric columns instead.

Loaders: any CSV/Parquet with an architecture column; NAS-Bench-201's CSV layouts; NASLib's
``zc_*.json`` (whose published proxy scores load as a results table too); and the official
NATS-Bench API when the user has ``nats_bench`` and its files.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from archscore._core import VERSION
from archscore.spaces import SPACES, Space, get_space

from archscore.engine.run.schema import RESULT_SCHEMA, STATUS_NONFINITE, STATUS_OK

#: schema metadata key of a truth table: JSON {alias: column}
ALIASES_KEY = b"archscore.metric_aliases"
#: columns of a generic file whose name matches this measure time, a cost: not metrics
TIME_COLUMN = re.compile(r"time|seconds", re.IGNORECASE)
KEY_COLUMNS = ("space", "arch", "hash")
#: NASLib proxy names -> ours
NASLIB_NAMES = {"jacov": "jacob_cov", "nwot": "naswot"}


def _read_any(path: Path) -> pa.Table:
    if path.suffix.lower() in (".parquet", ".pq"):
        return pq.read_table(path)
    return pcsv.read_csv(path)


def truth_table(space: Space, archs: Iterable[Any], metrics: dict[str, Iterable[float]],
                aliases: dict[str, str] | None = None) -> pa.Table:
    """A truth table from architecture values and metric columns; ``aliases``: {alias: column}."""
    archs = list(archs)
    strings, hashes = space.describe_many(archs)
    columns: dict[str, Any] = {"space": pa.array([space.name] * len(archs)), "arch": pa.array(strings),
                               "hash": pa.array(hashes)}
    for name, values in metrics.items():
        columns[name] = pa.array(np.asarray(list(values), dtype=np.float64))
    aliases = {a: c for a, c in (aliases or {}).items() if c in metrics and a not in metrics}
    return pa.table(columns).replace_schema_metadata({ALIASES_KEY: json.dumps(aliases, sort_keys=True).encode()})


def metric_columns(truth: pa.Table) -> list[str]:
    """The metric columns of a truth table, under the source's own names."""
    return [c for c in truth.column_names if c not in KEY_COLUMNS]


def metric_aliases(truth: pa.Table) -> dict[str, str]:
    """{friendly alias: metric column} of a truth table (empty when it has none)."""
    raw = (truth.schema.metadata or {}).get(ALIASES_KEY)
    return json.loads(raw) if raw else {}


def _is_numeric(field: pa.Field) -> bool:
    return pa.types.is_floating(field.type) or pa.types.is_integer(field.type)


def load_truth(path: str | Path, space: str = "nb201", arch_column: str | None = None,
               metrics: list[str] | None = None) -> pa.Table:
    """Truth from a CSV/Parquet file, a NASLib ``zc_*.json`` or a benchmark's own CSV layout
    (the space's :attr:`~archscore.spaces.base.Space.truth_layouts`, e.g. NB201's).

    Args:
        arch_column: column holding architectures (strings or int encodings); detected for the
            space's layouts, else ``arch``.
        metrics: numeric columns to keep (file names or, for the space's layouts, their aliases);
            default: the file's metric columns (see the module docstring).

    Raises:
        ValueError: missing columns or an architecture that does not parse (row number named).
    """
    if "://" in str(path) or Path(path).is_dir():
        from archscore.engine.run.sink import read_results

        return truth_from_results(read_results(path), metrics)
    path = Path(path)
    if path.suffix.lower() == ".json":
        return load_naslib(path)[0]
    table = _read_any(path)
    if {"space", "arch", "estimator", "score", "status", "seed"} <= set(table.column_names):  # a results part
        return truth_from_results(table, metrics)
    sp = get_space(space)
    layout: dict[str, str] | None = None
    if arch_column is None:
        for column, mapping in sp.truth_layouts.items():
            if column in table.column_names:
                arch_column, layout = column, mapping
                break
        else:
            arch_column = "arch"
    if arch_column not in table.column_names:
        raise ValueError(f"{path} has no architecture column {arch_column!r}; columns: {table.column_names}")
    archs = []
    for row, item in enumerate(table.column(arch_column).to_pylist(), start=2):
        try:
            archs.append(sp.parse(item) if isinstance(item, str) else sp.decode(item))
        except ValueError as exc:
            raise ValueError(f"{path} line {row}: {exc}") from None
    fields = {f.name: f for f in table.schema if f.name != arch_column and f.name not in KEY_COLUMNS}
    if layout is not None:
        default = [c for c, f in fields.items() if c in layout and _is_numeric(f)]
    else:
        default = [c for c, f in fields.items() if pa.types.is_floating(f.type) and not TIME_COLUMN.search(c)]
    aliases = {alias: column for column, alias in (layout or {}).items() if column in fields}
    if metrics is None:
        chosen = default
    else:
        chosen = [aliases.get(m, m) for m in metrics]
        missing = [m for m, c in zip(metrics, chosen) if c not in fields or not _is_numeric(fields[c])]
        if missing:
            raise ValueError(f"{path} has no metric column(s) {missing}; its metric columns: {default}")
    return truth_table(sp, archs, {c: table.column(c).to_numpy() for c in chosen}, aliases)


def truth_from_results(results: pa.Table, metrics: list[str] | None = None) -> pa.Table:
    """Truth from a sweep's rows, e.g. ``archscore train``'s: one metric column per estimator,
    each architecture's mean over seeds. Only architectures whose rows are all ok (and finite)
    for every chosen metric are kept: a failed training is no truth.

    Raises:
        ValueError: no ok rows, or a requested metric that the results do not hold.
    """
    names = sorted(set(results.column("estimator").to_pylist()))
    chosen = names if metrics is None else list(metrics)
    missing = [m for m in chosen if m not in names]
    if missing:
        raise ValueError(f"the results hold no estimator(s) {missing} to use as truth; they hold {names}")
    spaces = set(results.column("space").to_pylist())
    if len(spaces) != 1:
        raise ValueError(f"truth results must come from one space, found {sorted(spaces)}")
    space = get_space(spaces.pop())
    values: dict[str, dict[str, list[float]]] = {}
    bad: set[str] = set()
    for arch, est, status, score in zip(*(results.column(c).to_pylist()
                                          for c in ("arch", "estimator", "status", "score"))):
        if est not in chosen:
            continue
        if status != STATUS_OK or score is None or not np.isfinite(score):
            bad.add(arch)
        else:
            values.setdefault(arch, {}).setdefault(est, []).append(score)
    keep = [a for a, v in values.items() if a not in bad and all(m in v for m in chosen)]
    if not keep:
        raise ValueError("the results hold no architecture with ok rows for every truth metric")
    return truth_table(space, [space.parse(a) for a in keep],
                       {m: [float(np.mean(values[a][m])) for a in keep] for m in chosen})


def naslib_arch(space: str, key: str) -> Any:
    """An architecture from a NASLib zc json key of ``space`` (each space reads its own keys:
    NB201's op tuple, NB101's matrix entries then op codes, the DARTS compact genotype)."""
    return get_space(space).from_naslib_key(key)


def naslib_spaces() -> list[str]:
    """The spaces whose NASLib zc files load, in the order their keys are tried."""
    ordered = [(get_space(n).naslib_order, n) for n in SPACES.names()]
    return [n for order, n in sorted((o, n) for o, n in ordered if o is not None)]


def _naslib_entries(path: Path, dataset: str) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if dataset not in data and len(data) == 1:  # NB101's file wraps its datasets: {"nasbench101": {...}}
        inner = next(iter(data.values()))
        if isinstance(inner, dict) and dataset in inner:
            data = inner
    if dataset not in data:
        raise ValueError(f"{path.name} has no dataset {dataset!r}; it has {sorted(data)}")
    return data[dataset]


def _naslib_space(path: Path, first: str, space: str | None) -> str:
    candidates = [space] if space else naslib_spaces()
    errors = []
    for name in candidates:
        try:
            naslib_arch(name, first)
            return name
        except ValueError as exc:
            errors.append(f"{name}: {exc}")
    raise ValueError(f"{path.name}: key {first[:60]!r} is not a NASLib cell of "
                     f"{' or '.join(candidates)} ({'; '.join(errors)})")


def load_naslib(path: str | Path, dataset: str = "cifar10", space: str | None = None) -> tuple[pa.Table, pa.Table]:
    """(truth with ``val_accuracy``, published scores as a results table) from a NASLib zc json.

    Both layouts load: NB201's and NB301's (``{dataset: {key: {proxy: {"score", "time"}, ...}}}``)
    and NB101's (``{"nasbench101": {dataset: {key: {proxy: value}}}}``, no times). The space is
    detected from the keys unless ``space`` is given.

    Raises:
        ValueError: an unknown dataset, keys of no space archscore has, or a key that does not parse.
    """
    path = Path(path)
    entries = _naslib_entries(path, dataset)
    space_name = _naslib_space(path, next(iter(entries), ""), space)
    sp = get_space(space_name)
    archs = []
    for i, key in enumerate(entries):
        try:
            archs.append(naslib_arch(space_name, key))
        except ValueError as exc:
            raise ValueError(f"{path.name} entry {i} ({key[:60]!r}): {exc}") from None
    truth = truth_table(sp, archs, {"val_accuracy": [float(e["val_accuracy"]) for e in entries.values()]})
    strings, hashes = sp.describe_many(archs)
    rows: dict[str, list[Any]] = {f.name: [] for f in RESULT_SCHEMA}
    for i, entry in enumerate(entries.values()):
        for proxy, value in entry.items():
            if proxy in ("val_accuracy", "idx", "arch"):
                continue
            if isinstance(value, dict) and "score" in value:
                score, seconds = float(value["score"]), float(value.get("time", np.nan))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                score, seconds = float(value), np.nan
            else:
                continue
            ok = np.isfinite(score)
            rows["space"].append(space_name)
            rows["arch"].append(strings[i])
            rows["encoding"].append(None)
            rows["hash"].append(hashes[i])
            rows["estimator"].append(NASLIB_NAMES.get(proxy, proxy))
            rows["seed"].append(0)
            rows["score"].append(score)
            rows["status"].append(STATUS_OK if ok else STATUS_NONFINITE)
            rows["error"].append(None if ok else f"published score is {score!r}")
            rows["seconds"].append(seconds)
            rows["input_index"].append(i)
            rows["worker"].append(f"published:{path.name}")
            rows["version"].append(VERSION)
    return truth, pa.table(rows, schema=RESULT_SCHEMA)


def load_nats_bench(api: Any, dataset: str = "cifar10", hp: str = "200",
                    metric: str = "test-accuracy") -> pa.Table:
    """Truth from an official NATS-Bench topology API object (``nats_bench.create(...)``) or a path.

    Raises:
        ImportError: ``nats_bench`` is not installed (with how to install it).
    """
    if isinstance(api, (str, Path)):
        try:
            from nats_bench import create
        except ImportError:
            raise ImportError("loading NATS-Bench files needs the nats_bench package: pip install nats_bench "
                              "(and the NATS-tss benchmark files)") from None
        api = create(str(api), "tss", fast_mode=True, verbose=False)
    space = get_space("nb201")
    archs, values = [], []
    for index in range(len(api)):
        archs.append(space.parse(api.arch(index)))
        values.append(api.get_more_info(index, dataset, hp=hp, is_random=False)[metric])
    return truth_table(space, archs, {metric.replace("-", "_"): values})


def pick_metric(truth: pa.Table, metric: str | None) -> str:
    """The truth column to rank by: ``metric`` as the file names it, or one of its aliases.

    Raises:
        ValueError: an unknown metric (the file's metric columns listed), or no metric at all.
    """
    candidates = metric_columns(truth)
    aliases = metric_aliases(truth)
    if metric is None:
        for preferred in ("test_accuracy", "val_accuracy", "valid_accuracy", "cifar10_test_accuracy"):
            if preferred in candidates:
                return preferred
            if preferred in aliases:
                return aliases[preferred]
        if not candidates:
            raise ValueError("the truth table has no metric column")
        return candidates[0]
    if metric in candidates:
        return metric
    if metric in aliases:
        return aliases[metric]
    raise ValueError(f"truth has no metric {metric!r}; its metric columns: {', '.join(candidates) or 'none'}")


def truth_sample(truth_path: str, space: str, metric: str | None, n: int,
                 macro: Any = None) -> tuple[list[str], np.ndarray, str]:
    """``n`` truth architectures (seed 0; the same for the same truth) as strings, their mean value of
    ``metric`` (default: the truth's first), and the metric's name. With the supernet's ``macro``,
    only architectures that supernet has (a capped NDS supernet has a corner of the grid).

    Raises:
        ValueError: no such truth or metric, or fewer than 2 architectures with a finite value
            (that the supernet has).
    """
    truth = load_truth(truth_path, space)
    metric = pick_metric(truth, metric)
    archs = truth.column("arch").to_pylist()
    values = truth.column(metric).to_numpy(zero_copy_only=False).astype(np.float64)
    by_arch: dict[str, list[float]] = {}
    for a, v in zip(archs, values):
        if np.isfinite(v):
            by_arch.setdefault(a, []).append(v)
    names = sorted(by_arch)
    within = ""
    if macro is not None:
        sp = get_space(space)
        names = [a for a in names if sp.supernet_covers(sp.parse(a), macro)]
        within = f" within the supernet's macro {macro.as_dict()}"
    if len(names) < 2:
        raise ValueError(f"--truth {truth_path} has fewer than 2 architectures with a finite {metric}{within}")
    rng = np.random.default_rng(0)
    chosen = sorted(rng.choice(len(names), size=min(n, len(names)), replace=False))
    return [names[i] for i in chosen], np.array([np.mean(by_arch[names[i]]) for i in chosen]), metric
