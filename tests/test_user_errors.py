"""User errors are clear messages with the documented exit codes, and the ones that need no
cluster are reported before Ray starts (every test here fails if Ray is started).

Exit codes (docs/workflows/sweep.md): 1 an error, 2 a usage error (an unknown name or setting, a
missing input, --out naming a file).
"""
from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from archscore.engine.cli import main
from archscore.engine.run.sink import Store
from archscore.engine.workflows.supernet import intact_checkpoint
from tests.conftest import data_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    """Starting Ray is a test failure: these errors must come first."""
    import archscore.engine.run.lifecycle as lifecycle

    def refuse(address):
        raise AssertionError("Ray was started before the user error was reported")

    monkeypatch.setattr(lifecycle, "ensure_ray", refuse)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert not isinstance(result.exception, AssertionError), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _one_line(output: str) -> str:
    return " ".join(output.split())


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "taken.txt"
    path.write_text("not a directory\n")
    return path


def test_out_naming_a_file_is_a_usage_error_in_every_command(a_file, tmp_path):
    search = tmp_path / "search.yaml"
    search.write_text("lr: {choice: [0.05, 0.1]}\n")
    commands = [
        ["sweep", "--space", "nb201", "--estimators", "params", "--sample", "3"],
        ["train", "--space", "nb201", "--sample", "2", "--data", "synthetic"],
        ["supernet", "train", "--space", "nb201", "--data", "synthetic"],
        ["tune", "--space", "nb201", "--data", "synthetic", "--truth", str(a_file), "--search", str(search)],
    ]
    for command in commands:
        for out in (a_file, a_file / "below"):
            code, output = run(*command, "--out", str(out))
            assert code == 2 and str(a_file) in output and "--out names a directory" in _one_line(output), (command, output)


def test_an_unknown_estimator_option_names_the_ones_it_takes(tmp_path):
    code, output = run("sweep", "--space", "nb201", "--estimators", "naswot", "--sample", "2", "--out",
                       str(tmp_path / "o"), "--estimator-option", "naswot.foo=bar")
    assert code == 2 and "estimator 'naswot' has no option 'foo'; its options: relu_modules" in _one_line(output)
    code, output = run("sweep", "--space", "nb201", "--estimators", "params", "--sample", "2", "--out",
                       str(tmp_path / "o"), "--estimator-option", "params.foo=bar")
    assert code == 2 and "it takes no options" in output


@pytest.mark.parametrize("args, message", [
    (["--space", "nb999"], "unknown space 'nb999'"),
    (["--estimators", "nasw0t"], "unknown estimator 'nasw0t'. Did you mean naswot"),
    (["--macro", "Q=3"], "unknown macro setting 'Q'"),
])
def test_unknown_names_are_usage_errors(tmp_path, args, message):
    base = {"--space": "nb201", "--estimators": "params", "--macro": "C=8"}
    base.update(dict(zip(args[::2], args[1::2])))
    flat = [x for kv in base.items() for x in kv]
    code, output = run("sweep", *flat, "--sample", "2", "--out", str(tmp_path / "o"))
    assert code == 2 and message in _one_line(output), output


@pytest.mark.parametrize("command", [
    ["train", "--data", "synthetic", "--sample", "2"],
    ["supernet", "train", "--data", "synthetic"],
    ["tune", "--data", "synthetic", "--search", "SEARCH", "--truth", "TRUTH"],
    ["predictor", "fit", "--truth", "TRUTH"],
])
def test_unknown_names_are_usage_errors_in_every_command(tmp_path, command):
    search, truth = tmp_path / "search.yaml", tmp_path / "truth.csv"
    search.write_text("lr: {choice: [0.05, 0.1]}\n")
    truth.write_text("arch,acc\n")
    command = [{"SEARCH": str(search), "TRUTH": str(truth)}.get(a, a) for a in command]
    code, output = run(*command, "--space", "nb999", "--out", str(tmp_path / "o"))
    assert code == 2 and "unknown space 'nb999'" in _one_line(output), output
    if command[0] in ("train", "supernet"):
        code, output = run(*command, "--space", "nb201", "--macro", "Q=3", "--out", str(tmp_path / "o"))
        assert code == 2 and "unknown macro setting 'Q'" in _one_line(output), output


