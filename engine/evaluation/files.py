"""``evaluate`` from and to files: the results and truth a user names (a sweep's output, a
results Parquet file, a NASLib zc json; a truth file or an ``archscore train`` output), and the
evaluation written atomically as ``criteria.parquet`` and ``report.html``."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from archscore._core import write_atomic
from archscore.engine.evaluation.evaluate import EvalOptions, Evaluation, evaluate, results_location_of
from archscore.engine.evaluation.truth import load_naslib, load_truth
from archscore.engine.run.sink import read_results


def read_results_file(path: str, dataset: str = "cifar10", space: str | None = None) -> pa.Table:
    """Results rows from a sweep's output (directory or URI), a Parquet file or a NASLib zc json.

    Raises:
        ValueError: nothing at ``path``.
    """
    p = Path(path)
    if "://" in path or p.is_dir():
        return read_results(path)
    if p.suffix == ".json":
        return load_naslib(p, dataset, space)[1]
    if p.is_file():
        return pq.read_table(p)
    raise ValueError(f"--results {path!r} does not exist")


def read_truth_file(path: str, dataset: str = "cifar10", space: str | None = None,
                    arch_column: str | None = None) -> pa.Table:
    """Truth from a file, a NASLib zc json or an ``archscore train`` output.

    Raises:
        ValueError: nothing at ``path``, or a file that is not truth.
    """
    p = Path(path)
    if "://" not in path and not p.exists():
        raise ValueError(f"--truth {path!r} does not exist")
    if p.suffix == ".json":
        return load_naslib(p, dataset, space)[0]
    return load_truth(path if "://" in path else p, space or "nb201", arch_column)


def check_output_location(out: str) -> None:
    """Refuse an ``out`` inside a sweep's output (files written there break reading its results).

    Raises:
        ValueError: naming both.
    """
    inside = results_location_of(out)
    if inside is not None:
        raise ValueError(f"--out {out} is inside the results location {inside} (it holds a sweep's _run.json); "
                         "files written there break reading the results. Choose an --out outside it.")


def read_results_files(paths: str | Sequence[str], dataset: str = "cifar10", space: str | None = None) -> pa.Table:
    """The rows of every named results location, concatenated (the first one's run config kept):
    a sweep's output and the ensemble rows computed from it, say.

    Raises:
        ValueError: nothing at a path.
    """
    paths = [paths] if isinstance(paths, str) else list(paths)
    return _concat([read_results_file(p, dataset, space) for p in paths])


def read_members(paths: Sequence[str], members: Sequence[str]) -> pa.Table:
    """The rows of ``members`` (an ensemble's) from every named results location, each member from
    exactly one of them: a member in two would leave which scores are ranked to the order of the options.

    Raises:
        ValueError: nothing at a path, a location given twice, a member in no location or in more than one.
    """
    import pyarrow.compute as pc

    paths = list(paths)
    repeated = sorted({p for p in paths if paths.count(p) > 1})
    if repeated:
        raise ValueError(f"--results {', '.join(repeated)} given more than once")
    tables = [read_results_file(p) for p in paths]
    if len(tables) == 1:
        return tables[0]
    where: dict[str, list[str]] = {}
    present: set[str] = set()
    for path, table in zip(paths, tables):
        names = set(table.column("estimator").unique().to_pylist())
        present |= names
        for m in names & set(members):
            where.setdefault(m, []).append(path)
    absent = [m for m in members if m not in where]
    if absent:
        raise ValueError(f"no rows of {', '.join(absent)} in any --results (estimators there: "
                         f"{', '.join(sorted(present)) or 'none'})")
    twice = {m: ps for m, ps in where.items() if len(ps) > 1}
    if twice:
        raise ValueError("each ensemble member must come from one --results; "
                         + "; ".join(f"{m} is in {' and '.join(ps)}" for m, ps in sorted(twice.items())))
    return _concat([t.filter(pc.is_in(t["estimator"], pa.array(list(members)))) for t in tables])


def _concat(tables: list[pa.Table]) -> pa.Table:
    """Results tables as one, under the first one's schema metadata (its run config)."""
    if len(tables) == 1:
        return tables[0]
    first = tables[0].schema.metadata
    return pa.concat_tables([t.replace_schema_metadata(first) for t in tables])


def evaluate_files(results_path: str | Sequence[str], truth_path: str, options: EvalOptions, dataset: str = "cifar10",
                   space: str | None = None, arch_column: str | None = None) -> Evaluation:
    """:func:`~archscore.engine.evaluation.evaluate.evaluate` on the named files."""
    results = read_results_files(results_path, dataset, space)
    truth = read_truth_file(truth_path, dataset, space, arch_column)
    return evaluate(results, truth, options)


def write_evaluation(ev: Evaluation, out: str | Path, title: str) -> tuple[Path, Path]:
    """``OUT/report.html`` then ``OUT/criteria.parquet``, each written atomically; their paths.
    The criteria go last: a folder holding them holds a whole evaluation (an interrupt before
    leaves at most a new report beside the old criteria, never criteria without their report)."""
    from archscore.engine.evaluation.report import write_report  # matplotlib: only when writing

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    pq.write_table(ev.criteria, buf)
    report = write_report(ev, out, title=title)
    write_atomic(out / "criteria.parquet", buf.getvalue())
    return out / "criteria.parquet", report
