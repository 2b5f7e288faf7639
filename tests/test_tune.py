"""``archscore tune``: search files, the trials table, early stopping, errors, PBT, resume, best/."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from archscore.engine.cli import main
from archscore.estimators.one_shot import Heuristics
from archscore.estimators.one_shot.search import SearchSpace

from tests.conftest import data_path

ROOT = Path(__file__).resolve().parents[1]
BASE = Heuristics(batch_size=64, data_portion=0.02, epochs=2)


# -- search files: refused before anything starts, naming the key ---------------------------------

@pytest.mark.parametrize("mapping, message", [
    ({"sampling_mode": "uniform"}, "unknown heuristic 'sampling_mode'"),
    ({"sampling": {"choice": ["uniform", "spos"]}}, "sampling"),
    ({"lr": [0.1, 0.01]}, "a list is not a value"),
    ({"lr": {"uniform": [0.1, 0.01]}}, "low < high"),
    ({"lr": {"loguniform": [0, 0.1]}}, "low > 0"),
    ({"lr": {"uniform": [0.01, 0.1], "choice": [0.1]}}, "exactly one of"),
    ({"lr": {"normal": [0.01, 0.1]}}, "exactly one of"),
    ({"batch_size": {"uniform": [32, 128]}}, "use randint or choice"),
    ({"sampling": {"uniform": [0, 1]}}, "use choice"),
    ({"momentum": {"uniform": [0.5, 1.5]}}, "momentum"),
    ({"bn_recalibrate_batches": {"randint": [-2, 4]}}, "bn_recalibrate_batches"),
    ({"epochs": 5}, "--epochs"),
    ({"bn_affine": {"choice": [True, True]}}, "twice"),
    ({"path_dropout": {"uniform": ["a", 0.1]}}, "two finite numbers"),
])
def test_bad_search_spaces_are_refused_naming_the_key(mapping, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace.from_mapping(mapping, BASE)


def test_a_search_space_parses_and_samples_into_valid_heuristics():
    search = SearchSpace.from_yaml("sampling: {choice: [uniform, deiso]}\nlr: {loguniform: [0.01, 0.1]}\n"
                                   "bn_recalibrate_batches: {randint: [0, 5]}\nbatch_size: 32\n"
                                   "bn_track_running_stats: {choice: [false, 'true']}\n", BASE)
    assert [d.key for d in search.searched] == ["sampling", "lr", "bn_recalibrate_batches", "bn_track_running_stats"]
    assert search.constants() == {"batch_size": 32}
    assert search.searched[3].values == (False, True)  # text converted to the key's type
    h = search.heuristics({"sampling": "deiso", "lr": 0.05, "bn_recalibrate_batches": 4})
    assert (h.sampling, h.lr, h.batch_size, h.data_portion) == ("deiso", 0.05, 32, 0.02)
    assert SearchSpace.from_mapping(search.as_dict(), BASE) == search
    # PyYAML reads 1e-3 (no dot) as text: numeric text is a number in ranges and choices alike
    yaml_quirk = SearchSpace.from_yaml("lr: {loguniform: [1e-3, 1e-1]}\nweight_decay: {choice: [1e-4, 5e-4]}\n", BASE)
    assert yaml_quirk.dimensions[0].values == (0.001, 0.1) and yaml_quirk.dimensions[1].values == (0.0001, 0.0005)


def _tune_args(tmp_path, search: str, *extra: str) -> list[str]:
    (tmp_path / "search.yaml").write_text(search)
    return ["tune", "--space", "nb201", "--data", f"fashion-mnist:{data_path('fashion-mnist')}",
            "--truth", str(data_path("nb201", "cifar10_valid_test_3seed.csv")), "--metric", "valid_accuracy",
            "--search", str(tmp_path / "search.yaml"), "--macro", "C=4,N=1", "--set", "batch_size=64",
            "--set", "data_portion=0.02", "--truth-archs", "24", "--eval-batches", "1", "--eval-batch-size", "64",
            "--gpus-per-trial", "0", *extra]


@pytest.mark.parametrize("search, message", [
    ("lr: {uniform: [0.1, 0.01]}\n", "low < high"),
    ("lr: [oops\n", "not valid YAML"),
    ("- lr\n", "must map heuristic keys"),
    ("dynamic_channels: {choice: [false, true]}\n", "dynamic"),
])
def test_the_cli_refuses_bad_search_files_before_starting(tmp_path, search, message):
    result = CliRunner().invoke(main, _tune_args(tmp_path, search, "--out", str(tmp_path / "t")))
    assert result.exit_code == 1 and message in result.output, result.output
    assert not (tmp_path / "t").exists()


def test_pbt_needs_a_key_it_can_mutate(tmp_path):
    result = CliRunner().invoke(main, _tune_args(tmp_path, "topology: {choice: [edges, nodes]}\n", "--scheduler",
                                                 "pbt", "--out", str(tmp_path / "t")))
    assert result.exit_code == 1 and "pbt mutates" in result.output


# -- end to end (tiny: C=4 N=1, 2% of Fashion-MNIST, 2 epochs) ------------------------------------

@pytest.mark.slow
def test_asha_run_writes_the_table_stops_early_records_errors_and_best_loads_into_oneshot(ray_session, tmp_path):
    from archscore.engine import SweepConfig, run_sweep
    from archscore.engine.run.inputs import FromFile
    from archscore.engine.run.sink import read_results

    out = tmp_path / "tune"
    # lr 1e30 diverges in its first epoch: that trial is an error row while the others go on
    search = "lr: {choice: [1.0e+30, 0.1, 0.05, 0.01, 0.003]}\nsampling: {choice: [uniform, deiso]}\n"
    result = CliRunner().invoke(main, _tune_args(tmp_path, search, "--num-samples", "5", "--epochs", "2",
                                                 "--reduction-factor", "2", "--max-concurrent-trials", "1",
                                                 "--set", "grad_clip=0", "--search-seed", "1", "--out", str(out)))
    assert result.exit_code == 0, result.output
    table = pq.read_table(out / "trials.parquet")
    assert table.schema.metadata[b"archscore.version"]
    types = {f.name: str(f.type) for f in table.schema}
    assert (types["lr"], types["sampling"], types["bn_affine"], types["batch_size"]) == ("double", "string", "bool",
                                                                                         "int64")
    rows = table.to_pylist()
    by_trial: dict = {}
    for row in rows:
        by_trial.setdefault(row["trial_id"], []).append(row)
    assert len(by_trial) == 5
    statuses = {t: r[-1]["status"] for t, r in by_trial.items()}
    errors = [t for t, s in statuses.items() if s == "error"]
    assert len(errors) == 1 and by_trial[errors[0]][0]["lr"] == 1e30
    assert "diverged" in by_trial[errors[0]][0]["error"]
    assert "stopped early" in statuses.values() and "finished" in statuses.values()
    for t, trial_rows in by_trial.items():
        if statuses[t] == "error":
            continue
        epochs = [r["epoch"] for r in trial_rows]
        assert epochs == list(range(1, len(epochs) + 1))
        assert len(epochs) == (2 if statuses[t] == "finished" else 1)
        assert [r["final"] for r in trial_rows] == [False] * (len(epochs) - 1) + [True]
        assert all(Path(r["checkpoint"], "checkpoint.pt").is_file() for r in trial_rows)
        final = trial_rows[-1]
        assert final["test_kendall_tau"] is not None and -1 <= final["test_kendall_tau"] <= 1
        assert -1 <= final["tuning_kendall_tau"] <= 1 and final["train_loss"] > 0
        assert all(r["batch_size"] == 64 and r["data_portion"] == 0.02 for r in trial_rows)
    best = json.loads((out / "best" / "best.json").read_text())
    assert statuses[best["trial_id"]] == "finished"
    assert best["objective"] == max(by_trial[t][-1]["objective"] for t, s in statuses.items() if s == "finished")
    assert "best configurations" in (out / "report.html").read_text().lower()

    # the best checkpoint scores through a sweep as the oneshot estimator
    archs = tmp_path / "archs.txt"
    record = json.loads((out / "tune.json").read_text())
    archs.write_text("\n".join(record["truth"]["test"][:4]) + "\n")
    summary = run_sweep(SweepConfig(
        space="nb201", source=FromFile(str(archs)), estimators=["oneshot"], out=str(tmp_path / "ose"),
        macro={"C": 4, "N": 1}, data=f"fashion-mnist:{data_path('fashion-mnist')}",
        estimator_config={"oneshot": {"checkpoint": str(out / "best"), "eval_batches": "1",
                                       "eval_batch_size": "64"}}, gpus_per_actor=0.0, num_actors=1, progress=False))
    assert summary.ok
    scores = read_results(str(tmp_path / "ose")).column("score").to_pylist()
    assert len(scores) == 4 and all(0 <= s <= 100 for s in scores)

    # a rerun with other settings into the same --out is refused
    again = CliRunner().invoke(main, _tune_args(tmp_path, search, "--num-samples", "6", "--epochs", "2",
                                                "--out", str(out)))
    assert again.exit_code == 1 and "other settings" in again.output


@pytest.mark.slow
def test_hyperband_over_a_grid_runs_every_grid_value(ray_session, tmp_path):
    out = tmp_path / "hb"
    result = CliRunner().invoke(main, _tune_args(tmp_path, "seed: {grid: [0, 1]}\nlr: 0.05\n", "--num-samples", "1",
                                                 "--epochs", "2", "--scheduler", "hyperband", "--out", str(out)))
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out / "trials.parquet").to_pylist()
    finals = [r for r in rows if r["final"]]
    assert sorted(r["seed"] for r in finals) == [0, 1] and {r["lr"] for r in rows} == {0.05}
    assert {r["status"] for r in finals} <= {"finished", "stopped early"}
    assert "hyperband (reduction_factor=3.0)" in (out / "report.html").read_text()


@pytest.mark.slow
def test_pbt_continues_a_trial_from_another_trials_weights(ray_session, tmp_path):
    out = tmp_path / "pbt"
    search = "lr: {choice: [0.2, 0.05, 0.001]}\n"
    result = CliRunner().invoke(main, _tune_args(tmp_path, search, "--num-samples", "3", "--epochs", "3",
                                                 "--scheduler", "pbt", "--perturbation-interval", "1",
                                                 "--search-seed", "0", "--out", str(out)))
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out / "trials.parquet").to_pylist()
    weights = {(r["trial_id"], r["epoch"]): r["weights_sha256"] for r in rows}
    restored = [r for r in rows if r["restored_from"]]  # PBT pauses trials too: those continue their own
    assert [r for r in restored if not r["restored_from"].startswith(r["trial_id"])], \
        "PBT never exploited another trial in this run"
    for row in restored:
        donor, epoch = row["restored_from"].split("@")
        assert row["restored_weights"] == weights[(donor, int(epoch))]  # it started from the donor's weights
        assert row["epoch"] == int(epoch) + 1


@pytest.mark.slow
def test_an_interrupted_then_killed_tune_driver_resumes_without_redoing_finished_trials(tmp_path):
    out = tmp_path / "tune"
    tune_args = _tune_args(tmp_path, "lr: {choice: [0.1, 0.05]}\n", "--num-samples", "2", "--epochs", "3",
                           "--scheduler", "fifo", "--max-concurrent-trials", "1", "--out", str(out))
    # epochs of 2,400 images: with 1,200 a fast CI machine ran the second trial's epochs 1-2 between
    # two snapshots
    tune_args[tune_args.index("data_portion=0.02")] = "data_portion=0.04"
    args = [sys.executable, "-m", "archscore.engine.cli", *tune_args]
    # Tune snapshots its experiment state every 0.1 s here (the driver's default is 2 s): an epoch of
    # these tiny trials can take under a second on a fast machine, and the waits below need a snapshot
    # taken mid-trial
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled", "TUNE_GLOBAL_CHECKPOINT_S": "0.1"}

    def start():
        started = time.time()  # the interrupted run's state files are older
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        proc.started = started
        return proc

    def wait_for(proc, condition):
        deadline, since, seen = time.monotonic() + 240, proc.started, []
        while time.monotonic() < deadline and proc.poll() is None:
            states = _trial_states(out / "experiment", since)
            if states and (not seen or seen[-1] != states):
                seen.append(states)
            found = condition(states)
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"the run ended or stalled first (exit {proc.poll()}); snapshots seen: {seen}")

    def mid_trial(states):  # a running trial whose saved state holds a checkpoint before its last epoch
        return [t for t, (status, epoch) in states.items() if status == "RUNNING" and 1 <= epoch < 3]

    # 1. Ctrl-C: Tune saves and stops; the table so far is written, exit 130
    proc = start()
    wait_for(proc, mid_trial)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "rerun the same command to resume" in err
    # piped (not a terminal): one plain line per trial report, no boxed tables, colour codes or Ray's advice
    assert "tune: trial" in err and "Tuner.restore" not in err and "\x1b[" not in err, err[-3000:]
    assert not any(box in err for box in "╭╰│┌└"), err[-3000:]
    assert {r["status"] for r in pq.read_table(out / "trials.parquet").to_pylist()} & {"running", "pending"}

    # 2. SIGKILL while the second trial is mid-way and the first has finished
    proc = start()
    found = wait_for(proc, lambda states: [(a, b) for a, (sa, _) in states.items() for b in mid_trial(states)
                                           if sa == "TERMINATED" and a != b])
    finished, continued = found[0]
    finished_results = next((out / "experiment").glob(f"_trial_{finished}*/result.json")).read_bytes()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    # 3. the rerun completes; the finished trial was not run again, the other continued
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert next((out / "experiment").glob(f"_trial_{finished}*/result.json")).read_bytes() == finished_results
    rows = pq.read_table(out / "trials.parquet").to_pylist()
    assert sorted((r["trial_id"], r["epoch"]) for r in rows) == [(t, e) for t in sorted((finished, continued))
                                                                 for e in (1, 2, 3)]
    assert {r["status"] for r in rows} == {"finished"}
    assert any(r["restored_from"] == f"{continued}@{r['epoch'] - 1}" for r in rows if r["trial_id"] == continued)


def _trial_states(experiment: Path, since: float = 0.0) -> dict[str, tuple[str, int]]:
    """trial id -> (status, last epoch) as Tune's newest experiment state written after ``since``
    (a time.time()) has them: a rerun writes its own file beside the interrupted run's, stale ones."""
    def mtime(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:  # replaced while we looked
            return 0.0

    out = {}
    fresh = [f for f in experiment.glob("experiment_state-*.json") if mtime(f) >= since]
    for state_file in sorted(fresh, key=mtime)[-1:]:
        try:
            for entry in json.loads(state_file.read_text())["trial_data"]:
                trial, meta = json.loads(entry[0]), json.loads(entry[1])
                out[trial["trial_id"]] = (trial["status"], int((meta.get("last_result") or {}).get("epoch", 0)))
        except (ValueError, KeyError, IndexError, TypeError, OSError):
            continue
    return out


def test_trials_that_cannot_fit_fail_at_once_naming_the_cluster(ray_session, tmp_path):
    args = _tune_args(tmp_path, "lr: {choice: [0.1, 0.05]}\n", "--out", str(tmp_path / "t"))
    args[args.index("--gpus-per-trial") + 1] = "4"
    start = time.monotonic()
    result = CliRunner().invoke(main, [*args, "--resource-timeout", "0"])
    assert result.exit_code == 1 and "GPU" in result.output, result.output
    assert time.monotonic() - start < 30
    assert not (tmp_path / "t" / "experiment").exists()


def test_a_results_part_file_loads_as_truth(tmp_path):
    import pyarrow as pa

    from archscore.engine.evaluation.truth import load_truth

    arch = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    other = "|none~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    rows = [{"space": "nb201", "arch": a, "estimator": "valid_accuracy", "seed": s, "score": v, "status": "ok"}
            for a, s, v in ((arch, 0, 80.0), (arch, 1, 82.0), (other, 0, 40.0))]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "part.parquet")
    truth = load_truth(tmp_path / "part.parquet", "nb201")
    values = dict(zip(truth.column("arch").to_pylist(), truth.column("valid_accuracy").to_pylist()))
    assert values == {arch: 81.0, other: 40.0}  # each architecture's mean over seeds


