"""Ground-truth loading, joins by canonical hash, and `archscore evaluate` end to end."""
import base64
import json
import re
from html.parser import HTMLParser

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from scipy import stats

from archscore.engine.cli import main
from archscore.engine.evaluation.evaluate import EvalOptions, evaluate, evaluation_metadata, pick_metric
from archscore.engine.evaluation.report import render
from archscore._core import VERSION
from archscore.engine.run.schema import RESULT_SCHEMA, schema_with_config
from archscore.engine.evaluation.truth import load_naslib, load_truth, metric_columns
from tests.conftest import data_path

NB201_CSV = ("nb201", "cifar10_valid_test_3seed.csv")


@pytest.fixture(scope="module")
def nb201_truth():
    return load_truth(data_path(*NB201_CSV))


def test_nb201_csv_layouts_keep_the_files_metric_names_and_friendly_aliases(nb201_truth):
    t = nb201_truth
    assert t.num_rows == 15625
    # only loss and accuracy columns are metrics, under the file's own names
    assert metric_columns(t) == ["train-loss", "train-accuracy", "valid-loss", "valid-accuracy", "test-loss",
                                 "test-accuracy"]
    assert max(t.column("valid-accuracy").to_pylist()) == pytest.approx(91.607, abs=1e-3)
    assert pick_metric(t, "valid_accuracy") == pick_metric(t, "valid-accuracy") == "valid-accuracy"
    assert pick_metric(t, None) == "test-accuracy"
    with pytest.raises(ValueError) as err:
        pick_metric(t, "accuracy")
    message = str(err.value)
    assert "test-accuracy" in message and "valid-loss" in message
    for not_a_metric in ("index", "sol", "num_classes", "index2", "time", "test_accuracy"):
        assert not_a_metric not in message
    t2 = load_truth(data_path("nb201", "test_acc_200ep_3datasets.csv"))
    assert metric_columns(t2) == ["CIFAR10TestAccuracy200Epochs", "CIFAR100TestAccuracy200Epochs",
                                  "ImageNetTestAccuracy200Epochs"]
    assert max(t2.column(pick_metric(t2, "cifar100_test_accuracy")).to_pylist()) == pytest.approx(73.513, abs=1e-3)
    assert len(set(t2.column("hash").to_pylist())) == 6466


def test_generic_truth_file_and_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("arch,acc\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1.5\n")
    t = load_truth(path, metrics=["acc"])
    assert t.column("acc").to_pylist() == [1.5]
    with pytest.raises(ValueError, match="no metric column"):
        load_truth(path, metrics=["nope"])
    path.write_text("arch,acc\nbad,1\n")
    with pytest.raises(ValueError, match="line 2"):
        load_truth(path)
    bad = tmp_path / "zc_other.json"
    bad.write_text(json.dumps({"cifar10": {"[1, 2, 3]": {"val_accuracy": 1.0}}}))
    with pytest.raises(ValueError, match="is not a NASLib cell of nb201 or nb101"):
        load_naslib(bad)
    with pytest.raises(ValueError, match="no dataset 'cifar100'"):
        load_naslib(data_path("naslib-zc", "zc_nasbench101.json"), "cifar100")


def test_generic_truth_files_metrics_are_float_columns_that_are_not_times(tmp_path):
    path = tmp_path / "t.csv"
    arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    path.write_text(f"id,arch,acc,train_seconds,epochs,loss\n0,{arch},91.5,12.5,200,0.3\n")
    t = load_truth(path)
    assert metric_columns(t) == ["acc", "loss"]  # not the id, the epoch count nor the time
    assert load_truth(path, metrics=["epochs"]).column("epochs").to_pylist() == [200.0]  # asked for: kept


def test_naslib_published_scores_match_scipy():
    """By default each architecture's own accuracy, as NASLib computes it; the class mean on request."""
    path = data_path("naslib-zc", "zc_nasbench201.json")
    truth, results = load_naslib(path)
    ev = evaluate(results, truth, EvalOptions(n_boot=0))
    by_class = evaluate(results, truth, EvalOptions(n_boot=0, truth_by_class=True))
    zc = json.loads(path.read_text())["cifar10"]
    assert ev.n == by_class.n == len(zc)
    for ours, theirs in (("synflow", "synflow"), ("jacob_cov", "jacov"), ("snip", "snip")):
        s = np.array([v[theirs]["score"] for v in zc.values()])
        a = np.array([v["val_accuracy"] for v in zc.values()])
        assert ev.value(ours, "kendall_tau") == pytest.approx(stats.kendalltau(s, a).statistic, abs=1e-12)
        assert ev.value(ours, "spearman") == pytest.approx(stats.spearmanr(s, a).statistic, abs=1e-12)
        assert by_class.value(ours, "kendall_tau") == pytest.approx(
            stats.kendalltau(s, _class_mean(zc, a)).statistic, abs=1e-12)


