"""The predictor's engine path: `archscore predictor fit` from a truth file and a sweep's
zero-shot scores, the fitted predictor scoring through a sweep on CPU actors, and `evaluate`
leaving its training split out."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from archscore.engine import FromFile, SweepConfig, read_results, run_sweep
from archscore.engine.cli import main
from archscore.estimators.predictors import load
from archscore.spaces import get_space
from tests.conftest import data_path

NB201_CSV = ("nb201", "cifar10_valid_test_3seed.csv")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """300 NB201 architectures of the shared truth (a small truth file) and the sweep input."""
    import pandas as pd

    full = pd.read_csv(data_path(*NB201_CSV))
    sub = full.sample(300, random_state=0)
    root = tmp_path_factory.mktemp("pred")
    truth = root / "truth.csv"
    sub[["arch_str", "test-accuracy", "valid-accuracy"]].to_csv(truth, index=False)
    archs = root / "archs.csv"
    pd.DataFrame({"arch": sub.arch_str}).to_csv(archs, index=False)
    return root, truth, archs


@pytest.fixture(scope="module")
def zero_shot(ray_session, labelled):
    """Analytic 'zero-shot' scores of the 250 first architectures (the last 50 have none)."""
    import pandas as pd

    root, _, archs = labelled
    first = root / "first.csv"
    pd.read_csv(archs).head(250).to_csv(first, index=False)
    out = root / "zs"
    run_sweep(SweepConfig("nb201", ["params", "flops"], str(out), FromFile(str(first)), gpus_per_actor=0,
                          progress=False))
    return out


def fit(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["predictor", "fit", "--space", "nb201", *args])
    return result.exit_code, result.output


@pytest.mark.slow
def test_fit_sweep_evaluate(ray_session, labelled, zero_shot, tmp_path):
    import pandas as pd

    root, truth, archs = labelled
    train = tmp_path / "train.csv"
    pd.read_csv(archs).head(250).sample(40, random_state=3).to_csv(train, index=False)  # scored ones: a sweep takes them
    code, out = fit("--truth", str(truth), "--train", str(train), "--seed", "3", "--model", "mlp",
                    "--features", f"encoding,zse:{zero_shot}", "--set", "epochs=20", "--set", "loss=listwise",
                    "--out", str(tmp_path / "pred"))
    assert code == 0, out
    assert "fitted on 40 labelled architectures (test-accuracy)" in out and "held-out architectures" in out
    info = json.loads((tmp_path / "pred" / "predictor.json").read_text())
    assert info["n_train"] == 40 and info["params"]["loss"] == "listwise"
    assert info["n_held_out"] + info["n_held_out_unscored"] == 260 and 0 < info["n_held_out_unscored"] <= 50
    assert "zse(rank: flops,params" in info["features"] and -1 <= info["held_out_kendall_tau"] <= 1
    predictor, meta = load(tmp_path / "pred")
    assert len(meta["train_archs"]) == 40 and meta["version"] == info["version"]

    sweep_out = tmp_path / "scored"
    run_sweep(SweepConfig("nb201", ["predictor", "params"], str(sweep_out), FromFile(str(archs)), gpus_per_actor=0,
                          num_actors=2, estimator_config={"predictor": {"checkpoint": str(tmp_path / "pred")}},
                          progress=False))
    rows = [r for r in read_results(sweep_out).to_pylist() if r["estimator"] == "predictor"]
    assert len(rows) == 300 and len({r["worker"] for r in rows}) >= 1
    space = get_space("nb201")
    ok = [r for r in rows if r["status"] == "ok"]
    bad = [r for r in rows if r["status"] != "ok"]
    scored = {r["hash"] for r in read_results(zero_shot).to_pylist()}
    unknown = [r for r in rows if r["hash"] not in scored]  # joined by class: a twin of a scored arch has scores
    assert 0 < len(unknown) <= 50 and {r["arch"] for r in bad} == {r["arch"] for r in unknown}
    assert all("no zero-shot scores" in r["error"] for r in bad)
    want = predictor.predict([space.parse(r["arch"]) for r in ok])
    assert np.array_equal(np.array([r["score"] for r in ok]), want)  # the sweep scores as the object does

    result = CliRunner().invoke(main, ["evaluate", "--results", str(sweep_out), "--truth", str(truth),
                                       "--out", str(tmp_path / "ev"), "--bootstrap", "5"])
    assert result.exit_code == 0, result.output
    assert "N = 260 architectures" in result.output
    assert "40 truth rows of the 40 architectures the predictor(s) trained on" in result.output
    kept = CliRunner().invoke(main, ["evaluate", "--results", str(sweep_out), "--truth", str(truth),
                                     "--out", str(tmp_path / "ev2"), "--bootstrap", "5", "--keep-training-split"])
    assert kept.exit_code == 0 and "N = 300 architectures" in kept.output


def test_fit_from_a_train_file_with_renas_and_gbt(labelled, tmp_path):
    import pandas as pd

    root, truth, archs = labelled
    train = tmp_path / "train.csv"
    pd.read_csv(archs).head(30).to_csv(train, index=False)
    code, out = fit("--truth", str(truth), "--train", str(train), "--model", "renas", "--features", "renas",
                    "--set", "epochs=3", "--metric", "valid_accuracy", "--out", str(tmp_path / "r"))
    assert code == 0, out
    info = json.loads((tmp_path / "r" / "predictor.json").read_text())
    assert info["n_train"] == 30 and info["metric"] == "valid-accuracy" and info["split"].startswith("--train ")
    train_csv = (tmp_path / "r" / "train.csv").read_text().splitlines()
    assert train_csv[0] == "arch,hash" and len(train_csv) == 31
    code, out = fit("--truth", str(truth), "--train-size", "50", "--model", "gbt", "--out", str(tmp_path / "g"))
    assert code == 0, out


def test_fit_refuses_clearly(labelled, tmp_path):
    _, truth, _ = labelled
    cases = [
        (["--train-size", "10", "--train", str(truth)], "exactly one of --train-size"),
        ([], "exactly one of --train-size"),
        (["--train-size", "300"], "between 2 and 299"),
        (["--train-size", "10", "--set", "bogus=1"], "has no option 'bogus'"),
        (["--train-size", "10", "--set", "max_iter=many"], "expected int"),
        (["--train-size", "10", "--features", f"zse:{tmp_path / 'nothing'}"], "no such sweep output"),
        (["--train-size", "10", "--features", "encoding:x"], "only graf takes an option (graf:VARIANT)"),
        (["--train-size", "10", "--features", "graf:newest"], "variant"),
        (["--train-size", "10", "--model", "rf", "--set", "max_features=2"], "fraction of the features"),
    ]
    for args, message in cases:
        code, out = fit("--truth", str(truth), "--out", str(tmp_path / "p"), *args)
        assert code != 0 and message in out, (args, out)
    assert fit("--truth", str(truth), "--out", str(tmp_path / "p"), "--train-size", "10")[0] == 0
    code, out = fit("--truth", str(truth), "--out", str(tmp_path / "p"), "--train-size", "10")
    assert code != 0 and "already holds a predictor" in out
    assert fit("--truth", str(truth), "--out", str(tmp_path / "p"), "--train-size", "10", "--overwrite")[0] == 0


def test_a_predictor_of_another_space_is_a_run_error(ray_session, labelled, tmp_path):
    from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch

    _, truth, _ = labelled
    assert fit("--truth", str(truth), "--train-size", "10", "--out", str(tmp_path / "p"))[0] == 0
    plan = ScoringPlan("darts", ("predictor",), {}, {"predictor": {"checkpoint": str(tmp_path / "p")}}, batch_size=8)
    sp = get_space("darts")
    with pytest.raises(ValueError, match="fitted on 'nb201'; this run scores 'darts'"):
        Scorer(plan).score(WorkBatch(0, 0, np.array([sp.encode(a) for a in sp.sample(2, np.random.default_rng(0))],
                                                    dtype=object), 0))
    with pytest.raises(ValueError, match="does not exist"):
        from archscore.estimators import get_estimator
        get_estimator("predictor", checkpoint=str(tmp_path / "none"))


@pytest.mark.parametrize("model", ["rf", "gbt"])
def test_inner_cv_defaults_never_see_held_out_labels(labelled, tmp_path, model):
    """Scrambling every held-out label leaves the chosen options and every prediction as they were;
    scrambling training labels changes the search (so the comparison can fail)."""
    import pandas as pd

    _, truth, _ = labelled
    tiny = ["--set", "n_estimators=20"] if model == "rf" else ["--set", "max_iter=20"]
    args = ["--train-size", "40", "--seed", "1", "--model", model, "--features", "graf", *tiny, "--set", "cv_folds=3"]

    def fit_on(table: "pd.DataFrame", name: str) -> tuple[dict, np.ndarray]:
        path = tmp_path / f"{name}.csv"
        table.to_csv(path, index=False)
        code, out = fit("--truth", str(path), *args, "--out", str(tmp_path / name))
        assert code == 0, out
        info = json.loads((tmp_path / name / "predictor.json").read_text())
        predictor, _ = load(tmp_path / name)
        return info, predictor.predict(list(table.arch_str))

    table = pd.read_csv(truth)
    info, pred = fit_on(table, "base")
    assert info["inner_cv"]["folds"] == 3 and set(info["inner_cv"]["chosen"]) and info["params"]["cv_folds"] == 3
    trained = set(pd.read_csv(tmp_path / "base" / "train.csv").arch)
    is_train = table.arch_str.map(lambda a: get_space("nb201").to_string(get_space("nb201").parse(a)) in trained)
    assert is_train.sum() == 40
    rng = np.random.default_rng(0)

    held = table.copy()
    held.loc[~is_train, "test-accuracy"] = rng.permutation(held.loc[~is_train, "test-accuracy"].to_numpy())
    held_info, held_pred = fit_on(held, "held")
    assert held_info["inner_cv"] == info["inner_cv"] and np.array_equal(held_pred, pred)
    assert held_info["held_out_kendall_tau"] != info["held_out_kendall_tau"]

    train = table.copy()
    train.loc[is_train, "test-accuracy"] = rng.permutation(train.loc[is_train, "test-accuracy"].to_numpy())
    train_info, _ = fit_on(train, "train")
    assert train_info["inner_cv"]["taus"] != info["inner_cv"]["taus"]
