"""Zero-label rank aggregation (AZ-NAS's sum of log ranks, TE-NAS's sum of ranks) from scored rows."""
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from archscore.engine.cli import main
from archscore.engine.evaluation.ensemble import Ensemble, ensemble_of, rank_aggregate
from archscore.engine.evaluation.evaluate import EvalOptions, evaluate
from archscore.engine.evaluation.truth import load_naslib
from tests.conftest import data_path


@pytest.fixture(scope="module")
def published():
    return load_naslib(data_path("naslib-zc", "zc_nasbench201.json"))


def _scores(results, name):
    rows = results.filter(pc.equal(results["estimator"], name))
    return dict(zip(rows.column("arch").to_pylist(), rows.column("score").to_pylist()))


def _average_rank(values):
    """Rank from 1 (lowest) to N, ties sharing the mean of their positions, by counting."""
    v = np.asarray(values)
    return np.array([(v < x).sum() + ((v == x).sum() + 1) / 2 for x in v])


@pytest.mark.parametrize("method", ["log_rank", "rank_sum"])
def test_rank_aggregation_restated_by_counting(published, method):
    _, results = published
    members = ("jacob_cov", "synflow", "flops")
    table = rank_aggregate(results, Ensemble("zl", members, method))
    ok = table.filter(pc.equal(table["status"], "ok"))
    got = dict(zip(ok.column("arch").to_pylist(), ok.column("score").to_pylist()))
    archs = sorted(got)
    as_float = lambda v: -np.inf if v is None or not np.isfinite(v) else v  # noqa: E731  (a failure ranks last)
    ranks = [_average_rank([as_float(_scores(results, m)[a]) for a in archs]) for m in members]
    expect = sum(np.log(r / len(archs)) for r in ranks) if method == "log_rank" else sum(ranks)
    np.testing.assert_allclose([got[a] for a in archs], expect, rtol=1e-12)
    meta = ensemble_of(table)
    assert meta["members"] == list(members) and meta["population"] == {"0": len(archs)}
    assert set(table.column("worker").to_pylist()) == {"rank-aggregation"}


def test_dense_ranks_give_ties_one_rank_and_the_next_value_the_next_integer():
    from archscore.engine.evaluation.ensemble import combine_ranks

    got = combine_ranks(np.array([[1.0, 1.0, 5.0, 7.0], [4.0, 3.0, 2.0, 1.0]]), "dense_rank_sum")
    np.testing.assert_array_equal(got, [1 + 4, 1 + 3, 2 + 2, 3 + 1])


def test_failed_member_ranks_last_and_a_missing_one_is_an_error_row(published):
    _, results = published
    rows = results.to_pylist()
    synflow = [r for r in rows if r["estimator"] == "synflow"]
    synflow[0].update(status="error", score=None, error="boom")
    synflow[1].update(status="nonfinite", score=float("-inf"))
    gone = synflow[2]["arch"]
    rows = [r for r in rows if not (r["estimator"] == "synflow" and r["arch"] == gone)]
    results = pa.Table.from_pylist(rows, schema=results.schema)
    table = rank_aggregate(results, Ensemble("zl", ("jacob_cov", "synflow"), "rank_sum"))
    by_arch = {r["arch"]: r for r in table.to_pylist()}
    assert by_arch[gone]["status"] == "error" and "member synflow did not score" in by_arch[gone]["error"]
    n = ensemble_of(table)["population"]["0"]
    assert n == table.num_rows - 1 and ensemble_of(table)["failed_ranked_last"] == {"jacob_cov": 0, "synflow": 2}
    jac = _scores(results, "jacob_cov")
    for failed in synflow[:2]:  # synflow's two failures share ranks 1 and 2: 1.5 each
        a = failed["arch"]
        others = [x for x in by_arch if x != gone]
        expect = 1.5 + _average_rank([jac[x] for x in others])[others.index(a)]
        assert by_arch[a]["status"] == "ok" and by_arch[a]["score"] == pytest.approx(expect)


def test_lower_is_better_member_is_turned_around(published):
    _, results = published
    rows = results.filter(pc.equal(results["estimator"], "synflow")).to_pylist()
    for r in rows:
        r.update(estimator="neg_synflow", score=-r["score"])
    both = pa.concat_tables([results, pa.Table.from_pylist(rows, schema=results.schema)])
    plain = rank_aggregate(both, Ensemble("a", ("jacob_cov", "synflow")))
    flipped = rank_aggregate(both, Ensemble("b", ("jacob_cov", "neg_synflow")), {"neg_synflow": False})
    assert plain.column("score").to_pylist() == flipped.column("score").to_pylist()
    with pytest.raises(ValueError, match="direction of member 'neg_synflow' unknown"):
        rank_aggregate(both, Ensemble("b", ("jacob_cov", "neg_synflow")))