def test_naslib_nb101_published_scores_match_scipy_on_all_500_raw_cells():
    """NB101's keys are raw matrices (292 classes among 500): each row keeps its own accuracy."""
    path = data_path("naslib-zc", "zc_nasbench101.json")
    truth, results = load_naslib(path)
    assert set(truth.column("space").to_pylist()) == {"nb101"} and truth.num_rows == 500
    assert len(set(truth.column("hash").to_pylist())) == 292
    ev = evaluate(results, truth, EvalOptions(n_boot=0))
    zc = json.loads(path.read_text())["nasbench101"]["cifar10"]
    assert ev.n == 500
    a = np.array([v["val_accuracy"] for v in zc.values()])
    for ours, theirs in (("synflow", "synflow"), ("jacob_cov", "jacov"), ("params", "params"), ("flops", "flops")):
        s = np.array([v[theirs] for v in zc.values()])
        assert ev.value(ours, "kendall_tau") == pytest.approx(stats.kendalltau(s, a).statistic, abs=1e-12)
        assert ev.value(ours, "spearman") == pytest.approx(stats.spearmanr(s, a).statistic, abs=1e-12)


def test_naslib_nb301_published_scores_match_scipy():
    path = data_path("naslib-zc", "zc_nasbench301.json")
    truth, results = load_naslib(path)
    assert set(truth.column("space").to_pylist()) == {"darts"}
    ev = evaluate(results, truth, EvalOptions(n_boot=0))
    zc = json.loads(path.read_text())["cifar10"]
    assert ev.n == len(zc) == 725
    a = np.array([v["val_accuracy"] for v in zc.values()])
    for ours, theirs in (("synflow", "synflow"), ("naswot", "nwot"), ("params", "params")):
        s = np.array([v[theirs]["score"] for v in zc.values()])
        assert ev.value(ours, "kendall_tau") == pytest.approx(stats.kendalltau(s, a).statistic, abs=1e-12)


def _class_mean(zc, acc):
    from archscore.spaces.nb201 import from_naslib_key as naslib_nb201_arch
    from archscore.spaces import get_space

    space = get_space("nb201")
    hashes = [space.canonical_hash(naslib_nb201_arch(k)) for k in zc]
    means = {h: np.mean([a for h2, a in zip(hashes, acc) if h2 == h]) for h in set(hashes)}
    return np.array([means[h] for h in hashes])


def test_unmatched_rows_are_counted_and_repeated_rows_do_not_count_twice():
    truth, results = load_naslib(data_path("naslib-zc", "zc_nasbench201.json"))
    extra = results.filter(pa.compute.equal(results["estimator"], "snip")).slice(0, 2).to_pylist()
    extra[0].update(arch="|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|")  # not in the truth
    results = pa.concat_tables([results, pa.Table.from_pylist(extra, schema=results.schema)])
    ev = evaluate(results, truth, EvalOptions(n_boot=0))
    assert ev.value("snip", "n_unmatched") == 1 and ev.value("snip", "n_rows") == ev.n + 2
    assert ev.value("snip", "n_used") == ev.value("synflow", "n_used") == ev.n == 724
    assert any("repeat" in note for note in ev.notes)


def test_seed_variance_rows():
    truth, results = load_naslib(data_path("naslib-zc", "zc_nasbench201.json"))
    snip = results.filter(pa.compute.equal(results["estimator"], "snip"))
    rows = snip.to_pylist()
    for r in rows:
        r.update(seed=1, score=r["score"] * 1.1 + 0.01)
    noisy = pa.Table.from_pylist(rows, schema=snip.schema)
    ev = evaluate(pa.concat_tables([snip, noisy]), truth, EvalOptions(n_boot=0))
    assert ev.value("snip", "kendall_tau_seed_std", seed=None) == pytest.approx(0.0, abs=1e-12)
    assert ev.value("snip", "score_seed_std_rel", seed=None) > 0


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.external = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        for key in ("href", "src"):
            if key in attrs and re.match(r"https?:", attrs[key] or ""):
                self.external.append(attrs[key])


