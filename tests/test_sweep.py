"""The main job end to end on the session's local Ray."""
import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from archscore.engine import FromFile, Sample, SweepConfig, read_results, run_sweep
from archscore.engine.cli import main


@pytest.mark.slow
def test_cli_all_writes_one_ok_row_per_arch_and_estimator(ray_session, tmp_path):
    out = tmp_path / "nb201"
    result = CliRunner().invoke(main, ["sweep", "--space", "nb201", "--estimators", "params,flops", "--all",
                                       "--out", str(out), "--no-progress", "--gpus-per-actor", "0"])
    assert result.exit_code == 0, result.output
    rows = read_results(out)
    assert rows.num_rows == 31250
    assert set(rows.column("status").to_pylist()) == {"ok"}
    keys = set(zip(rows.column("arch").to_pylist(), rows.column("estimator").to_pylist(),
                   rows.column("seed").to_pylist()))
    assert len(keys) == 31250
    # rerun: resumes, writes nothing, says so
    again = CliRunner().invoke(main, ["sweep", "--space", "nb201", "--estimators", "params,flops", "--all",
                                      "--out", str(out), "--no-progress", "--gpus-per-actor", "0"])
    assert again.exit_code == 0 and "wrote 0 rows" in again.output and "resumed: 31,250 rows" in again.output
    assert read_results(out).num_rows == 31250


def test_sample_seeds_and_analytic_values(ray_session, tmp_path):
    run_sweep(SweepConfig("nb201", ["params"], str(tmp_path), Sample(100, seed=3), seeds=[0, 1],
                          batch_size=16, gpus_per_actor=0, progress=False))
    rows = read_results(tmp_path).to_pylist()
    assert len(rows) == 200 and {r["seed"] for r in rows} == {0, 1}
    from archscore.spaces import get_space
    space = get_space("nb201")
    for r in rows[:20]:
        arch = space.parse(r["arch"])
        assert r["score"] == space.params(arch, space.macro()) / 1e6
        assert r["hash"] == space.canonical_hash(arch)


def test_bad_lines_become_invalid_rows_and_lose_nothing(ray_session, tmp_path):
    good = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    src = tmp_path / "archs.txt"
    src.write_text(f"{good}\nnot an arch\n\n|bogus~0|+|none~0|none~1|+|none~0|none~1|none~2|\n{good}\n")
    out = tmp_path / "out"
    run_sweep(SweepConfig("nb201", ["params", "flops"], str(out), FromFile(str(src)),
                          gpus_per_actor=0, progress=False))
    rows = read_results(out).sort_by([("input_index", "ascending"), ("estimator", "ascending")]).to_pylist()
    assert [r["status"] for r in rows] == ["ok", "ok", "invalid", "invalid", "invalid", "invalid", "ok", "ok"]
    assert "unknown op 'bogus'" in rows[4]["error"] and rows[4]["arch"].startswith("|bogus")


@pytest.mark.slow
def test_parquet_and_csv_inputs(ray_session, tmp_path):
    pq.write_table(pa.table({"arch": [0, 5, 15624, 99999]}), tmp_path / "in.parquet")
    out = tmp_path / "o1"
    run_sweep(SweepConfig("nb201", ["flops"], str(out), FromFile(str(tmp_path / "in.parquet")),
                          gpus_per_actor=0, progress=False))
    status = read_results(out).sort_by("input_index").column("status").to_pylist()
    assert status == ["ok", "ok", "ok", "invalid"]
    (tmp_path / "in.csv").write_text("arch,acc\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1.0\n")
    run_sweep(SweepConfig("nb201", ["flops"], str(tmp_path / "o2"), FromFile(str(tmp_path / "in.csv")),
                          gpus_per_actor=0, progress=False))
    assert read_results(tmp_path / "o2").column("score").to_pylist() == [pytest.approx(7.807626)]


