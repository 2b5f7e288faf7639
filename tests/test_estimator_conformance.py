"""The checklist every registered estimator must pass (generated from the registry), on tiny
networks (C=4, one cell per stage) and a small synthetic batch."""
import functools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.estimators import ESTIMATORS, get_estimator, list_estimators
from archscore.spaces import get_space, list_spaces

NAMES = list_estimators()
BATCH = 8
TINY = {"C": 4, "N": 1}
NEEDS_SUPERNET = {"oneshot", "oneshot_loss"}
# the cached checkpoints below live here; the folder is removed when the test session ends
SCRATCH = tempfile.TemporaryDirectory(prefix="archscore-conformance-")


@functools.lru_cache(maxsize=None)
def items_for(space: str) -> np.ndarray:
    """The space's own examples (small networks with parameters on live paths), as encodings."""
    sp = get_space(space)
    encodings = [sp.encode(a) for a in sp.examples()]
    return np.array(encodings, dtype=object if isinstance(encodings[0], bytes) else None)


def has_supernet(space: str) -> bool:
    return get_space(space).provides("supernet")


CASES = [(space, name) for space in list_spaces() for name in NAMES]


@functools.lru_cache(maxsize=None)
def tiny_supernet(space_name: str = "nb201") -> str:
    """A tiny supernet of ``space_name`` (C=4, N=1 where the space has them; NDS capped at depth 2,
    width 32) trained one epoch on synthetic data (for the stateful estimators)."""
    from archscore.engine.run.data import DataSpec, load_images
    from archscore.estimators.one_shot import Heuristics, SupernetTrainer

    space = get_space(space_name)
    known = space.macro().as_dict()
    tiny = {**TINY, "max_depth": 2, "max_width": 32}  # NDS: a supernet over the small corner of the grid
    trainer = SupernetTrainer(space, space.macro(**{k: v for k, v in tiny.items() if k in known}),
                              Heuristics(epochs=1, batch_size=64),
                              load_images(DataSpec.parse("synthetic"), 10, (3, 32, 32)), "synthetic", (3, 32, 32))
    trainer.train_epoch()
    path = Path(tempfile.mkdtemp(prefix="supernet-", dir=SCRATCH.name)) / "checkpoint.pt"
    torch.save(trainer.state(), path)
    return str(path)


@functools.lru_cache(maxsize=None)
def tiny_predictor(space_name: str = "nb201") -> str:
    """Gradient-boosted trees on ``space_name``'s encoding, fitted to the conformance architectures' params."""
    from archscore.estimators.predictors import PREDICTORS

    space = get_space(space_name)
    archs = [space.decode(e) for e in items_for(space_name)]
    y = [space.params(a, space.macro()) for a in archs]
    path = Path(tempfile.mkdtemp(prefix="predictor-", dir=SCRATCH.name))
    PREDICTORS.get("gbt")(space=space_name, max_iter=5).fit(archs, y).save(path)
    return str(path)


def options_for(names, space="nb201"):
    """What each registered estimator needs to be built (a checkpoint for the stateful ones)."""
    options = {n: {"checkpoint": tiny_supernet(space), "eval_batches": 1, "eval_batch_size": 16}
               for n in names if n in NEEDS_SUPERNET}
    if "predictor" in names:
        options["predictor"] = {"checkpoint": tiny_predictor(space)}
    if "swap" in names:
        options["swap"] = {"samples": BATCH}  # the authors' 16 would double every proxy's batch here
    return options


def score(names, items=None, seed=0, batch_size=None, macro=TINY, data="synthetic", space="nb201"):
    """Rows of ``names`` on ``items``, a batch of ``BATCH`` images unless told."""
    items = items_for(space) if items is None else items
    batch_size = BATCH if batch_size is None else batch_size
    known = get_space(space).macro().as_dict()
    macro = {k: v for k, v in macro.items() if k in known}  # tiny where the space has C and N
    scorer = Scorer(ScoringPlan(space, tuple(names), dict(macro), options_for(names, space), data=data,
                                batch_size=batch_size))
    return scorer, scorer.score(WorkBatch(0, seed, items, 0)).to_pylist()


def runs_on(space, name):
    """Skip an estimator that needs a supernet on a space without one (refusing it is tested below)."""
    if name in NEEDS_SUPERNET and not has_supernet(space):
        pytest.skip(f"{space} has no supernet; OneShotGroup.setup refuses it")


@pytest.fixture(scope="module")
def fused_rows():
    """Every estimator fused, per space (those that need a supernet only where the space has one)."""
    cache = {}

    def rows(space):
        if space not in cache:
            names = [n for n in NAMES if n not in NEEDS_SUPERNET or has_supernet(space)]
            cache[space] = score(names, space=space)[1]
        return cache[space]
    return rows


@pytest.mark.parametrize("name", NAMES)
def test_declares_direction_and_doc(name):
    cls = ESTIMATORS.get(name)
    assert isinstance(cls.higher_is_better, bool) and cls.__doc__


_ALONE: dict = {}


def alone(space, name):
    """The estimator's rows scored on its own (seed 0), computed once per (space, estimator)."""
    if (space, name) not in _ALONE:
        _ALONE[space, name] = score([name], space=space)[1]
    return _ALONE[space, name]


@pytest.mark.parametrize("space, name", CASES)
def test_finite_float_per_architecture(space, name):
    runs_on(space, name)
    rows = alone(space, name)
    assert len(rows) == len(items_for(space))
    for r in rows:
        assert r["status"] == "ok", r["error"]
        assert isinstance(r["score"], float) and np.isfinite(r["score"])


