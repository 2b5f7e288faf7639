"""``archscore``: the command line. Every command maps onto the Python API one to one."""
from __future__ import annotations

import logging
import sys
from typing import Any

import click

from archscore.estimators import ESTIMATORS
from archscore.spaces import SPACES


def _parse_pairs(text: str | None, what: str) -> dict[str, str]:
    if not text:
        return {}
    pairs = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{what} entry {part!r} must read key=value")
        pairs[key.strip()] = value.strip()
    return pairs


def _parse_ints(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.partition("..")
        try:
            out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
        except ValueError:
            raise click.BadParameter(f"{part!r} is not an int or a range like 0..63") from None
    return out


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """archscore: score neural architectures with efficient performance estimators."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@main.command()
def spaces() -> None:
    """List the registered search spaces."""
    for name in SPACES.names():
        cls = SPACES.get(name)
        size = f"{cls.size:,} architectures" if cls.size else "unbounded"
        click.echo(f"{name:12s} {size:24s} {(cls.__doc__ or '').strip().splitlines()[0]}")


@main.command()
def estimators() -> None:
    """List the registered estimators with their direction."""
    for name in ESTIMATORS.names():
        cls = ESTIMATORS.get(name)
        direction = "higher is better" if cls.higher_is_better else "lower is better"
        click.echo(f"{name:12s} {direction:18s} {(cls.__doc__ or '').strip().splitlines()[0]}")


@main.command()
@click.option("--space", required=True, help="Search space (see `archscore spaces`).")
@click.option("--estimators", "estimator_names", required=True, help="Comma-separated estimator names.")
@click.option("--all", "all_", is_flag=True, help="Every architecture of a finite space.")
@click.option("--sample", type=int, help="Score N distinct architectures drawn uniformly.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample.")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False),
              help="Text (one arch per line), CSV/Parquet with an `arch` column, or a msgpack stream.")
@click.option("--column", default="arch", show_default=True, help="Column of --input CSV/Parquet files.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output dataset directory.")
@click.option("--seeds", default="0", show_default=True, help="Estimator seeds, e.g. 0,1,2 or 0..63.")
@click.option("--batch-size", type=int, help="Architectures per work batch (default: by estimator kind).")
@click.option("--macro", help="Macro config overrides, e.g. C=16,N=5,num_classes=10.")
@click.option("--data", help="Data batch source: synthetic, fashion-mnist:DIR, cifar10:DIR, cifar100:DIR.")
@click.option("--data-batch-size", type=int, default=64, show_default=True, help="Images in the data batch.")
@click.option("--address", help="Ray cluster to join (default: start an embedded local Ray).")
@click.option("--actors", type=int, help="Number of scorer actors (default: one per GPU, else per CPU).")
@click.option("--gpus-per-actor", type=float, help="GPUs per actor, e.g. 0.25 packs four per GPU.")
@click.option("--cpus-per-actor", type=float, default=1.0, show_default=True)
@click.option("--plugin", "plugins", multiple=True,
              help="Module registering your own spaces/estimators (imported in every worker); repeatable.")
@click.option("--no-progress", is_flag=True, help="No progress bar or progress lines.")
def sweep(space: str, estimator_names: str, all_: bool, sample: int | None, seed: int,
          input_path: str | None, column: str, out: str, seeds: str, batch_size: int | None,
          macro: str | None, data: str | None, data_batch_size: int, address: str | None,
          actors: int | None, gpus_per_actor: float | None, cpus_per_actor: float, plugins: tuple[str, ...], no_progress: bool) -> None:
    """Score architectures into a Parquet dataset in OUT (rerun to resume)."""
    from archscore.engine import EnumerateAll, FromFile, Sample, SweepConfig, run_sweep
    from archscore.engine.sink import ConfigMismatch

    chosen = [flag for flag, on in (("--all", all_), ("--sample", sample is not None),
                                    ("--input", input_path is not None)) if on]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --all, --sample N, --input FILE")
    source: Any = (EnumerateAll() if all_ else Sample(sample, seed) if sample is not None
                   else FromFile(input_path, column))
    config = SweepConfig(space=space, estimators=[e.strip() for e in estimator_names.split(",") if e.strip()],
                         out=out, source=source, seeds=_parse_ints(seeds), batch_size=batch_size,
                         macro=_parse_pairs(macro, "--macro"), data=data, data_batch_size=data_batch_size,
                         address=address, num_actors=actors, gpus_per_actor=gpus_per_actor,
                         cpus_per_actor=cpus_per_actor, progress=not no_progress, plugins=list(plugins))
    try:
        summary = run_sweep(config)
    except (KeyError, ValueError, ConfigMismatch) as exc:
        raise click.ClickException(str(exc.args[0] if isinstance(exc, KeyError) else exc)) from None
    click.echo(str(summary))


@main.command()
@click.option("--results", "results_path", required=True,
              help="A sweep's output (directory or object-store URI), a results Parquet file, or a NASLib "
                   "zc_*.json (published scores).")
@click.option("--truth", "truth_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Ground truth: CSV/Parquet with an architecture column, a NB201 CSV, or a NASLib zc json.")
@click.option("--metric", help="Truth column to rank by (default: test_accuracy, val_accuracy, ...).")
@click.option("--space", default="nb201", show_default=True, help="Space of the truth file's architectures.")
@click.option("--arch-column", help="Architecture column of a generic truth file (default: detected, or `arch`).")
@click.option("--dataset", default="cifar10", show_default=True, help="Dataset key inside NASLib zc json files.")
@click.option("--sparse-threshold", type=float, default=0.1, show_default=True,
              help="Bin width of the truth for sparse Kendall tau (percentage points).")
@click.option("--bootstrap", type=int, default=200, show_default=True, help="Bootstrap resamples for CIs.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Where criteria.parquet and report.html go.")
def evaluate(results_path: str, truth_path: str, metric: str | None, space: str, arch_column: str | None,
             dataset: str, sparse_threshold: float, bootstrap: int, out: str) -> None:
    """Rank criteria of every estimator in RESULTS against TRUTH, with an HTML report."""
    from archscore.engine.evaluate import EvalOptions, evaluate as run_evaluation
    from archscore.engine.report import write_report
    from archscore.engine.truth import load_naslib, load_truth
    from archscore.engine.sink import read_results, write_atomic
    import io
    from pathlib import Path

    import pyarrow.parquet as pq

    try:
        rpath = Path(results_path)
        if "://" in results_path or rpath.is_dir():
            results = read_results(results_path)
        elif rpath.suffix == ".json":
            results = load_naslib(rpath, dataset)[1]
        elif rpath.is_file():
            results = pq.read_table(rpath)
        else:
            raise ValueError(f"--results {results_path!r} does not exist")
        tpath = Path(truth_path)
        truth = load_naslib(tpath, dataset)[0] if tpath.suffix == ".json" else load_truth(tpath, space, arch_column)
        ev = run_evaluation(results, truth, EvalOptions(metric=metric, sparse_threshold=sparse_threshold,
                                                         n_boot=bootstrap))
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc.args[0] if isinstance(exc, KeyError) else exc)) from None
    Path(out).mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    pq.write_table(ev.criteria, buf)
    write_atomic(Path(out) / "criteria.parquet", buf.getvalue())
    report = write_report(ev, out, title=f"{rpath.name} vs {tpath.name}")
    for p in ev.points:
        row = {r["criterion"]: r["value"] for r in ev.criteria.to_pylist()
               if r["estimator"] == p.estimator and r["seed"] == p.seed and r["ratio"] is None}
        kt, rho = row.get("kendall_tau"), row.get("spearman")
        click.echo(f"{p.estimator:12s} seed {p.seed}: Kendall tau {kt if kt is None else round(kt, 4)}, "
                   f"Spearman {rho if rho is None else round(rho, 4)}, used {int(row['n_used'])}, "
                   f"excluded {int(row['n_excluded'])}, unmatched {int(row['n_unmatched'])}")
    click.echo(f"wrote {Path(out) / 'criteria.parquet'} and {report}")


if __name__ == "__main__":
    main()