@pytest.mark.slow
def test_sweep_then_evaluate_end_to_end(ray_session, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "eval"
    result = CliRunner().invoke(main, ["sweep", "--space", "nb201", "--estimators", "params,flops,synflow",
                                       "--sample", "400", "--seed", "0", "--out", str(runs), "--no-progress",
                                       "--gpus-per-actor", "0"])
    assert result.exit_code == 0, result.output
    truth = data_path("nb201", "cifar10_valid_test_3seed.csv")
    result = CliRunner().invoke(main, ["evaluate", "--results", str(runs), "--truth", str(truth),
                                       "--metric", "test_accuracy", "--out", str(out)])
    assert result.exit_code == 0, result.output
    criteria = pq.read_table(out / "criteria.parquet").to_pylist()
    kt = {r["estimator"]: r["value"] for r in criteria if r["criterion"] == "kendall_tau"}
    assert set(kt) == {"params", "flops", "synflow"} and all(0.2 < v < 0.9 for v in kt.values())
    parser = _Images()
    parser.feed((out / "report.html").read_text())
    assert len(parser.images) >= 3 and not parser.external
    for src in parser.images:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


class FakeNatsApi:
    """The two calls archscore makes on a NATS-Bench topology API object."""

    def __init__(self, strings, accs):
        self.strings, self.accs = strings, accs

    def __len__(self):
        return len(self.strings)

    def arch(self, index):
        return self.strings[index]

    def get_more_info(self, index, dataset, hp, is_random):
        assert (dataset, hp, is_random) == ("cifar10", "200", False)
        return {"test-accuracy": self.accs[index]}


def test_nats_bench_api_adapter_and_missing_package():
    from archscore.engine.evaluation.truth import load_nats_bench

    strings = ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
               "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"]
    t = load_nats_bench(FakeNatsApi(strings, [10.0, 93.6]))
    assert t.column("arch").to_pylist() == strings and t.column("test_accuracy").to_pylist() == [10.0, 93.6]
    try:
        import nats_bench  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install nats_bench"):
            load_nats_bench("/no/such/NATS-tss-v1_0-3ffb9-simple")