def test_pbt_explores_within_the_search_space_and_never_multiplies_text():
    import random

    from ray.tune.schedulers.pbt import _explore

    from archscore.engine.tune.search import KeepInSearchSpace, pbt_mutations

    search = SearchSpace.from_mapping({"sampling": {"choice": ["uniform", "fairnas", "deiso"]},
                                       "momentum": {"uniform": [0.8, 0.99]}, "lr": {"loguniform": [0.01, 0.1]},
                                       "archs_per_step": {"randint": [1, 4]}, "topology": {"choice": ["edges", "nodes"]},
                                       "seed": {"grid": [0, 1]}}, BASE)
    mutations = pbt_mutations(search)
    assert set(mutations) == {"sampling", "momentum", "lr", "archs_per_step"}  # topology shapes the net; grid stays
    random.seed(0)
    config = {"sampling": "fairnas", "momentum": 0.98, "lr": 0.099, "archs_per_step": 3, "topology": "nodes", "seed": 1}
    for _ in range(300):
        config, _ = _explore(config, mutations, 0.25, (1.2, 0.8), KeepInSearchSpace(search))
        h = search.heuristics(config)  # raises if a perturbed value left the space
        assert 0.8 <= h.momentum <= 0.99 and 0.01 <= h.lr <= 0.1 and 1 <= h.archs_per_step <= 3
        assert (h.topology, h.seed) == ("nodes", 1)