def test_unknown_names_fail_before_any_work(tmp_path):
    with pytest.raises(KeyError, match="Did you mean params"):
        run_sweep(SweepConfig("nb201", ["parms"], str(tmp_path)))
    result = CliRunner().invoke(main, ["sweep", "--space", "nb201", "--estimators", "params", "--out",
                                       str(tmp_path)])
    assert result.exit_code != 0 and "exactly one of --all" in result.output


def test_list_commands():
    listing = CliRunner().invoke(main, ["spaces"]).output
    for name, size in (("nb201", "15,625"), ("nb101", "423,624"), ("nds_resnet", "1,259,712"),
                       ("nds_resnext_a", "11,390,625"), ("darts", "1.08e+18")):
        assert any(line.startswith(name + " ") and size in line for line in listing.splitlines()), listing
    out = CliRunner().invoke(main, ["estimators"]).output
    assert "params" in out and "higher is better" in out


def test_zero_shot_sweep_on_fashion_mnist_records_the_data_source(ray_session, tmp_path):
    from tests.conftest import data_path

    fmnist = data_path("fashion-mnist")
    result = CliRunner().invoke(main, [
        "sweep", "--space", "nb201", "--estimators", "synflow,naswot,params", "--sample", "4", "--seed", "1",
        "--macro", "C=4,N=1", "--data", f"fashion-mnist:{fmnist}", "--data-batch-size", "16",
        "--out", str(tmp_path), "--no-progress", "--gpus-per-actor", "0"])
    assert result.exit_code == 0, result.output
    rows = read_results(tmp_path)
    assert rows.num_rows == 12 and set(rows.column("status").to_pylist()) == {"ok"}
    config = json.loads((tmp_path / "_run.json").read_text())["config"]
    assert config["data"].startswith("fashion-mnist:") and config["data_batch_size"] == 16


def test_contradicting_class_count_is_refused(tmp_path):
    with pytest.raises(ValueError, match="has 100 classes"):
        run_sweep(SweepConfig("nb201", ["snip"], str(tmp_path), Sample(2), data=f"cifar100:{tmp_path}",
                              macro={"num_classes": 10}, progress=False))


@pytest.mark.slow
def test_msgpack_stream_input_with_limits(ray_session, tmp_path):
    import msgpack

    src = tmp_path / "in.msgpack"
    with open(src, "wb") as fh:
        for item in (0, 15624, 99999, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 3.5, b"\x01"):
            fh.write(msgpack.packb(item))
    run_sweep(SweepConfig("nb201", ["params"], str(tmp_path / "o"), FromFile(str(src)), gpus_per_actor=0,
                          progress=False))
    status = read_results(tmp_path / "o").sort_by("input_index").column("status").to_pylist()
    assert status == ["ok", "ok", "invalid", "ok", "invalid", "invalid"]
    with open(src, "wb") as fh:
        fh.write(msgpack.packb(1))
        fh.write(msgpack.packb(b"x" * (2 << 20)))  # a 2 MiB item: over the limit
    with pytest.raises(ValueError, match="item 2 exceeds the limits of an architecture"):
        run_sweep(SweepConfig("nb201", ["params"], str(tmp_path / "o2"), FromFile(str(src)),
                              gpus_per_actor=0, progress=False))


def test_progress_lines_without_a_terminal(caplog):
    import logging

    from archscore.engine.run.progress import Progress

    with caplog.at_level(logging.INFO, logger="archscore"):
        progress = Progress(1000, "sweep", every_s=0.05)
        progress.update(250)
        deadline = time.monotonic() + 30
        while caplog.text.count("items/s") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # lines keep coming while no batch finishes
        progress.close()
    assert progress.bar is None  # pytest's stderr is not a terminal
    assert "250/1,000 items (25%)" in caplog.text and "items/s" in caplog.text and "ETA" in caplog.text
    assert caplog.text.count("250/1,000 items") >= 3
    quiet = Progress(1000, "sweep", every_s=0.05)
    with caplog.at_level(logging.INFO, logger="archscore"):
        caplog.clear()
        quiet.close()
        time.sleep(0.2)
    assert "items/s" not in caplog.text  # closed: no more lines
