"""Stand-alone training: recipes, determinism, and truth through the sweep into evaluate."""
import numpy as np
import pytest
from click.testing import CliRunner

from archscore.engine import read_results
from archscore.engine.cli import main
from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch, prepare_plan
from archscore.estimators.standalone import RECIPES, STANDALONE_METRICS, TrainingRecipe
from tests.conftest import data_path

TINY = {"C": 4, "N": 1}
ARCHS = np.array([15623, 9876])


def test_recipes_are_validated_value_objects():
    assert RECIPES["nb201"].epochs == 200 and RECIPES["nb201"].nesterov and RECIPES["nb201"].lr == 0.1
    recipe = TrainingRecipe.from_options({"recipe": "nb201", "epochs": "2", "nesterov": "false"})
    assert recipe.epochs == 2 and recipe.nesterov is False and recipe.weight_decay == 5e-4
    for options, message in (({"recipe": "fast"}, "unknown training recipe 'fast'"),
                             ({"epoch": 3}, "unknown training recipe setting 'epoch'"),
                             ({"epochs": "x"}, "epochs='x' is not a int"),
                             ({"data_portion": 2}, "data_portion must be in")):
        with pytest.raises(ValueError, match=message):
            TrainingRecipe.from_options(options)


def test_one_training_feeds_every_metric_and_the_same_seed_gives_the_same_numbers():
    options = {"epochs": 1, "data_portion": 0.5}
    plan, _, _ = prepare_plan(ScoringPlan("nb201", STANDALONE_METRICS, TINY,
                                          {m: options for m in STANDALONE_METRICS}, data="synthetic"))
    runs = [Scorer(plan).score(WorkBatch(0, seed, ARCHS, 0)).to_pylist() for seed in (0, 0, 1)]
    assert all(r["status"] == "ok" for r in runs[0]), runs[0]
    assert [r["score"] for r in runs[0]] == [r["score"] for r in runs[1]]
    assert [r["score"] for r in runs[0]] != [r["score"] for r in runs[2]]
    seconds = {(r["input_index"], r["seconds"]) for r in runs[0]}
    assert len(seconds) == len(ARCHS)  # the three rows of one training carry its wall time


def test_the_recipe_is_recorded_in_normal_form():
    a, _, _ = prepare_plan(ScoringPlan("nb201", ("valid_accuracy",), TINY, {"valid_accuracy": {"epochs": "2"}}))
    b, _, _ = prepare_plan(ScoringPlan("nb201", ("valid_accuracy",), TINY,
                                       {"valid_accuracy": {"recipe": "cpu-low", "epochs": 2}}))
    assert a.estimator_config == b.estimator_config and a.estimator_config["valid_accuracy"]["lr"] == 0.05
    with pytest.raises(ValueError, match="share one training recipe"):
        prepare_plan(ScoringPlan("nb201", ("valid_accuracy", "train_loss"), TINY,
                                 {"valid_accuracy": {"epochs": 2}}))


@pytest.mark.slow
def test_train_command_writes_truth_that_evaluate_uses_and_resumes(ray_session, tmp_path):
    fmnist = data_path("fashion-mnist")
    args = ["train", "--space", "nb201", "--sample", "6", "--seed", "2", "--data", f"fashion-mnist:{fmnist}",
            "--macro", "C=4,N=1", "--epochs", "1", "--data-portion", "0.02", "--out", str(tmp_path / "truth"),
            "--no-progress", "--gpus-per-actor", "0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = read_results(tmp_path / "truth")
    assert rows.num_rows == 18 and set(rows.column("status").to_pylist()) == {"ok"}
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "resumed: 18 rows" in again.output
    result = CliRunner().invoke(main, ["sweep", "--space", "nb201", "--estimators", "params,flops", "--sample", "6",
                                       "--seed", "2", "--out", str(tmp_path / "costs"), "--no-progress",
                                       "--gpus-per-actor", "0"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["evaluate", "--results", str(tmp_path / "costs"), "--truth",
                                       str(tmp_path / "truth"), "--metric", "valid_accuracy", "--bootstrap", "10",
                                       "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert "params" in result.output and (tmp_path / "eval" / "report.html").exists()


def test_train_needs_real_options(tmp_path):
    result = CliRunner().invoke(main, ["train", "--space", "nb201", "--sample", "2", "--data", "synthetic",
                                       "--set", "lr=-1", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "lr must be > 0" in result.output
    assert not (tmp_path / "o").exists()


def test_cifar_train_and_test_files_train_with_crop_and_flip(tmp_path):
    """CIFAR-10's binary format end to end: train and test files, the standard augmentation."""
    from tests.test_data import fake_cifar_binary

    fake_cifar_binary(tmp_path, 200, 1, "data_batch_1.bin")
    fake_cifar_binary(tmp_path, 50, 1, "test_batch.bin")
    from archscore.engine.run.data import DataSpec, load_images

    data = load_images(DataSpec.parse(f"cifar10:{tmp_path}"), 10, (3, 32, 32))
    assert data.crop_flip and data.train_x.shape == (200, 32, 32, 3) and data.test_x.shape == (50, 32, 32, 3)
    options = {"epochs": 1, "data_portion": 1.0, "batch_size": 32}
    plan, _, _ = prepare_plan(ScoringPlan("nb201", STANDALONE_METRICS, TINY,
                                          {m: options for m in STANDALONE_METRICS}, data=f"cifar10:{tmp_path}"))
    rows = Scorer(plan).score(WorkBatch(0, 0, ARCHS[:1], 0)).to_pylist()
    assert [r["status"] for r in rows] == ["ok"] * 3, rows