@pytest.mark.parametrize("late", ["a still saves its pause checkpoint", "b ends by completing"])
def test_hyperband_stops_a_trial_left_paused_in_a_finished_bracket(late):
    """Ray's HyperBand left trial a PAUSED forever once the bracket finished without stopping it
    (seen in CI as a Tune run that hung with no trial running)."""
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import TrialScheduler

    from archscore.engine.tune.search import hyperband

    class FakeTrial:
        def __init__(self, trial_id: str) -> None:
            self.trial_id, self.status, self.is_saving = trial_id, Trial.RUNNING, False

    class Controller:
        def __init__(self) -> None:
            self.stopped: list = []

        def stop_trial(self, trial) -> None:
            self.stopped.append(trial)
            trial.status = Trial.TERMINATED

    scheduler = hyperband(time_attr="epoch", metric="objective", mode="max", max_t=2, reduction_factor=3)
    a, b, controller = FakeTrial("a"), FakeTrial("b"), Controller()
    for trial in (a, b):
        scheduler.on_trial_add(controller, trial)
    for trial in (a, b):
        assert scheduler.on_trial_result(controller, trial, {"epoch": 1, "objective": 0.1}) == TrialScheduler.CONTINUE
    assert scheduler.on_trial_result(controller, a, {"epoch": 2, "objective": 0.2}) == TrialScheduler.PAUSE
    if late == "b ends by completing":
        a.status = Trial.PAUSED  # waits at the milestone for b
        scheduler.on_trial_complete(controller, b, {"epoch": 2, "objective": 0.3, "done": True})
    else:  # a is still RUNNING while its pause checkpoint is saved, so Ray's cleanup passes it by
        a.is_saving = True
        assert scheduler.on_trial_result(controller, b, {"epoch": 2, "objective": 0.3}) == TrialScheduler.STOP
        scheduler.on_trial_complete(controller, b, {"epoch": 2, "objective": 0.3, "done": True})
        a.status, a.is_saving = Trial.PAUSED, False  # the save lands: PAUSED, in a finished bracket
    b.status = Trial.TERMINATED
    assert scheduler.choose_trial_to_run(controller) is None
    assert controller.stopped == [a] and a.status == Trial.TERMINATED


