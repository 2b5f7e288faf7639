"""A run fails before writing, never hangs, stops on request, and never blocks its corrected rerun."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from archscore.engine import FromFile, Sample, SweepConfig, read_results, run_sweep
from archscore.engine.cli import main
from archscore.engine.run.errors import ResourcesUnavailable, UniformFailure
from archscore.engine.run.sink import ConfigMismatch
from tests.conftest import data_path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ["tests.chaos_plugin"]
TINY = {"C": 4, "N": 1}


def cli(*args):
    return CliRunner().invoke(main, ["sweep", "--space", "nb201", "--no-progress", *args])


def spawn_cli(*args, **kwargs):
    """``archscore sweep ...`` in its own process (an embedded local Ray of its own)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-m", "archscore.engine.cli", "sweep", "--space", "nb201",
                             "--no-progress", *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def keys_of(out):
    rows = read_results(out)
    keys = list(zip(*(rows.column(c).to_pylist() for c in ("input_index", "estimator", "seed"))))
    return keys


# -- fail before writing ------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--sample", "20000"], "exceeds the 15,625 architectures"),
    (["--sample", "0"], "positive number"),
    (["--sample", "-3"], "positive number"),
    (["--all", "--macro", "C=0"], "C must be >= 1"),
    (["--all", "--macro", "C=x"], "is not a int"),
    (["--all", "--seeds", "1,1"], "distinct seeds"),
])
def test_config_errors_fail_before_anything_is_written(tmp_path, args, message):
    out = tmp_path / "out"
    result = cli("--estimators", "params", "--out", str(out), *args)
    assert result.exit_code == 1 and message in result.output, result.output
    assert not out.exists()


def test_input_file_errors_fail_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    (tmp_path / "empty.txt").write_text("\n\n")
    (tmp_path / "in.csv").write_text("name\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    for args, message, code in ((["--input", str(tmp_path / "empty.txt")], "has no architectures", 1),
                                (["--input", str(tmp_path / "in.csv")], "has no column 'arch'", 1),
                                (["--input", str(tmp_path / "missing.txt")], "does not exist", 2),
                                (["--input", str(tmp_path)], "is a directory", 2)):
        result = cli("--estimators", "params", "--out", str(out), *args)
        assert result.exit_code == code and message in result.output, result.output
        assert result.output.count(args[1]) == 1, result.output  # the file is named once
    assert not out.exists()


def test_data_dir_without_files_fails_before_writing_then_the_corrected_run_works(ray_session, tmp_path):
    empty, out = tmp_path / "empty", tmp_path / "out"
    empty.mkdir()
    args = ["--estimators", "snip,params", "--sample", "2", "--macro", "C=4,N=1", "--data-batch-size", "8",
            "--out", str(out), "--gpus-per-actor", "0"]
    result = cli(*args, "--data", f"fashion-mnist:{empty}")
    assert result.exit_code == 1 and "train-images-idx3-ubyte" in result.output, result.output
    assert not out.exists()
    fmnist = data_path("fashion-mnist")
    result = cli(*args, "--data", f"fashion-mnist:{fmnist}")
    assert result.exit_code == 0, result.output
    assert len(keys_of(out)) == 4


@pytest.mark.slow
def test_a_failure_shared_by_every_architecture_is_a_run_error(ray_session, tmp_path):
    config = SweepConfig("nb201", ["echo", "params"], str(tmp_path), Sample(40, seed=1), batch_size=8,
                         estimator_config={"echo": {"fail": "checkpoint /nowhere/ckpt.pt does not exist"}},
                         gpus_per_actor=0, progress=False, plugins=PLUGIN)
    with pytest.raises(UniformFailure, match="every one of the first 16 architectures.*ckpt.pt"):
        run_sweep(config)
    assert read_results(tmp_path).num_rows == 0
    config.estimator_config = {}  # corrected: the location accepts it, since nothing was committed
    summary = run_sweep(config)
    assert summary.rows_written == 80 and summary.statuses.ok == 80