@pytest.mark.parametrize("command, option", [
    (["sweep", "--space", "nb201", "--estimators", "params", "--input", "MISSING", "--out", "OUT"], "--input"),
    (["train", "--space", "nb201", "--data", "synthetic", "--input", "MISSING", "--out", "OUT"], "--input"),
    (["evaluate", "--results", "MISSING", "--truth", "FILE", "--out", "OUT"], "--results"),
    (["evaluate", "--results", "FILE", "--truth", "MISSING", "--out", "OUT"], "--truth"),
    (["ensemble", "--results", "MISSING", "--preset", "az_nas", "--out", "OUT.parquet"], "--results"),
    (["predictor", "fit", "--space", "nb201", "--truth", "MISSING", "--out", "OUT"], "--truth"),
])
def test_a_missing_input_file_is_a_usage_error_named_once(tmp_path, command, option):
    existing = tmp_path / "file.csv"
    existing.write_text("arch,acc\n")
    missing = tmp_path / "nope.csv"
    names = {"MISSING": str(missing), "FILE": str(existing), "OUT": str(tmp_path / "o"),
             "OUT.parquet": str(tmp_path / "o.parquet")}
    code, output = run(*[names.get(a, a) for a in command])
    assert code == 2 and option in output and "does not exist" in output, output
    assert _one_line(output).count(str(missing)) == 1, output
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.parquet").exists()


def test_supernet_train_malformed_yaml_and_missing_truth(tmp_path):
    bad = tmp_path / "h.yaml"
    bad.write_text("sampling: [uniform\n  lr: 0.1\n")
    code, output = run("supernet", "train", "--space", "nb201", "--data", "synthetic", "--heuristics", str(bad),
                       "--out", str(tmp_path / "run"))
    assert code == 1 and f"--heuristics {bad} is not valid YAML" in _one_line(output)
    for command in (["supernet", "train"], ["tune", "--search", str(bad)]):
        code, output = run(*command, "--space", "nb201", "--data", "synthetic", "--truth", str(tmp_path / "nope"),
                           "--out", str(tmp_path / "run"))
        assert code == 2 and "does not exist" in output and "nope" in output, (command, output)


def test_tune_refuses_an_empty_search_file(tmp_path):
    empty = tmp_path / "search.yaml"
    empty.write_text("# nothing yet\n")
    truth = data_path("nb201", "cifar10_valid_test_3seed.csv")
    code, output = run("tune", "--space", "nb201", "--data", "synthetic", "--truth", str(truth), "--search", str(empty),
                       "--out", str(tmp_path / "t"))
    assert code == 1 and "is empty" in output


def test_a_truncated_msgpack_input_says_so(tmp_path):
    path = tmp_path / "archs.msgpack"
    path.write_bytes(msgpack.packb("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|")[:20])
    code, output = run("sweep", "--space", "nb201", "--estimators", "params", "--input", str(path), "--out",
                       str(tmp_path / "o"))
    assert code == 1 and "msgpack stream is truncated" in output


def test_a_msgpack_input_of_junk_says_what_it_is_not(tmp_path):
    path = tmp_path / "archs.msgpack"
    path.write_bytes(b"\xc1\xc1 not msgpack at all")
    code, output = run("sweep", "--space", "nb201", "--estimators", "params", "--input", str(path), "--out",
                       str(tmp_path / "o"))
    line = _one_line(output)
    assert code == 1 and "not a msgpack stream of architectures (item 1: " in line, output
    assert line.count(str(path)) == 1, output


