"""``archscore``: the command line, a thin layer over the Python API: each command parses its
flags into the workflow's config object, runs it, and maps the outcome to output and an exit
status (0 done, 1 an error, 2 a usage error, 3 every row failed, 130 stopped by Ctrl-C). The Ray
cluster options are declared once (:func:`_cluster_options`), as is the mapping of a user's
error to a one-line message (:func:`_user_errors`)."""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import click

from archscore._core import VERSION, UsageProblem
from archscore.estimators import ESTIMATORS
from archscore.estimators.predictors import PREDICTORS
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


def _parse_estimator_options(entries: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """``NAME.KEY=VALUE`` entries as ``{NAME: {KEY: VALUE}}`` (values stay text; the estimator converts)."""
    options: dict[str, dict[str, str]] = {}
    for entry in entries:
        target, sep, value = entry.partition("=")
        name, dot, key = target.strip().partition(".")
        if not sep or not dot or not name or not key:
            raise click.BadParameter(f"{entry!r} must read ESTIMATOR.KEY=VALUE, e.g. naswot.relu_modules=name",
                                     param_hint="--estimator-option")
        options.setdefault(name, {})[key] = value.strip()
    return options


@contextmanager
def _user_errors() -> Iterator[None]:
    """An unknown name or setting is a usage error (exit 2); any other bad option or input
    (``KeyError``, ``ValueError``, a missing file) a one-line error, exit 1."""
    try:
        yield
    except UsageProblem as exc:
        raise click.UsageError(str(exc)) from None
    except FileNotFoundError as exc:
        raise click.ClickException(f"{exc.filename or exc}: no such file or directory") from None
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc.args[0] if isinstance(exc, KeyError) else exc)) from None