@pytest.mark.slow
def test_resume_is_keyed_on_content_and_normalised_defaults(ray_session, tmp_path):
    archs = tmp_path / "archs.txt"
    archs.write_text("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|\n"
                     "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|\n")
    out = str(tmp_path / "out")
    base = dict(space="nb201", estimators=["naswot"], out=out, macro=TINY, data_batch_size=8,
                gpus_per_actor=0, progress=False)
    first = run_sweep(SweepConfig(**base, source=FromFile(str(archs))))
    assert first.rows_written == 2
    moved = tmp_path / "elsewhere.txt"
    moved.write_bytes(archs.read_bytes())  # another name and mtime, the same content
    again = run_sweep(SweepConfig(**{**base, "macro": {"C": "4", "N": 1, "input_size": 32}}, data="synthetic",
                                  source=FromFile(str(moved))))
    assert again.rows_written == 0 and again.rows_resumed == 2
    moved.write_text(archs.read_text() + "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    with pytest.raises(ConfigMismatch, match=r"input\.sha256: there") as info:
        run_sweep(SweepConfig(**base, source=FromFile(str(moved))))
    assert "macro" not in str(info.value) and "data" not in str(info.value)


@pytest.mark.slow
def test_summary_counts_statuses_and_a_run_with_no_ok_row_exits_non_zero(ray_session, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("not an arch\n|bogus~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    result = cli("--estimators", "params,flops", "--input", str(bad), "--out", str(tmp_path / "o1"),
                 "--gpus-per-actor", "0")
    assert result.exit_code == 3, result.output
    assert "params: 2 invalid" in result.output and "no row is ok" in result.output
    result = cli("--estimators", "params", "--sample", "5", "--seeds", "0,1", "--out", str(tmp_path / "o2"),
                 "--gpus-per-actor", "0")
    assert result.exit_code == 0
    assert "scored 10 items (5 archs x 2 seeds)" in result.output and "params: 10 ok" in result.output


def test_version_and_help_show_defaults():
    assert CliRunner().invoke(main, ["--version"]).output.startswith("archscore ")
    text = CliRunner().invoke(main, ["sweep", "--help"]).output
    assert "[default: synthetic]" in text and "--estimator-option" in text and "--out" in text


# -- resources: fail within seconds, naming what was asked and what exists -----------------------

def test_more_actors_than_the_cluster_holds_fail_at_once(ray_session, tmp_path):
    start = time.monotonic()
    with pytest.raises(ResourcesUnavailable, match=r"4 actors x \(1 CPU, 0 GPU\).*has 2 CPUs and 2 GPUs on 1 node"):
        run_sweep(SweepConfig("nb201", ["params"], str(tmp_path / "o"), Sample(10), num_actors=4,
                              gpus_per_actor=0, progress=False, resource_timeout_s=0))
    assert time.monotonic() - start < 30 and not (tmp_path / "o").exists()


def test_a_bounded_wait_for_resources_says_what_it_waits_for(ray_session, tmp_path, caplog):
    with pytest.raises(ResourcesUnavailable, match="waited 1s"):
        run_sweep(SweepConfig("nb201", ["params"], str(tmp_path / "o"), Sample(10), gpus_per_actor=3,
                              progress=False, resource_timeout_s=1))
    assert "waiting up to 1s for the cluster to provide 1 actor x (1 CPU, 3 GPU)" in caplog.text


@pytest.mark.slow
def test_gpus_asked_on_a_machine_without_gpus_exit_non_zero_within_60s(tmp_path):
    start = time.monotonic()
    proc = spawn_cli("--estimators", "params", "--sample", "10", "--gpus-per-actor", "1", "--out", str(tmp_path / "o"))
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, output
    assert time.monotonic() - start < 60
    assert "no GPUs" in output and "1 actor x (1 CPU, 1 GPU)" in output


# -- two writers, Ctrl-C, a dead node ------------------------------------------------------------

ECHO = ["--estimators", "echo,params", "--sample", "200", "--seed", "3", "--batch-size", "10",
        "--plugin", "tests.chaos_plugin", "--actors", "2", "--cpus-per-actor", "0.5"]


@pytest.mark.slow
def test_two_identical_concurrent_sweeps_write_each_row_once(tmp_path):
    out = str(tmp_path / "out")
    procs = [spawn_cli(*ECHO, "--estimator-option", "echo.sleep=0.3", "--out", out) for _ in range(2)]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes[0] == 0, outputs
    if codes[1] != 0:  # the usual case: the second found the first writing
        loser = outputs[[p.returncode for p in procs].index(codes[1])]
        assert "being written by another archscore process: pid" in loser, loser
    keys = keys_of(out)
    assert len(keys) == len(set(keys)) == 400


def _wait_for_files(folder: Path, n: int, timeout: float, prefix: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if folder.exists() and len([p for p in folder.iterdir() if p.name.startswith(prefix)]) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"{folder} never held {n} files {prefix}*")


@pytest.mark.slow
def test_ctrl_c_stops_within_seconds_keeps_rows_and_the_rerun_resumes(tmp_path):
    out, pids = str(tmp_path / "out"), tmp_path / "pids"
    pids.mkdir()
    args = [*ECHO, "--estimator-option", "echo.sleep=0.2", "--out", out]
    proc = spawn_cli(*args, "--estimator-option", f"echo.pid_dir={pids}")
    _wait_for_files(pids, 4, 120, prefix="batch-")  # batches were scored (the echo plugin says so)
    time.sleep(1.0)  # and returned to the driver
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert time.monotonic() - start < 15
    partial = len(keys_of(out))
    assert 0 < partial < 400
    assert f"{partial:,} committed rows in {out} are kept; rerun the same command to resume" in output
    rerun = spawn_cli(*args, "--estimator-option", f"echo.pid_dir={pids}")
    output, _ = rerun.communicate(timeout=240)
    assert rerun.returncode == 0 and f"resumed: {partial:,} rows" in output, output
    keys = keys_of(out)
    assert len(keys) == len(set(keys)) == 400


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every descendant of ``pid``."""
    parents, cmds = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmds[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent:
                found.append((child, cmds[child]))
                frontier.append(child)
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the raylet through /proc")
def test_a_dead_ray_node_ends_the_run_within_about_30s_and_the_rerun_resumes(tmp_path):
    out, pids = str(tmp_path / "out"), tmp_path / "pids"
    pids.mkdir()
    # 16 batches of 4 s on 2 actors: actor calls outlive a dead raylet by about 15 s, so the run
    # must still have work then
    args = ["--estimators", "echo,params", "--sample", "160", "--seed", "3", "--batch-size", "10",
            "--plugin", "tests.chaos_plugin", "--actors", "2", "--cpus-per-actor", "0.5",
            "--estimator-option", "echo.sleep=4", "--estimator-option", f"echo.pid_dir={pids}", "--out", out]
    proc = spawn_cli(*args)
    _wait_for_files(pids, 2, 120)
    time.sleep(2.0)
    raylets = [p for p, cmd in _children(proc.pid) if "/raylet/raylet" in cmd or cmd.startswith("raylet")]
    assert raylets, _children(proc.pid)
    for p in raylets:
        os.kill(p, signal.SIGKILL)
    start = time.monotonic()
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 1, output
    assert time.monotonic() - start < 60, output
    partial = len(keys_of(out))
    assert "can no longer host" in output
    assert (f"{partial:,} committed rows in {out} are kept; rerun the same command to resume" in output
            if partial else "nothing was committed" in output), output
    (pids / "no-sleep").touch()  # the same options (a resume), without the 4 s batches
    rerun = spawn_cli(*args)
    output, _ = rerun.communicate(timeout=240)
    assert rerun.returncode == 0, output
    keys = keys_of(out)
    assert len(keys) == len(set(keys)) == 320 and (partial == 0 or f"resumed: {partial:,} rows" in output)
