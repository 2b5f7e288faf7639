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
from archscore.engine.evaluate import EvalOptions, evaluate
from archscore.engine.truth import load_naslib, load_truth
from tests.conftest import data_path


def test_nb201_csv_layouts_load_with_friendly_metric_names():
    t = load_truth(data_path("nb201", "cifar10_valid_test_3seed.csv"))
    assert t.num_rows == 15625 and {"valid_accuracy", "test_accuracy"} <= set(t.column_names)
    assert max(t.column("valid_accuracy").to_pylist()) == pytest.approx(91.607, abs=1e-3)
    t2 = load_truth(data_path("nb201", "test_acc_200ep_3datasets.csv"))
    assert max(t2.column("cifar100_test_accuracy").to_pylist()) == pytest.approx(73.513, abs=1e-3)
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
    with pytest.raises(ValueError, match="only NB201"):
        load_naslib(data_path("naslib-zc", "zc_nasbench301.json"))


def test_naslib_published_scores_match_scipy():
    path = data_path("naslib-zc", "zc_nasbench201.json")
    truth, results = load_naslib(path)
    ev = evaluate(results, truth, EvalOptions(n_boot=0))
    zc = json.loads(path.read_text())["cifar10"]
    for ours, theirs in (("synflow", "synflow"), ("jacob_cov", "jacov"), ("snip", "snip")):
        s = np.array([v[theirs]["score"] for v in zc.values()])
        a = np.array([v["val_accuracy"] for v in zc.values()])
        # NB201 isomorphs share a hash: truth is their class mean, so compare on distinct classes
        assert ev.value(ours, "kendall_tau") == pytest.approx(
            stats.kendalltau(s, _class_mean(zc, a)).statistic, abs=1e-12)
        assert ev.value(ours, "spearman") == pytest.approx(stats.spearmanr(s, _class_mean(zc, a)).statistic, abs=1e-12)


def _class_mean(zc, acc):
    from archscore.engine.truth import naslib_nb201_arch
    from archscore.spaces import get_space

    space = get_space("nb201")
    hashes = [space.canonical_hash(naslib_nb201_arch(k)) for k in zc]
    means = {h: np.mean([a for h2, a in zip(hashes, acc) if h2 == h]) for h in set(hashes)}
    return np.array([means[h] for h in hashes])


def test_unmatched_and_excluded_rows_are_counted():
    truth, results = load_naslib(data_path("naslib-zc", "zc_nasbench201.json"))
    extra = results.slice(0, 3).to_pylist()
    extra[0].update(hash="0000000000000000", estimator="snip")
    extra[1].update(status="error", score=None, estimator="snip")
    extra[2].update(score=float("nan"), status="ok", estimator="snip")
    results = pa.concat_tables([results, pa.Table.from_pylist(extra, schema=results.schema)])
    ev = evaluate(results, truth, EvalOptions(n_boot=0))
    assert ev.value("snip", "n_unmatched") == 1 and ev.value("snip", "n_excluded") == 2
    assert ev.value("snip", "n_used") == ev.value("snip", "n_rows") - 3


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


def test_sweep_then_evaluate_end_to_end(ray_session, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "eval"
    result = CliRunner().invoke(main, ["sweep", "--space", "nb201", "--estimators", "params,flops,synflow",
                                       "--sample", "1000", "--seed", "0", "--out", str(runs), "--no-progress",
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
    from archscore.engine.truth import load_nats_bench

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