@pytest.mark.parametrize("space, name", CASES)
def test_independent_of_what_it_is_fused_with(space, name, fused_rows):
    runs_on(space, name)
    fused = [r["score"] for r in fused_rows(space) if r["estimator"] == name]
    assert [r["score"] for r in alone(space, name)] == fused


@pytest.mark.parametrize("space, name", CASES)
def test_seed_matters_only_through_the_seed(space, name):
    """A scorer that scored another seed first gives a seed's scores unchanged: no state leaks
    from one seed (or batch) to the next; the seed alone decides."""
    runs_on(space, name)
    fresh = [r["score"] for r in alone(space, name)]
    scorer, _ = score([name], seed=1, space=space)
    again = [r["score"] for r in scorer.score(WorkBatch(1, 0, items_for(space), 0)).to_pylist()]
    assert again == fresh


@pytest.mark.parametrize("space", [s for s in list_spaces() if s != "nb201"])
def test_supernet_estimators_refuse_another_spaces_checkpoint(space):
    """A run error before anything is scored, naming both spaces."""
    known = get_space(space).macro().as_dict()
    plan = ScoringPlan(space, ("oneshot",), {k: v for k, v in TINY.items() if k in known},
                       {"oneshot": {"checkpoint": tiny_supernet("nb201")}}, data="synthetic", batch_size=8)
    with pytest.raises(ValueError, match=f"holds a 'nb201' supernet; this run scores '{space}'"):
        Scorer(plan).score(WorkBatch(0, 0, items_for(space), 0))


@pytest.mark.parametrize("name", NAMES)
def test_data_batch_is_not_mutated(name):
    scorer, _ = score([name])
    if scorer.ctx.data is None:
        pytest.skip(f"{name} reads no data")
    x, y = scorer.ctx.data(0)
    x0, y0 = x.clone(), y.clone()
    scorer.score(WorkBatch(1, 0, items_for("nb201"), 0))
    assert torch.equal(x, x0) and torch.equal(y, y0) and not x.requires_grad


@pytest.mark.parametrize("name", NAMES)
def test_batch_of_one_is_scored_or_rejected_clearly(name):
    """A data batch of one image: scored, unless the estimator declares it needs more, and then
    every row is an error that says how many it needs."""
    rows = score([name], batch_size=1)[1]
    needs = get_estimator(name, **options_for([name]).get(name, {})).min_batch
    if needs > 1:
        assert all(r["status"] == "error" and f"at least {needs}" in r["error"] for r in rows)
    else:
        assert all(r["status"] == "ok" and np.isfinite(r["score"]) for r in rows), [r["error"] for r in rows]


@pytest.mark.parametrize("space, name", CASES)
def test_two_classes(space, name):
    runs_on(space, name)
    rows = score([name], macro={**TINY, "num_classes": 2}, space=space)[1]
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]


@pytest.mark.slow
def test_bitwise_equal_across_processes():
    code = (
        "import json, numpy as np, torch; torch.set_num_threads(1)\n"
        "from tests.test_estimator_conformance import score, NAMES\n"
        "print(json.dumps([r['score'] for r in score(NAMES)[1]]))\n")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    a, b = (json.loads(r.strip().splitlines()[-1]) for r in runs)
    assert a == b and len(a) == len(NAMES) * len(items_for("nb201"))


def test_degenerate_cell_gives_reasons_and_others_still_score():
    rows = score(["naswot", "jacob_cov", "synflow", "snip"], items=np.array([0, 9876]))[1]
    dead = [r for r in rows if r["input_index"] == 0]
    live = [r for r in rows if r["input_index"] == 1]
    assert all(r["status"] == "ok" for r in live)
    by_name = {r["estimator"]: r for r in dead}
    assert by_name["naswot"]["status"] == "error" and "singular" in by_name["naswot"]["error"]
    assert by_name["jacob_cov"]["status"] == "error" and "constant" in by_name["jacob_cov"]["error"]
    assert by_name["synflow"]["status"] == "nonfinite" and "-inf" in by_name["synflow"]["error"]


def test_a_failing_pass_fails_only_its_readers(monkeypatch):
    import archscore.estimators.zero_shot.suite as suite

    def broken(*args, **kwargs):
        raise RuntimeError("simulated out of memory")

    monkeypatch.setattr(suite, "synflow_pass", broken)
    rows = score(["synflow", "snip"])[1]
    assert all(r["status"] == "ok" for r in rows if r["estimator"] == "snip")
    bad = [r for r in rows if r["estimator"] == "synflow"]
    assert all(r["status"] == "error" and "simulated out of memory" in r["error"] for r in bad)


def test_epe_nas_normalised_variant_above_100_classes():
    from archscore.estimators.zero_shot.epe_nas import epe_score

    rng = np.random.default_rng(0)
    jac = rng.standard_normal((12, 20))
    labels = np.repeat(np.arange(4), 3)
    per_class = [np.sum(np.log(np.abs(np.corrcoef(jac[labels == c])) + 1e-5)) for c in range(4)]
    assert epe_score(jac, labels, 10) == pytest.approx(sum(abs(s) for s in per_class))
    norm = [s / 3 for s in per_class]
    expected = sum(abs(a - b) for a in norm for b in norm) / 4
    assert epe_score(jac, labels, 120) == pytest.approx(expected)