def test_bad_ensembles_are_refused(published):
    _, results = published
    with pytest.raises(ValueError, match="at least two"):
        Ensemble("x", ("synflow",))
    with pytest.raises(ValueError, match="method"):
        Ensemble("x", ("synflow", "snip"), "median")
    with pytest.raises(ValueError, match="no rows of zico"):
        rank_aggregate(results, Ensemble("x", ("synflow", "zico")))


def test_cli_writes_rows_that_evaluate_reads_beside_the_sweep(published, tmp_path):
    truth, results = published
    src = tmp_path / "published.parquet"
    pq.write_table(results, src)
    out = tmp_path / "ens.parquet"
    r = CliRunner().invoke(main, ["ensemble", "--results", str(src), "--members", "jacob_cov,synflow,flops",
                                  "--name", "zl3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "population per seed {'0': " in r.output
    ens = pq.read_table(out)
    ev = evaluate(pa.concat_tables([results, ens.replace_schema_metadata(results.schema.metadata)]), truth,
                  EvalOptions(n_boot=0))
    assert not any("direction of zl3" in n for n in ev.notes)
    assert np.isfinite(ev.value("zl3", "kendall_tau"))
    r = CliRunner().invoke(main, ["evaluate", "--results", str(src), "--results", str(out),
                                  "--truth", data_path("naslib-zc", "zc_nasbench201.json"), "--bootstrap", "0",
                                  "--out", str(tmp_path / "ev")])
    assert r.exit_code == 0, r.output
    assert "zl3" in r.output
    r = CliRunner().invoke(main, ["ensemble", "--results", str(src), "--members", "synflow", "--name", "z",
                                  "--out", str(tmp_path / "e.parquet")])
    assert r.exit_code == 1 and "at least two members" in r.output


def test_cli_takes_members_from_several_results_each_from_one(published, tmp_path):
    _, results = published
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(results.filter(pc.is_in(results["estimator"], pa.array(["jacob_cov", "naswot"]))), a)
    pq.write_table(results.filter(pc.is_in(results["estimator"], pa.array(["synflow", "flops", "naswot"]))), b)
    whole, split = tmp_path / "whole.parquet", tmp_path / "split.parquet"
    members = ["--members", "jacob_cov,synflow,flops", "--name", "zl3"]
    r = CliRunner().invoke(main, ["ensemble", "--results", str(tmp_path / "all.parquet"), *members, "--out", str(whole)])
    assert r.exit_code == 2  # not there
    pq.write_table(results, tmp_path / "all.parquet")
    r = CliRunner().invoke(main, ["ensemble", "--results", str(tmp_path / "all.parquet"), *members, "--out", str(whole)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["ensemble", "--results", str(a), "--results", str(b), *members, "--out", str(split)])
    assert r.exit_code == 0, r.output
    assert _scores(pq.read_table(split), "zl3") == _scores(pq.read_table(whole), "zl3")
    r = CliRunner().invoke(main, ["ensemble", "--results", str(a), "--results", str(b), "--members", "naswot,flops",
                                  "--name", "z", "--out", str(tmp_path / "z.parquet")])
    assert r.exit_code == 1 and f"naswot is in {a} and {b}" in r.output
    r = CliRunner().invoke(main, ["ensemble", "--results", str(a), "--results", str(b), "--members", "naswot,snip",
                                  "--name", "z", "--out", str(tmp_path / "z.parquet")])
    assert r.exit_code == 1 and "no rows of snip in any --results (estimators there: flops, jacob_cov" in r.output
    r = CliRunner().invoke(main, ["ensemble", "--results", str(a), "--results", str(a), *members,
                                  "--out", str(tmp_path / "z.parquet")])
    assert r.exit_code == 1 and "given more than once" in r.output


def test_presets_name_the_published_aggregations():
    from archscore.engine.evaluation.ensemble import preset

    az = preset("az_nas")
    assert az.method == "log_rank" and set(az.members) == {"az_expressivity", "az_progressivity", "az_trainability",
                                                          "az_complexity"}
    assert preset("te_nas").method == "dense_rank_sum"
    with pytest.raises(ValueError, match="unknown ensemble preset"):
        preset("nope")