def test_evaluate_cli_names_a_missing_results_path(tmp_path):
    truth = data_path("nb201", "cifar10_valid_test_3seed.csv")
    result = CliRunner().invoke(main, ["evaluate", "--results", str(tmp_path / "nope"), "--truth", str(truth),
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "does not exist" in result.output


# -- hand-built results tables -------------------------------------------------------------------

def _results(rows, config=None):
    """A results table from (arch, hash, estimator, seed, score, status) tuples."""
    table = {f.name: [] for f in RESULT_SCHEMA}
    for i, (arch, h, name, seed, score, status) in enumerate(rows):
        values = dict(space="nb201", arch=arch, encoding=None, hash=h, estimator=name, seed=seed, score=score,
                      status=status, error=None if status == "ok" else "boom", seconds=0.0, input_index=i,
                      worker="test", version=VERSION)
        for key, value in values.items():
            table[key].append(value)
    return pa.table(table, schema=schema_with_config(config) if config is not None else RESULT_SCHEMA)


def _iso_sample(truth, classes=6, per_class=3):
    """Architectures from `classes` isomorphism classes with at least `per_class` members each."""
    archs, hashes = truth.column("arch").to_pylist(), truth.column("hash").to_pylist()
    members = {}
    for a, h in zip(archs, hashes):
        members.setdefault(h, []).append(a)
    chosen = [h for h in sorted(members) if len(members[h]) >= per_class][:classes]
    return [(a, h) for h in chosen for a in members[h][:per_class]]


def test_cli_metric_by_the_files_own_name_and_the_truth_by_class_option(nb201_truth, tmp_path):
    truth = nb201_truth
    own = dict(zip(truth.column("arch").to_pylist(), truth.column("test-accuracy").to_pylist()))
    sample = _iso_sample(truth)
    rng = np.random.default_rng(0)
    scores = {a: own[a] + rng.normal(0, 3) for a, _ in sample}
    results = tmp_path / "results.parquet"
    pq.write_table(_results([(a, h, "params", 0, scores[a], "ok") for a, h in sample]), results)
    csv = str(data_path(*NB201_CSV))

    def run(out, *flags):
        result = CliRunner().invoke(main, ["evaluate", "--results", str(results), "--truth", csv, "--bootstrap", "0",
                                           "--out", str(tmp_path / out), *flags])
        assert result.exit_code == 0, result.output
        criteria = pq.read_table(tmp_path / out / "criteria.parquet")
        tau = {r["criterion"]: r["value"] for r in criteria.to_pylist()}["kendall_tau"]
        return tau, evaluation_metadata(criteria), (tmp_path / out / "report.html").read_text()

    tau, meta, report = run("own", "--metric", "test-accuracy")
    s = np.array([scores[a] for a, _ in sample])
    assert tau == pytest.approx(stats.kendalltau(s, [own[a] for a, _ in sample]).statistic, abs=1e-12)
    assert meta["metric"] == "test-accuracy" and meta["truth_by_class"] is False
    assert run("alias", "--metric", "test_accuracy")[0] == tau
    class_tau, class_meta, class_report = run("class", "--metric", "test-accuracy", "--truth-by-class")
    class_mean = {h: np.mean([own[a] for a, h2 in sample if h2 == h]) for _, h in sample}
    assert class_tau == pytest.approx(stats.kendalltau(s, [class_mean[h] for _, h in sample]).statistic, abs=1e-12)
    assert class_tau != pytest.approx(tau)
    assert class_meta["truth_by_class"] is True and "isomorphism class" in class_meta["protocol"]["truth"]
    assert "--truth-by-class" in class_report and "--truth-by-class" not in report
    result = CliRunner().invoke(main, ["evaluate", "--results", str(results), "--truth", csv, "--metric", "acc",
                                       "--out", str(tmp_path / "bad")])
    assert result.exit_code != 0 and "test-accuracy" in result.output and "index2" not in result.output


def _failure_case(nb201_truth):
    """Two estimators on 12 archs: `good` ok everywhere, `flaky` with an error (NULL score), a
    nonfinite score, an invalid row and one architecture it never scored."""
    archs = nb201_truth.column("arch").to_pylist()[:12]
    hashes = nb201_truth.column("hash").to_pylist()[:12]
    acc = np.array(nb201_truth.column("test-accuracy").to_pylist()[:12])
    rng = np.random.default_rng(1)
    good, flaky = acc + rng.normal(0, 2, 12), acc + rng.normal(0, 2, 12)
    rows = [(a, h, "good", 0, float(v), "ok") for a, h, v in zip(archs, hashes, good)]
    status = ["ok"] * 12
    status[2], status[5], status[7] = "error", "nonfinite", "invalid"
    for i, (a, h) in enumerate(zip(archs, hashes)):
        if i == 9:
            continue  # never scored
        score = None if status[i] in ("error", "invalid") else float("inf") if status[i] == "nonfinite" else flaky[i]
        rows.append((a, h, "flaky", 0, score, status[i]))
    return rows, acc, good, flaky, [2, 5, 7, 9]


def test_failed_rows_rank_last_tied_by_default(nb201_truth):
    rows, acc, good, flaky, failed = _failure_case(nb201_truth)
    ev = evaluate(_results(rows), nb201_truth, EvalOptions(n_boot=0))
    assert ev.n == 12 and ev.value("flaky", "n_used") == ev.value("good", "n_used") == 12
    assert ev.value("flaky", "n_failed") == 4 and ev.value("flaky", "n_missing") == 1
    assert ev.failures[("flaky", 0)] == {"error": 1, "nonfinite": 1, "invalid": 1, "missing": 1}
    tied_last = flaky.copy()
    tied_last[failed] = flaky.min() - 1  # all failures tied below every real score
    assert ev.value("flaky", "kendall_tau") == pytest.approx(stats.kendalltau(tied_last, acc).statistic)
    assert ev.value("good", "kendall_tau") == pytest.approx(stats.kendalltau(good, acc).statistic)
    meta = evaluation_metadata(ev.criteria)
    assert meta["n"] == 12 and meta["drop_failed"] is False and meta["failures"]["flaky/seed 0"]["missing"] == 1
    assert "ranked last" in meta["protocol"]["failures"]


def test_drop_failed_uses_the_common_subset(nb201_truth, tmp_path):
    rows, acc, good, flaky, failed = _failure_case(nb201_truth)
    ev = evaluate(_results(rows), nb201_truth, EvalOptions(n_boot=0, drop_failed=True))
    keep = [i for i in range(12) if i not in failed]
    assert ev.n == 8 and ev.n_dropped == 4 and ev.value("good", "n_used") == 8
    assert ev.value("flaky", "n_failed") == 4  # still reported
    for name, scores in (("good", good), ("flaky", flaky)):
        assert ev.value(name, "kendall_tau") == pytest.approx(stats.kendalltau(scores[keep], acc[keep]).statistic)
    assert evaluation_metadata(ev.criteria)["drop_failed"] is True
    results = tmp_path / "r.parquet"
    pq.write_table(_results(rows), results)
    result = CliRunner().invoke(main, ["evaluate", "--results", str(results), "--truth", str(data_path(*NB201_CSV)),
                                       "--drop-failed", "--bootstrap", "0", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "N = 8" in result.output and "4 architectures dropped" in result.output
    assert "--drop-failed" in (tmp_path / "o" / "report.html").read_text()


def test_evaluate_out_inside_a_results_location_is_refused(tmp_path):
    runs = tmp_path / "runs"
    (runs / "parts").mkdir(parents=True)
    (runs / "_run.json").write_text("{}")
    truth = str(data_path(*NB201_CSV))
    for out in (runs, runs / "eval", runs / "parts" / "deeper"):
        result = CliRunner().invoke(main, ["evaluate", "--results", str(runs), "--truth", truth, "--out", str(out)])
        assert result.exit_code != 0 and "inside the results location" in result.output, result.output
    assert sorted(p.name for p in runs.rglob("*")) == ["_run.json", "parts"]  # nothing written


def test_report_states_n_seeds_data_macro_and_marks_small_k(nb201_truth):
    archs = nb201_truth.column("arch").to_pylist()[:50]
    hashes = nb201_truth.column("hash").to_pylist()[:50]
    rng = np.random.default_rng(2)
    config = {"space": "nb201", "data": "fashion-mnist:/data/fmnist", "data_batch_size": 32, "macro": {"C": 8},
              "seeds": [0, 1], "input": {"kind": "sample", "n": 50, "seed": 3}}
    rows = [(a, h, "synflow", seed, float(rng.normal()), "ok") for seed in (0, 1) for a, h in zip(archs, hashes)]
    ev = evaluate(_results(rows, config), nb201_truth, EvalOptions(n_boot=0))
    page = render(ev)
    text = re.sub(r"<[^>]+>", " ", page)
    assert "N = 50" in text and "seeds" in text.lower() and "0, 1" in text
    assert "fashion-mnist:/data/fmnist" in text and "C=8" in text and "num_classes=10" in text
    assert "50 architectures sampled with seed 3" in text
    # P@top 5% has K = int(50 * 0.05) = 2: shown with its K and marked as not meaningful
    assert "K = 2 &lt; 5: not meaningful" in page and "K=2" in text and "K=0" in text
    published = render(evaluate(_results(rows[:50]), nb201_truth, EvalOptions(n_boot=0)))
    assert "not recorded" in published


def test_op_count_bias_and_agreement_between_estimators(nb201_truth):
    """Ning et al.'s analyses: a score that counts skips has bias tau 1 with #skip, and two
    estimators (say, two supernet seeds) ranking alike agree at tau 1, opposite at -1."""
    from archscore.engine.evaluation.evaluate import agreement
    from archscore.spaces import get_space

    space = get_space("nb201")
    archs = nb201_truth.column("arch").to_pylist()[:60]
    hashes = nb201_truth.column("hash").to_pylist()[:60]
    skips = space.op_counts([space.parse(a) for a in archs])["skip_connect"]
    noise = np.random.default_rng(0).normal(size=60) * 1e-3
    rows = ([(a, h, "s0", 0, float(k + e), "ok") for a, h, k, e in zip(archs, hashes, skips, noise)]
            + [(a, h, "s1", 0, float(2 * (k + e)), "ok") for a, h, k, e in zip(archs, hashes, skips, noise)]
            + [(a, h, "flipped", 0, float(-(k + e)), "ok") for a, h, k, e in zip(archs, hashes, skips, noise)])
    ev = evaluate(_results(rows), nb201_truth, EvalOptions(n_boot=0))
    assert ev.value("s0", "bias_tau_ops_skip_connect") == pytest.approx(
        stats.kendalltau(skips + noise, skips).statistic)
    assert ev.value("s0", "bias_tau_ops_skip_connect") > 0.8 and ev.value("flipped", "bias_tau_ops_skip_connect") < -0.8
    assert np.isfinite(ev.value("s0", "bias_tau_params"))
    names, m = agreement(ev.points)
    assert names == ["flipped", "s0", "s1"]
    assert m[1, 2] == pytest.approx(1.0) and m[0, 1] == pytest.approx(-1.0) and np.allclose(np.diag(m), 1.0)
    text = re.sub(r"<[^>]+>", " ", render(ev))
    assert "Bias and variance of the estimates" in text and "ops_skip_connect" in text