# -- checkpoints that are not what they claim ----------------------------------------------------
@pytest.fixture(scope="module")
def predictor_dir(tmp_path_factory):
    truth = data_path("nb201", "cifar10_valid_test_3seed.csv")
    out = tmp_path_factory.mktemp("pred") / "p"
    result = CliRunner().invoke(main, ["predictor", "fit", "--space", "nb201", "--truth", str(truth), "--train-size",
                                       "30", "--model", "gbt", "--set", "max_iter=5", "--set", "cv_folds=2",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _sweep_with(tmp_path, estimator: str, checkpoint, space: str = "nb201") -> tuple[int, str]:
    return run("sweep", "--space", space, "--estimators", estimator, "--sample", "2", "--data", "synthetic",
               "--estimator-option", f"{estimator}.checkpoint={checkpoint}", "--out", str(tmp_path / "o"))


def test_junk_and_truncated_checkpoints_are_named(tmp_path, predictor_dir):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a torch file")
    code, output = _sweep_with(tmp_path, "oneshot", junk)
    assert code == 1 and f"{junk} is not a readable supernet checkpoint" in _one_line(output)
    buf = io.BytesIO()
    torch.save({"space": "nb201", "heuristics": {}, "weights": torch.zeros(1000)}, buf)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(buf.getvalue()[:300])
    code, output = _sweep_with(tmp_path, "oneshot", cut)
    assert code == 1 and "not a readable supernet checkpoint (truncated" in _one_line(output)

    truncated = tmp_path / "short" / "predictor.pkl"
    truncated.parent.mkdir()
    truncated.write_bytes((predictor_dir / "predictor.pkl").read_bytes()[:500])
    code, output = _sweep_with(tmp_path, "predictor", truncated.parent)
    assert code == 1 and "is not a readable predictor file (truncated" in _one_line(output)


def test_a_predictor_and_a_supernet_given_for_each_other(tmp_path, predictor_dir):
    code, output = _sweep_with(tmp_path, "oneshot", predictor_dir)
    assert code == 1 and "is a fitted predictor (predictor.pkl), not a supernet" in _one_line(output)
    run_dir = tmp_path / "supernet-run"
    run_dir.mkdir()
    torch.save({"space": "nb201", "heuristics": {}}, run_dir / "checkpoint.pt")
    code, output = _sweep_with(tmp_path, "predictor", run_dir)
    assert code == 1 and "is a supernet run (checkpoint.pt), not a predictor" in _one_line(output)


def test_checkpoints_of_another_space_are_refused_before_ray(tmp_path, predictor_dir):
    code, output = _sweep_with(tmp_path, "predictor", predictor_dir, space="nb101")
    assert code == 1 and "was fitted on 'nb201'; this run scores 'nb101'" in _one_line(output)
    pt = tmp_path / "nb101.pt"
    torch.save({"space": "nb101", "heuristics": {}}, pt)
    code, output = _sweep_with(tmp_path, "oneshot", pt)
    assert code == 1 and f"the checkpoint {pt} holds a 'nb101' supernet; this run scores 'nb201'" in _one_line(output)
    assert "--space nb101" in _one_line(output)


@pytest.mark.parametrize("command", [
    ["sweep", "--space", "nb201", "--estimators", "params", "--sample", "2"],
    ["supernet", "train", "--space", "nb201", "--data", "synthetic"],
    ["tune", "--space", "nb201", "--data", "synthetic", "--search", "SEARCH", "--truth", "TRUTH"],
])
def test_a_held_lease_is_reported_before_ray(tmp_path, command):
    search = tmp_path / "search.yaml"
    search.write_text("lr: {choice: [0.05, 0.1]}\n")
    truth = data_path("nb201", "cifar10_valid_test_3seed.csv")
    out = tmp_path / "busy"
    out.mkdir()
    (out / "_lease.json").write_text(json.dumps({"token": "other", "host": os.uname().nodename, "pid": os.getpid(),
                                                 "command": "archscore sweep ...", "started": time.time(),
                                                 "renewed": time.time(), "ttl_s": 60}))
    command = [{"SEARCH": str(search), "TRUTH": str(truth)}.get(a, a) for a in command]
    code, output = run(*command, "--out", str(out))
    assert code == 1 and "is being written by another archscore process" in _one_line(output), output


def test_a_corrupt_latest_checkpoint_falls_back_to_the_last_intact_epoch(tmp_path):
    store = Store(str(tmp_path))
    store.makedirs("checkpoints")
    good = io.BytesIO()
    torch.save({"epoch": 2}, good)
    store.write("checkpoints/epoch-0001.pt", good.getvalue())
    store.write("checkpoints/epoch-0002.pt", good.getvalue())
    store.write("checkpoints/epoch-0003.pt", b"torn")
    store.write("checkpoint.pt", b"torn")
    blob, name = intact_checkpoint(store, str(tmp_path))
    assert name == "checkpoints/epoch-0002.pt" and torch.load(io.BytesIO(blob))["epoch"] == 2
    store.write("checkpoints/epoch-0001.pt", b"torn")
    store.write("checkpoints/epoch-0002.pt", b"torn")
    with pytest.raises(ValueError, match="no checkpoint in .* loads"):
        intact_checkpoint(store, str(tmp_path))
    assert intact_checkpoint(Store(str(tmp_path / "fresh")), "fresh") == (None, None)


# -- evaluate ------------------------------------------------------------------------------------
def results_file(path: Path, config: dict | None = None) -> Path:
    """12 NB201 cells scored by params, in the results schema (with a sweep's run config if given)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from archscore.engine.run.schema import RESULT_SCHEMA, schema_with_config
    from archscore.spaces import get_space

    space = get_space("nb201")
    sample = space.sample(12, np.random.default_rng(0))
    rows = pa.table({"space": ["nb201"] * 12, "arch": [space.to_string(a) for a in sample], "encoding": [None] * 12,
                     "hash": [space.canonical_hash(a) for a in sample], "estimator": ["params"] * 12,
                     "seed": [0] * 12, "score": np.arange(12.0), "status": ["ok"] * 12, "error": [None] * 12,
                     "seconds": [0.0] * 12, "input_index": list(range(12)), "worker": ["w"] * 12,
                     "version": ["test"] * 12}, schema=RESULT_SCHEMA)
    if config is not None:
        rows = rows.cast(schema_with_config(config))
    pq.write_table(rows, path)
    return path


def test_evaluate_with_nothing_matched_is_an_error_and_an_existing_out_is_kept(tmp_path):
    results = results_file(tmp_path / "results.parquet")
    nb101 = data_path("naslib-zc", "zc_nasbench101.json")
    code, output = run("evaluate", "--results", str(results), "--truth", str(nb101), "--out", str(tmp_path / "ev0"))
    assert code == 1 and "N = 0" in output and not (tmp_path / "ev0" / "criteria.parquet").exists()

    truth = data_path("nb201", "cifar10_valid_test_3seed.csv")
    args = ["evaluate", "--results", str(results), "--truth", str(truth), "--bootstrap", "10", "--out", str(tmp_path / "ev")]
    assert run(*args)[0] == 0
    before = (tmp_path / "ev" / "criteria.parquet").read_bytes()
    code, output = run(*args)
    assert code == 1 and "already holds an evaluation" in output and "--overwrite" in output
    assert (tmp_path / "ev" / "criteria.parquet").read_bytes() == before
    assert run(*args, "--overwrite")[0] == 0

    # an evaluation's folder given as results: nothing matches, and the message says what to give
    code, output = run("evaluate", "--results", str(tmp_path / "ev"), "--truth", str(truth), "--out",
                       str(tmp_path / "ev2"))
    assert code == 1 and "N = 0" in output and "not an evaluation's" in _one_line(output), output
    assert not (tmp_path / "ev2" / "criteria.parquet").exists()


def test_evaluate_interrupted_while_reporting_leaves_no_criteria(tmp_path, monkeypatch):
    import archscore.engine.evaluation.report as report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "write_report", interrupted)
    truth = data_path("nb201", "cifar10_valid_test_3seed.csv")
    code, output = run("evaluate", "--results", str(results_file(tmp_path / "r.parquet")), "--truth", str(truth),
                       "--bootstrap", "10", "--out", str(tmp_path / "ev"))
    assert code == 130 and "interrupted; nothing new was written" in output, output
    assert not (tmp_path / "ev" / "criteria.parquet").exists()


def test_the_report_names_the_input_file_a_sweep_read(tmp_path):
    from archscore.engine.run.inputs import FromFile

    archs = tmp_path / "my_archs.txt"
    archs.write_text("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|\n")
    source = FromFile(str(archs), "arch")  # what `sweep --input` records (the driver's run config)
    results = results_file(tmp_path / "r.parquet", {"input": source.describe(), "seeds": [0],
                                                     "info": {"input": source.info()}})
    truth = data_path("nb201", "cifar10_valid_test_3seed.csv")
    code, output = run("evaluate", "--results", str(results), "--truth", str(truth), "--bootstrap", "10",
                       "--out", str(tmp_path / "ev"))
    assert code == 0, output
    html = (tmp_path / "ev" / "report.html").read_text()
    assert f"file {archs}" in html and "(sha256 " in html and "file None" not in html


# -- predictor fit scores what the sweep will ----------------------------------------------------
def test_predictor_fit_leaves_out_and_refuses_architectures_without_zero_shot_scores(tmp_path):
    import pandas as pd

    truth_csv = data_path("nb201", "cifar10_valid_test_3seed.csv")
    table = pd.read_csv(truth_csv).sample(60, random_state=0)
    truth = tmp_path / "truth.csv"
    table[["arch_str", "test-accuracy"]].to_csv(truth, index=False)
    scored = table.head(40)  # the last 20 have no scores (unless one is an isomorphic twin of a scored one)
    names = ["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]
    edges = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))
    keys = []
    for arch in scored.arch_str:  # NASLib's op-tuple keys: a published-scores file is the cheapest scores file
        ops = [[t.split("~")[0] for t in g[1:-1].split("|")] for g in arch.split("+")]
        keys.append(str(tuple(names.index(ops[v - 2][u - 1]) for u, v in edges)))
    zc = tmp_path / "zc_nasbench201.json"
    zc.write_text(json.dumps({"cifar10": {k: {"params": {"score": float(i)}, "flops": {"score": float(-i)},
                                              "val_accuracy": 1.0} for i, k in enumerate(keys)}}))
    train = tmp_path / "train.csv"
    pd.DataFrame({"arch": list(scored.arch_str[:20])}).to_csv(train, index=False)
    code, output = run("predictor", "fit", "--space", "nb201", "--truth", str(truth), "--train", str(train),
                       "--features", f"zse:{zc}", "--set", "max_iter=5", "--out", str(tmp_path / "p"))
    assert code == 0, output
    info = json.loads((tmp_path / "p" / "predictor.json").read_text())
    assert info["n_held_out"] + info["n_held_out_unscored"] == 40
    assert info["n_held_out_unscored"] >= 10 and "left out, as a sweep would refuse them" in _one_line(output)
    pd.DataFrame({"arch": list(table.arch_str[-5:])}).to_csv(train, index=False)
    code, output = run("predictor", "fit", "--space", "nb201", "--truth", str(truth), "--train", str(train),
                       "--features", f"zse:{zc}", "--out", str(tmp_path / "p2"))
    assert code == 1 and "training architectures have no zero-shot scores" in _one_line(output)


def test_the_estimator_listing_is_aligned_and_says_whole_sentences():
    from archscore.estimators import ESTIMATORS

    code, output = run("estimators")
    lines = output.splitlines()
    assert code == 0 and len(lines) == len(ESTIMATORS.names())
    starts = {line.index(" higher is better") if " higher is better" in line else line.index(" lower is better")
              for line in lines}
    assert len(starts) == 1  # the direction column starts at one place, however long a name is
    assert all(line.rstrip().endswith((".", ")")) for line in lines), [x for x in lines if not x.endswith((".", ")"))]


def test_a_predictor_file_has_the_mode_of_every_other_output(predictor_dir):
    umask = os.umask(0)
    os.umask(umask)
    modes = {name: stat.S_IMODE((predictor_dir / name).stat().st_mode) for name in ("predictor.pkl", "predictor.json")}
    assert modes == {"predictor.pkl": 0o666 & ~umask, "predictor.json": 0o666 & ~umask}


# -- Ctrl-C: exit 130 and what is kept, never "Aborted!" or a traceback ---------------------------
def interrupted_cli(patch: str, *args: str) -> tuple[int, str]:
    """Run the CLI in a subprocess in which ``patch`` (module:function, the command's worker) waits
    to be interrupted and starting Ray fails; send Ctrl-C once it waits; its exit code and stderr."""
    import selectors

    module, function = patch.split(":")
    code = "\n".join([
        "import importlib, signal, sys, time",
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # also where the test runner ignores SIGINT",
        "import archscore.engine.run.lifecycle as lifecycle",
        "def no_ray(*a, **k): raise SystemExit('Ray was started')",
        "lifecycle.ensure_ray = no_ray",
        "def waits(*a, **k):",
        "    print('READY', flush=True)",
        "    time.sleep(120)",
        f"setattr(importlib.import_module({module!r}), {function!r}, waits)",
        "from archscore.engine.cli import main",
        f"sys.argv = ['archscore', *{list(args)!r}]",
        "main()",
    ])
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        with selectors.DefaultSelector() as ready:
            ready.register(proc.stdout, selectors.EVENT_READ)
            line = proc.stdout.readline() if ready.select(timeout=120) else ""
        if line.strip() != "READY":
            proc.kill()
            raise AssertionError(f"the command did not reach its worker: {proc.communicate()[1][-3000:]}")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, err


@pytest.mark.parametrize("patch, command, kept", [
    ("archscore.engine.evaluation.files:evaluate_files",
     ["evaluate", "--results", "FILE", "--truth", "FILE", "--out", "OUT"], "nothing new was written to"),
    ("archscore.engine.workflows:fit_predictor",
     ["predictor", "fit", "--space", "nb201", "--truth", "FILE", "--out", "OUT"], "holds no new finished predictor"),
    ("archscore.engine.workflows:train_supernet",
     ["supernet", "train", "--space", "nb201", "--data", "synthetic", "--out", "OUT"],
     "the last whole checkpoint in"),
    ("archscore.engine.evaluation.files:read_results_file",  # a command with no handler of its own
     ["ensemble", "--results", "FILE", "--preset", "az_nas", "--out", "OUT"], "archscore: interrupted"),
])
def test_ctrl_c_exits_130_and_says_what_is_kept(tmp_path, patch, command, kept):
    existing = tmp_path / "file.csv"
    existing.write_text("arch,acc\n")
    args = [{"FILE": str(existing), "OUT": str(tmp_path / "out")}.get(a, a) for a in command]
    code, err = interrupted_cli(patch, *args)
    assert code == 130 and "archscore: interrupted" in err and kept in err, err[-3000:]
    assert "Aborted!" not in err and "Traceback" not in err, err[-3000:]


def test_progress_lines_come_every_10_s_by_default():
    import inspect

    from archscore.engine.run.progress import Progress

    assert inspect.signature(Progress).parameters["every_s"].default == 10.0


def test_the_readme_says_what_the_big_example_costs_and_what_reads_the_output():
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "On a CPU the first command is long" in readme and "about an hour on 2 cores" in readme
    assert "pip install pandas polars duckdb" in readme