def test_max_concurrent_trials_reaches_the_variant_generator(tmp_path):
    from archscore.engine.tune.config import TuneConfig, prepare
    from archscore.engine.tune.search import tune_settings

    config = TuneConfig(space="nb201", data="synthetic", truth=str(data_path("nb201", "cifar10_valid_test_3seed.csv")),
                        out=str(tmp_path / "t"), search={"lr": {"choice": [0.1, 0.05]}}, macro={"C": 4, "N": 1},
                        max_concurrent_trials=1, truth_archs=12)
    prepared = prepare(config)
    assert tune_settings(config, prepared.search).search_alg.max_concurrent == 1
    with pytest.raises(ValueError, match="max-concurrent"):
        prepare(TuneConfig(**{**config.__dict__, "max_concurrent_trials": 0}))
    with pytest.raises(ValueError, match="not a URI"):
        prepare(TuneConfig(**{**config.__dict__, "out": "s3://bucket/tune"}))
    with pytest.raises(ValueError, match="data_portion|empty"):
        prepare(TuneConfig(**{**config.__dict__, "search": {"data_portion": {"uniform": [1e-6, 0.5]}}}))


def test_a_half_written_result_line_is_skipped(tmp_path, caplog):
    from archscore.engine.run.sink import Store
    from archscore.engine.tune.results import trial_reports

    trial = tmp_path / "experiment" / "_trial_x"
    trial.mkdir(parents=True)
    (trial / "result.json").write_text(json.dumps({"epoch": 1, "trial_id": "x"}) + "\n"
                                       + json.dumps({"epoch": 2, "trial_id": "x"}) + "\n{\"epoch\": 3, \"tr")
    assert [r["epoch"] for r in trial_reports(Store(tmp_path), "experiment/_trial_x")] == [1, 2]
    assert "not whole JSON" in caplog.text