def _cluster_options(per: str | None, workers: str, count: bool = False,
                     resource_timeout: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The Ray cluster options, declared once: ``--address``, ``--actors`` (with ``count``), the
    GPUs and CPUs of each worker (``--gpus-per-PER``, or ``--gpus`` when ``per`` is None),
    ``--resource-timeout`` and ``--takeover``; ``workers`` names them in the help. The command
    receives ``address``, (``actors``,) ``gpus``, ``cpus``, (``resource_timeout``,) ``takeover``."""
    suffix, each = (f"-per-{per}", f"per {per}") if per else ("", f"of the {workers}")
    options = [click.option("--address", help="Ray cluster to join, e.g. auto or ray://head:10001  "
                                              "[default: start an embedded local Ray]")]
    if count:
        options.append(click.option("--actors", type=int, help=f"Number of {workers}  "
                                                                "[default: one per GPU, else one per CPU]"))
    options += [
        click.option(f"--gpus{suffix}", "gpus", type=float,
                     help=f"GPUs {each}, e.g. 0.25 packs four per GPU  [default: 1 if the cluster has GPUs, else 0]"),
        click.option(f"--cpus{suffix}", "cpus", type=float, default=1.0, help=f"CPUs (and torch threads) {each}.")]
    if resource_timeout:
        options.append(click.option("--resource-timeout", type=float,
                                    help=f"Seconds to wait for the cluster to provide the {workers}  "
                                         "[default: 0 on an embedded Ray, 120 with --address]"))
    options.append(click.option("--takeover", is_flag=True,
                                help="Take over --out even if another writer's lease looks alive."))

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


class _Commands(click.Group):
    """A Ctrl-C that no command catches itself (one while it starts, say) exits 130, as the
    commands that say what they kept do, never Click's "Aborted!" and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("archscore: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Commands, context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, "--version", prog_name="archscore", message="%(prog)s %(version)s")
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
        size = f"{cls.size:,} architectures" if cls.size else cls.size_note
        click.echo(f"{name:14s} {size:28s} {_first_sentence(cls.__doc__)}")


@main.command()
def estimators() -> None:
    """List the registered estimators with their direction."""
    names = ESTIMATORS.names()
    width = max(len(n) for n in names)
    for name in names:
        cls = ESTIMATORS.get(name)
        direction = "higher is better" if cls.higher_is_better else "lower is better"
        click.echo(f"{name:{width}s}  {direction:16s}  {_first_sentence(cls.__doc__)}")


def _first_sentence(doc: str | None) -> str:
    """A docstring's first sentence, whole, on one line (it may wrap in the source)."""
    import re

    paragraph = " ".join((doc or "").strip().split("\n\n")[0].split())
    match = re.search(r"(?<![ (.][a-z])\.(\s|$)", paragraph)
    return paragraph[:match.start() + 1] if match else paragraph


@main.command()
@click.option("--space", required=True, help="Search space (see `archscore spaces`).")
@click.option("--estimators", "estimator_names", required=True, help="Comma-separated estimator names (see `archscore estimators`).")
@click.option("--all", "all_", is_flag=True, help="Every architecture of a finite space (one of --all, --sample, --input).")
@click.option("--sample", type=int, help="N distinct architectures drawn uniformly (one of --all, --sample, --input).")
@click.option("--seed", type=int, default=0, help="Seed of --sample.")
@click.option("--input", "input_path", type=click.Path(dir_okay=False),
              help="Text (one arch per line), CSV/Parquet with an architecture column, a msgpack stream, or a "
                   "NASLib zc_*.json (its cells) "
                   "(one of --all, --sample, --input).")
@click.option("--column", default="arch", help="Architecture column of an --input CSV/Parquet file.")
@click.option("--out", required=True, help="Output location: a directory, or an object-store URI (s3://...).")
@click.option("--seeds", default="0", help="Estimator seeds, e.g. 0,1,2 or 0..63.")
@click.option("--batch-size", type=int, help="Architectures per work batch  [default: 1024, or 8 when networks are built]")
@click.option("--macro", help="Macro config overrides, e.g. C=16,N=5,num_classes=10  [default: the space's]")
@click.option("--estimator-option", "estimator_options", multiple=True, metavar="NAME.KEY=VALUE",
              help="An estimator's option, e.g. naswot.relu_modules=name; repeatable.")
@click.option("--data", default="synthetic",
              help="Data of data-dependent estimators: synthetic, fashion-mnist:DIR, cifar10:DIR, cifar100:DIR.")
@click.option("--data-batch-size", type=int, default=64, help="Images in the data batch.")
@_cluster_options("actor", "scorer actors", count=True)
@click.option("--plugin", "plugins", multiple=True,
              help="Module registering your own spaces/estimators (imported in every worker); repeatable.")
@click.option("--no-progress", is_flag=True, help="No progress bar or progress lines.")
def sweep(space: str, estimator_names: str, all_: bool, sample: int | None, seed: int,
          input_path: str | None, column: str, out: str, seeds: str, batch_size: int | None,
          macro: str | None, estimator_options: tuple[str, ...], data: str, data_batch_size: int,
          address: str | None, actors: int | None, gpus: float | None, cpus: float,
          resource_timeout: float | None, takeover: bool, plugins: tuple[str, ...], no_progress: bool) -> None:
    """Score architectures into a Parquet dataset at --out; rerun the same command to resume.

    Exit status: 0 when done, 1 on an error (nothing or only complete batches written), 2 on a
    usage error, 3 when every row failed, 130 when stopped by Ctrl-C.
    """
    from archscore.engine import SweepConfig

    _check_out_dir(out)
    config = SweepConfig(space=space, estimators=[e.strip() for e in estimator_names.split(",") if e.strip()],
                         out=out, source=_input_source(all_, sample, seed, input_path, column),
                         seeds=_parse_ints(seeds), batch_size=batch_size, macro=_parse_pairs(macro, "--macro"),
                         estimator_config=_parse_estimator_options(estimator_options), data=data,
                         data_batch_size=data_batch_size, address=address, num_actors=actors,
                         gpus_per_actor=gpus, cpus_per_actor=cpus,
                         resource_timeout_s=resource_timeout, takeover=takeover,
                         progress=not no_progress, plugins=list(plugins))
    _run_and_report(config)


def _check_out_dir(out: str) -> None:
    """``--out`` names a directory (new, or an earlier run's) or an object-store URI: a file there,
    or a file where a parent directory should be, is refused before anything starts (exit 2)."""
    from pathlib import Path

    if "://" in out:
        return
    path = Path(out)
    blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        where = "is a file" if blocking == path else f"is inside {blocking}, which is a file"
        raise click.BadParameter(f"{out} {where}; --out names a directory (a new one, or an earlier run's to "
                                 "resume it)", param_hint="--out")


def _check_exists(path: str | None, option: str) -> None:
    """A local input that is not there, refused before anything starts (exit 2)."""
    from pathlib import Path

    if path is not None and "://" not in path and not Path(path).exists():
        raise click.BadParameter(f"{path} does not exist", param_hint=option)


def _input_source(all_: bool, sample: int | None, seed: int, input_path: str | None, column: str) -> Any:
    from archscore.engine import EnumerateAll, FromFile, Sample

    chosen = [flag for flag, on in (("--all", all_), ("--sample", sample is not None),
                                    ("--input", input_path is not None)) if on]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --all, --sample N, --input FILE")
    _check_exists(input_path, "--input")
    return EnumerateAll() if all_ else Sample(sample, seed) if sample is not None else FromFile(input_path, column)


def _run_and_report(config: Any) -> None:
    """Run a sweep; map its outcome to output and exit status (see the sweep command's help)."""
    from archscore.engine import run_sweep
    from archscore.engine.run import RunError, SweepInterrupted, read_results

    def kept() -> str:
        try:
            rows = read_results(config.out, columns=["status"]).num_rows
        except OSError as exc:
            return f"the committed rows in {config.out} could not be counted ({exc}); rerun the same command to resume"
        return (f"{rows:,} committed rows in {config.out} are kept; rerun the same command to resume" if rows
                else f"nothing was committed to {config.out}")

    try:
        with _user_errors():
            summary = run_sweep(config)
    except (SweepInterrupted, KeyboardInterrupt):
        click.echo(f"archscore: interrupted; {kept()}", err=True)
        sys.exit(130)
    except RunError as exc:
        raise click.ClickException(f"{exc}\n{kept()}") from None
    click.echo(str(summary))
    if not summary.ok:
        sys.exit(3)


@main.command()
@click.option("--space", required=True, help="Search space (see `archscore spaces`).")
@click.option("--all", "all_", is_flag=True, help="Every architecture of a finite space (one of --all, --sample, --input).")
@click.option("--sample", type=int, help="N distinct architectures drawn uniformly (one of --all, --sample, --input).")
@click.option("--seed", type=int, default=0, help="Seed of --sample.")
@click.option("--input", "input_path", type=click.Path(dir_okay=False),
              help="Architectures to train: text, CSV/Parquet, msgpack or a NASLib zc json, as for `archscore sweep`.")
@click.option("--column", default="arch", help="Architecture column of an --input CSV/Parquet file.")
@click.option("--data", required=True,
              help="Training data: fashion-mnist:DIR, cifar10:DIR, cifar100:DIR (synthetic only for smoke tests).")
@click.option("--recipe", default="cpu-low",
              help="Training recipe: cpu-low (3 epochs, 10% of the data; fits a CPU) or nb201 (the published one).")
@click.option("--epochs", type=int, help="Override the recipe's epochs.")
@click.option("--data-portion", type=float, help="Override the recipe's fraction of the data used.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Override any recipe setting, e.g. lr=0.05 or valid_fraction=0.2; repeatable.")
@click.option("--macro", help="Macro config overrides, e.g. C=8,N=1  [default: the space's]")
@click.option("--seeds", default="0", help="Training seeds, e.g. 0,1.")
@click.option("--out", required=True, help="Output location: a directory, or an object-store URI (s3://...).")
@_cluster_options("actor", "training actors", count=True)
@click.option("--no-progress", is_flag=True, help="No progress bar or progress lines.")
def train(space: str, all_: bool, sample: int | None, seed: int, input_path: str | None, column: str, data: str,
          recipe: str, epochs: int | None, data_portion: float | None, settings: tuple[str, ...], macro: str | None,
          seeds: str, out: str, address: str | None, actors: int | None, gpus: float | None,
          cpus: float, resource_timeout: float | None, takeover: bool, no_progress: bool) -> None:
    """Train architectures from scratch: stand-alone ground truth at --out.

    A sweep of the stand-alone estimators (valid_accuracy, test_accuracy, train_loss) of one
    training each: streamed over actors, retried, resumed and written exactly once like any sweep.
    Use the result as truth: `archscore evaluate --truth OUT --metric valid_accuracy`.
    """
    from archscore.engine import SweepConfig
    from archscore.estimators.standalone import STANDALONE_METRICS

    _check_out_dir(out)
    options: dict[str, Any] = {"recipe": recipe, **_parse_pairs(",".join(settings) or None, "--set")}
    if epochs is not None:
        options["epochs"] = epochs
    if data_portion is not None:
        options["data_portion"] = data_portion
    config = SweepConfig(space=space, estimators=list(STANDALONE_METRICS), out=out,
                         source=_input_source(all_, sample, seed, input_path, column), seeds=_parse_ints(seeds),
                         macro=_parse_pairs(macro, "--macro"),
                         estimator_config={m: dict(options) for m in STANDALONE_METRICS}, data=data,
                         address=address, num_actors=actors, gpus_per_actor=gpus,
                         cpus_per_actor=cpus, resource_timeout_s=resource_timeout, takeover=takeover,
                         progress=not no_progress)
    _run_and_report(config)


@main.group()
def supernet() -> None:
    """Weight-sharing supernets: train one under heuristics, list the heuristics."""


@supernet.command("heuristics")
def supernet_heuristics() -> None:
    """List the supernet-training heuristics: key, default, what it does, source."""
    from archscore.estimators.one_shot import HEURISTICS_DOC, Heuristics

    defaults = Heuristics().as_dict()
    for key, (what, source) in HEURISTICS_DOC.items():
        click.echo(f"{key} = {defaults[key]!r}\n    {what}\n    source: {source}")


@supernet.command("train")
@click.option("--space", required=True, help="Search space with a supernet (see `archscore spaces`).")
@click.option("--data", required=True, help="Training data: fashion-mnist:DIR, cifar10:DIR, cifar100:DIR.")
@click.option("--epochs", type=int, help="Training epochs (the heuristic `epochs`).")
@click.option("--macro", help="Macro config overrides, e.g. C=8,N=1  [default: the space's]")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A heuristic, e.g. sampling=fairnas (see `archscore supernet heuristics`); repeatable.")
@click.option("--heuristics", "heuristics_file", type=click.Path(dir_okay=False, exists=True),
              help="A YAML file mapping heuristic keys to values (--set entries override it).")
@click.option("--truth", help="Truth to rank held-out architectures against each epoch (a file or a train output).")
@click.option("--metric", help="Truth metric  [default: test accuracy, or the first]")
@click.option("--truth-archs", type=int, default=100, help="Truth architectures ranked each epoch.")
@click.option("--out", required=True, help="Run directory (checkpoints, metrics.parquet).")
@_cluster_options(None, "training actor")
def supernet_train(space: str, data: str, epochs: int | None, macro: str | None, settings: tuple[str, ...],
                   heuristics_file: str | None, truth: str | None, metric: str | None, truth_archs: int, out: str,
                   address: str | None, gpus: float | None, cpus: float, resource_timeout: float | None,
                   takeover: bool) -> None:
    """Train one supernet on a Ray actor; checkpoints every epoch, resumes when rerun."""
    from archscore.engine.run import RunError, SweepInterrupted
    from archscore.engine.workflows import SupernetConfig, train_supernet
    from archscore.estimators.one_shot import Heuristics

    _check_out_dir(out)
    _check_exists(truth, "--truth")
    try:
        with _user_errors():
            values: dict[str, Any] = {}
            if heuristics_file:
                loaded = _load_yaml(heuristics_file, "--heuristics") or {}
                if not isinstance(loaded, dict):
                    raise ValueError(f"{heuristics_file} must map heuristic keys to values")
                values.update(loaded)
            values.update(_parse_pairs(",".join(settings) or None, "--set"))
            if epochs is not None:
                values["epochs"] = epochs
            config = SupernetConfig(space=space, data=data, out=out, heuristics=Heuristics.from_mapping(values),
                                    macro=_parse_pairs(macro, "--macro"), truth=truth, metric=metric,
                                    truth_archs=truth_archs, address=address, gpus=gpus, cpus=cpus,
                                    resource_timeout_s=resource_timeout, takeover=takeover)
            table = train_supernet(config)
    except (SweepInterrupted, KeyboardInterrupt):
        click.echo(f"archscore: interrupted; the last whole checkpoint in {out} is kept; rerun to continue", err=True)
        sys.exit(130)
    except RunError as exc:
        raise click.ClickException(f"{exc}\nthe last whole checkpoint in {out} is kept; rerun to continue") from None
    last = table.to_pylist()[-1] if table.num_rows else {}
    click.echo(f"supernet at epoch {last.get('epoch', 0)} in {out}: " +
               ", ".join(f"{k} {v:.4g}" for k, v in last.items() if isinstance(v, float)))


@main.command()
@click.option("--space", required=True, help="Search space with a supernet (see `archscore spaces`).")
@click.option("--data", required=True, help="Training data: fashion-mnist:DIR, cifar10:DIR, cifar100:DIR.")
@click.option("--truth", required=True, help="Stand-alone truth: a file or an `archscore train` output.")
@click.option("--metric", help="Truth metric  [default: test accuracy, or the first]")
@click.option("--search", "search_file", required=True, type=click.Path(dir_okay=False, exists=True),
              help="YAML: heuristic key -> constant or {choice|uniform|loguniform|randint: [...]}.")
@click.option("--num-samples", type=int, default=8, help="Trials (configurations drawn from --search).")
@click.option("--epochs", type=int, default=10, help="Supernet epochs per trial (the schedulers' time axis).")
@click.option("--scheduler", type=click.Choice(["asha", "hyperband", "pbt", "fifo"]), default="asha",
              help="Early stopping (asha, hyperband), population-based training (pbt) or none (fifo).")
@click.option("--objective", type=click.Choice(["kendall_tau", "sparse_kendall_tau", "p_at_top_5pct"]),
              default="kendall_tau", help="What Tune maximises, on the tuning split of the truth.")
@click.option("--grace-period", type=int, default=1, help="asha: epochs before a trial can be stopped.")
@click.option("--reduction-factor", type=float, default=3.0, help="asha/hyperband: keep 1/this at each rung.")
@click.option("--perturbation-interval", type=int, default=2, help="pbt: epochs between exploit/explore steps.")
@click.option("--pbt-async", is_flag=True, help="pbt: perturb each trial on its own  [default: synchronous]")
@click.option("--truth-archs", type=int, default=100, help="Truth architectures used (tuning + test).")
@click.option("--test-fraction", type=float, default=0.5, help="Share of them held out as the test split.")
@click.option("--eval-batches", type=int, default=4, help="Held-out batches each subnet is scored on.")
@click.option("--eval-batch-size", type=int, default=256, help="Images per scoring batch.")
@click.option("--macro", help="Macro config overrides, e.g. C=8,N=1  [default: the space's]")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A base heuristic for keys --search leaves alone, e.g. batch_size=64; repeatable.")
@click.option("--search-seed", type=int, default=0, help="Seed of the configuration sampler.")
@click.option("--max-concurrent-trials", type=int, help="At most this many trials at once  [default: as resources allow]")
@_cluster_options("trial", "trials")
@click.option("--out", required=True, help="Output directory (trials.parquet, best/, report.html, experiment/).")
def tune(space: str, data: str, truth: str, metric: str | None, search_file: str, num_samples: int, epochs: int,
         scheduler: str, objective: str, grace_period: int, reduction_factor: float, perturbation_interval: int,
         pbt_async: bool, truth_archs: int, test_fraction: float, eval_batches: int, eval_batch_size: int, macro: str | None,
         settings: tuple[str, ...], search_seed: int, max_concurrent_trials: int | None, address: str | None,
         gpus: float | None, cpus: float, resource_timeout: float | None, takeover: bool, out: str) -> None:
    """Search supernet-training heuristics with Ray Tune, ranked against stand-alone truth; resumes when rerun."""
    from archscore.engine.run import RunError, SweepInterrupted
    from archscore.engine.tune import TuneConfig, run_tune
    from archscore.estimators.one_shot import Heuristics

    _check_out_dir(out)
    _check_exists(truth, "--truth")
    try:
        with _user_errors():
            search = _load_yaml(search_file, "--search")
            if not search:
                raise ValueError(f"--search {search_file} is empty; it maps heuristic keys to a constant or "
                                 "{choice|uniform|loguniform|randint: [...]} (see docs/workflows/tune.md)")
            config = TuneConfig(space=space, data=data, truth=truth, out=out, search=search,
                                metric=metric, base=Heuristics.from_mapping(_parse_pairs(",".join(settings) or None,
                                                                                         "--set")),
                                macro=_parse_pairs(macro, "--macro"), epochs=epochs, num_samples=num_samples,
                                scheduler=scheduler, objective=objective, grace_period=grace_period,
                                reduction_factor=reduction_factor, perturbation_interval=perturbation_interval,
                                pbt_synch=not pbt_async, truth_archs=truth_archs, test_fraction=test_fraction, eval_batches=eval_batches,
                                eval_batch_size=eval_batch_size, search_seed=search_seed, gpus_per_trial=gpus,
                                cpus_per_trial=cpus, max_concurrent_trials=max_concurrent_trials,
                                address=address, resource_timeout_s=resource_timeout, takeover=takeover)
            table = run_tune(config)
    except (SweepInterrupted, KeyboardInterrupt):
        click.echo(f"archscore: interrupted; finished trials and the last checkpoints in {out} are kept; rerun the "
                   "same command to resume", err=True)
        sys.exit(130)
    except RunError as exc:
        raise click.ClickException(f"{exc}\nrerun the same command to resume") from None
    click.echo(_tune_summary(table, out))
    if set(table.column("status").to_pylist()) == {"error"}:
        sys.exit(3)  # as a sweep whose every row failed


def _load_yaml(path: str, option: str) -> Any:
    """The YAML document in ``path``; malformed YAML is a ``ValueError`` naming the file and the place."""
    import yaml

    try:
        with open(path) as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ValueError(f"{option} {path} is not valid YAML: {' '.join(str(exc).split())}") from None


def _tune_summary(table: Any, out: str) -> str:
    import math

    from archscore.engine.tune.results import best_row

    rows = table.to_pylist()
    finals = [r for r in rows if r["final"] or r["epoch"] is None]
    counts: dict[str, int] = {}
    for row in finals:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    lines = [f"{len(finals)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items())
             + f"; wrote {out}/trials.parquet, {out}/report.html"]
    best_raw = best_row(rows)  # the row best/ was written from
    if best_raw:
        def fmt(v: Any) -> str:
            return "n/a" if v is None or not math.isfinite(v) else f"{v:.3f}"

        lines.append(f"best trial {best_raw['trial_id']} (epoch {best_raw['epoch']}): tuning kendall tau "
                     f"{fmt(best_raw['tuning_kendall_tau'])}, held-out test kendall tau "
                     f"{fmt(best_raw['test_kendall_tau'])}; use it with --estimator-option "
                     f"oneshot.checkpoint={out}/best")
    return "\n".join(lines)


@main.command()
@click.option("--results", "results_path", required=True, multiple=True,
              help="A sweep's output (directory or object-store URI), a results Parquet file (an `archscore "
                   "ensemble` output, say), or a NASLib zc_*.json (published scores); repeatable: the rows of "
                   "all are evaluated together.")
@click.option("--truth", "truth_path", required=True,
              help="Ground truth: CSV/Parquet with an architecture column, a NB201 CSV, a NASLib zc json, or "
                   "the output of `archscore train` (any sweep's output: its estimators become metrics).")
@click.option("--metric", help="Truth column to rank by, as the truth file names it (test-accuracy) or by its "
                               "alias (test_accuracy); default: test accuracy, val_accuracy, ...")
@click.option("--space", help="Space of the truth file's architectures  [default: detected from a NASLib zc "
                                "json's keys, else nb201]")
@click.option("--arch-column", help="Architecture column of a generic truth file (default: detected, or `arch`).")
@click.option("--dataset", default="cifar10", show_default=True, help="Dataset key inside NASLib zc json files.")
@click.option("--sparse-threshold", type=float, default=0.1, show_default=True,
              help="Bin width of the truth for sparse Kendall tau (percentage points).")
@click.option("--bootstrap", type=int, default=200, show_default=True, help="Bootstrap resamples for CIs.")
@click.option("--truth-by-class", is_flag=True,
              help="Truth of an architecture = mean over its isomorphism class (default: its own value).")
@click.option("--drop-failed", is_flag=True,
              help="Evaluate on the architectures every estimator and seed scored ok (default: a failed "
                   "score ranks last, tied).")
@click.option("--keep-training-split", is_flag=True,
              help="Keep the architectures a `predictor` estimator was trained on (default: left out, by "
                   "isomorphism class, for every estimator).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Where criteria.parquet and report.html go (not inside a sweep's output).")
@click.option("--overwrite", is_flag=True, help="Replace an evaluation already in --out.")
def evaluate(results_path: tuple[str, ...], truth_path: str, metric: str | None, space: str | None, arch_column: str | None,
             dataset: str, sparse_threshold: float, bootstrap: int, truth_by_class: bool, drop_failed: bool,
             keep_training_split: bool, out: str, overwrite: bool) -> None:
    """Rank criteria of every estimator in RESULTS against TRUTH, with an HTML report.

    Exit status: 0 when written, 1 on an error (nothing written; also when no architecture of
    RESULTS has a truth value), 2 on a usage error, 130 when stopped by Ctrl-C (nothing written).
    """
    from pathlib import Path

    from archscore.engine.evaluation import EvalOptions
    from archscore.engine.evaluation.files import check_output_location, evaluate_files, write_evaluation

    for path in results_path:
        _check_exists(path, "--results")
    _check_exists(truth_path, "--truth")
    try:
        with _user_errors():
            check_output_location(out)
            if (Path(out) / "criteria.parquet").exists() and not overwrite:
                raise ValueError(f"--out {out} already holds an evaluation (criteria.parquet); choose another --out "
                                 "or pass --overwrite")
            ev = evaluate_files(results_path, truth_path, EvalOptions(
                metric=metric, sparse_threshold=sparse_threshold, n_boot=bootstrap, truth_by_class=truth_by_class,
                drop_failed=drop_failed, exclude_training=not keep_training_split), dataset, space, arch_column)
            if ev.n == 0:
                unmatched = max((int(r["value"]) for r in ev.criteria.to_pylist() if r["criterion"] == "n_unmatched"),
                                default=0)
                raise ValueError(
                    f"N = 0: no architecture of --results {', '.join(results_path)} has a value in --truth "
                    f"{truth_path} (none of its {unmatched} architectures is there). Are both of the same "
                    "space (--space names the truth's), and is --results a sweep's output (not an evaluation's)?")
            criteria_path, report = write_evaluation(
                ev, out, title=f"{' + '.join(Path(p).name for p in results_path)} vs {Path(truth_path).name}")
    except KeyboardInterrupt:
        click.echo(f"archscore: interrupted; nothing new was written to {out}", err=True)
        sys.exit(130)
    protocol = ev.options.describe()
    click.echo(f"N = {ev.n} architectures, metric {ev.metric}; truth: {protocol['truth']}; failures: "
               f"{protocol['failures']}" + (f" ({ev.n_dropped} architectures dropped)" if drop_failed else ""))
    for p in ev.points:
        row = {r["criterion"]: r["value"] for r in ev.criteria.to_pylist()
               if r["estimator"] == p.estimator and r["seed"] == p.seed and r["ratio"] is None}
        kt, rho = row.get("kendall_tau"), row.get("spearman")
        click.echo(f"{p.estimator:12s} seed {p.seed}: Kendall tau {kt if kt is None else round(kt, 4)}, "
                   f"Spearman {rho if rho is None else round(rho, 4)}, failed {int(row['n_failed'])} "
                   f"(missing {int(row['n_missing'])}), unmatched rows {int(row['n_unmatched'])}")
    for note in ev.notes:
        if "left out of the evaluation set" in note:
            click.echo(note)
    click.echo(f"wrote {criteria_path} and {report}")


@main.command()
@click.option("--results", "results_paths", required=True, multiple=True,
              help="A finished sweep's output (or a results Parquet file / NASLib zc json) holding the members; "
                   "repeatable: members from several sweeps of the same architectures, each member in one of them.")
@click.option("--preset", help="A published aggregation: az_nas (the four AZ-NAS proxies' log ranks), te_nas (dense rank "
                               "sum of te_nas_ntk and te_nas_lr); sets "
                               "--members, --method and --name.")
@click.option("--members", help="Comma-separated estimators to aggregate (at least two).")
@click.option("--name", help="The ensemble's estimator name in the rows written  [default: the preset's]")
@click.option("--method", type=click.Choice(["log_rank", "rank_sum", "dense_rank_sum"]), default="log_rank", show_default=True,
              help="log_rank: sum of log(rank/N) (AZ-NAS, VKDNW); rank_sum: sum of ranks; dense_rank_sum: sum "
                   "of dense ranks (TE-NAS).")
@click.option("--direction", "directions", multiple=True, metavar="NAME=higher|lower",
              help="Direction of a member that is not a registered estimator; repeatable.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Parquet file for the ensemble's rows (results schema); evaluate it with "
                   "`evaluate --results RUN --results OUT`.")
def ensemble(results_paths: tuple[str, ...], preset: str | None, members: str | None, name: str | None, method: str,
             directions: tuple[str, ...], out: str) -> None:
    """Zero-label rank aggregation of scored estimators over the scored population, per seed."""
    import io

    import pyarrow.parquet as pq

    from archscore._core import write_atomic
    from archscore.engine.evaluation.ensemble import Ensemble, ensemble_of, rank_aggregate
    from archscore.engine.evaluation.ensemble import preset as preset_ensemble
    from archscore.engine.evaluation.files import check_output_location, read_members

    for path in results_paths:
        _check_exists(path, "--results")
    with _user_errors():
        check_output_location(out)
        if preset and members:
            raise ValueError("give --preset or --members, not both")
        if preset:
            spec = preset_ensemble(preset)
            spec = Ensemble(name or spec.name, spec.members, spec.method)
        elif not members or not name:
            raise ValueError("give --preset, or --members and --name")
        else:
            spec = Ensemble(name, tuple(m for m in members.split(",") if m), method)
        given = _parse_pairs(",".join(directions) or None, "--direction")
        bad = {k: v for k, v in given.items() if v not in ("higher", "lower")}
        if bad:
            raise ValueError(f"--direction takes NAME=higher or NAME=lower; got {bad}")
        table = rank_aggregate(read_members(results_paths, spec.members), spec,
                               {k: v == "higher" for k, v in given.items()}, source=", ".join(results_paths))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_atomic(out, buf.getvalue())
    population = ensemble_of(table)["population"]
    n_ok = sum(1 for s in table.column("status").to_pylist() if s == "ok")
    last = {m: n for m, n in ensemble_of(table)["failed_ranked_last"].items() if n}
    click.echo(f"{spec.name} ({spec.method} of {', '.join(spec.members)}): {n_ok} ok rows of {table.num_rows}; "
               f"population per seed {population}" + (f"; failed member scores ranked last: {last}" if last else "")
               + f"; wrote {out}")


@main.group()
def predictor() -> None:
    """Learned predictors: fit one on labelled architectures, then score with it in a sweep
    (--estimators predictor --estimator-option predictor.checkpoint=DIR)."""


@predictor.command("fit")
@click.option("--space", required=True, help="Search space (see `archscore spaces`).")
@click.option("--truth", required=True, help="Labelled architectures: a truth file (CSV/Parquet, NB201 CSV, NASLib "
                                             "zc json) or an `archscore train` output.")
@click.option("--metric", help="Truth column to learn  [default: test accuracy, or the first]")
@click.option("--train-size", type=int, help="Label this many architectures of the truth, drawn with --seed.")
@click.option("--train", "train_file", type=click.Path(dir_okay=False, exists=True),
              help="Label exactly these architectures (a file as `sweep --input` reads).")
@click.option("--seed", type=int, default=0, help="Seed of the split and of the model.")
@click.option("--features", default="encoding",
              help="Comma-separated featurizers: encoding, renas, graf (or graf:head), zse:PATH (a sweep output "
                   "or NASLib zc json).")
@click.option("--zse-transform", type=click.Choice(["rank", "zscore"]), default="rank",
              help="How zero-shot scores become features (over the whole scored population).")
@click.option("--zse-estimators", help="Only these estimators of zse:PATH, comma-separated  [default: all]")
@click.option("--model", type=click.Choice(PREDICTORS.names()), default="gbt", help="The predictor.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A model option, e.g. loss=listwise or epochs=100 (see the predictor's docstring); repeatable.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Directory for the predictor.")
@click.option("--overwrite", is_flag=True, help="Replace a predictor already in --out.")
def predictor_fit(space: str, truth: str, metric: str | None, train_size: int | None, train_file: str | None,
                  seed: int, features: str, zse_transform: str, zse_estimators: str | None, model: str,
                  settings: tuple[str, ...], out: str, overwrite: bool) -> None:
    """Fit a predictor on a labelled split of TRUTH and report its Kendall tau on the rest."""
    from pathlib import Path

    from archscore.engine.workflows import FitConfig, fit_predictor

    _check_exists(truth, "--truth")
    try:
        with _user_errors():
            record = fit_predictor(FitConfig(
                space=space, truth=truth, out=out, model=model, features=features, metric=metric,
                train_size=train_size, train=train_file, seed=seed,
                options=_parse_pairs(",".join(settings) or None, "--set"), zse_transform=zse_transform,
                zse_estimators=tuple(e for e in (zse_estimators or "").split(",") if e), overwrite=overwrite))
    except KeyboardInterrupt:
        click.echo(f"archscore: interrupted; {out} holds no new finished predictor (rerun the same command)", err=True)
        sys.exit(130)
    held = record.get("held_out_kendall_tau")
    unscored = record.get("n_held_out_unscored", 0)
    click.echo(f"{model} on {record['features']}: fitted on {record['n_train']} labelled architectures "
               f"({record['target']}) in {record['fit_seconds']:.1f}s" +
               (f"; Kendall tau {held:.4f} on the {record['n_held_out']} held-out architectures of the truth"
                if held is not None else "") +
               (f" ({unscored} more have no zero-shot scores: left out, as a sweep would refuse them)"
                if unscored else ""))
    click.echo(f"wrote {Path(out) / 'predictor.pkl'}; score with: archscore sweep --space {space} --estimators "
               f"predictor --estimator-option predictor.checkpoint={out} ...")


if __name__ == "__main__":
    main()
