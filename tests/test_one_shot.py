"""One-shot estimation: the NB201 supernet, each heuristic switch, exact resume, and OSE scoring
through the sweep into evaluate (tiny: C=4, N=1, a few hundred images, 1-2 epochs)."""
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from archscore.engine import Sample, SweepConfig, read_results, run_sweep
from archscore.engine.cli import main
from archscore.engine.run.data import DataSpec, load_images
from archscore.estimators.one_shot import HEURISTICS_DOC, Heuristics, SupernetTrainer
from archscore.estimators.one_shot.sampling import PathSampler, representatives
from archscore.spaces import get_space
from archscore.spaces.nb201.supernet import op_sets
from tests.conftest import data_path

SPACE = get_space("nb201")
TINY = SPACE.macro(C=4, N=1)
SHAPE = (3, 32, 32)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synthetic():
    return load_images(DataSpec.parse("synthetic"), 10, SHAPE)


def trainer(data, **heuristics):
    h = Heuristics.from_mapping({"epochs": 2, "batch_size": 64, **heuristics})
    return SupernetTrainer(SPACE, TINY, h, data, "synthetic", SHAPE)


# -- the supernet --------------------------------------------------------------------------------

def test_a_subnet_touches_only_its_own_ops():
    net = SPACE.supernet(TINY)
    arch = SPACE.parse("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|skip_connect~2|")
    net(torch.randn(4, *SHAPE), arch.ops).sum().backward()
    used, unused = [], []
    for name, p in net.named_parameters():
        if ".candidates." in name:
            edge_set, op = int(name.split(".candidates.")[1].split(".")[0]), int(name.split(".ops.")[1].split(".")[0])
            (used if arch.ops[edge_set] == op else unused).append(p.grad)
    assert used and all(g is not None for g in used)
    assert unused and all(g is None for g in unused)


def test_ops_on_nodes_share_one_set_per_target_node():
    assert op_sets("edges") == (0, 1, 2, 3, 4, 5)
    sets = op_sets("nodes")  # edges (0,1),(0,2),(1,2),(0,3),(1,3),(2,3)
    assert len(set(sets)) == 5 and sets[4] == sets[5] and len({sets[0], sets[1], sets[3]}) == 3
    edges = sum(p.numel() for p in SPACE.supernet(TINY).parameters())
    nodes = sum(p.numel() for p in SPACE.supernet(TINY, topology="nodes").parameters())
    assert nodes < edges


def test_dynamic_channels_are_refused_on_nb201():
    with pytest.raises(ValueError, match="NB101"):
        SPACE.supernet(TINY, dynamic_channels=True)


# -- heuristics ----------------------------------------------------------------------------------

def test_heuristics_are_validated_and_documented():
    assert set(HEURISTICS_DOC) == set(Heuristics().as_dict())
    h = Heuristics.from_mapping({"sampling": "fairnas", "bn_affine": "false", "cells_per_stage": "1"})
    assert h.sampling == "fairnas" and h.bn_affine is False and h.macro_overrides() == {"N": 1}
    for values, message in (({"samplng": "x"}, "unknown heuristic 'samplng'"),
                            ({"sampling": "greedy"}, "sampling='greedy' must be one of"),
                            ({"lr": "fast"}, "lr='fast' is not a float"),
                            ({"path_dropout": 1.5}, "path_dropout=1.5 must be in")):
        with pytest.raises(ValueError, match=message):
            Heuristics.from_mapping(values)
    listing = CliRunner().invoke(main, ["supernet", "heuristics"]).output
    assert all(f"{key} = " in listing for key in HEURISTICS_DOC)


def test_fairnas_trains_every_op_of_every_edge_once_per_step():
    sampler = PathSampler(SPACE, "fairnas", 1, np.random.default_rng(0))
    for _ in range(5):
        archs = sampler.step()
        assert len(archs) == 5
        for edge in range(6):
            assert sorted(a.ops[edge] for a in archs) == [0, 1, 2, 3, 4]


def test_deiso_draws_canonical_classes_uniformly():
    pool = representatives(SPACE)
    assert len(pool) == 6466 and len({SPACE.canonical_hash(a) for a in pool}) == 6466
    sampler = PathSampler(SPACE, "deiso", 20_000, np.random.default_rng(0))
    hashes = Counter(SPACE.canonical_hash(a) for a in sampler.step())
    # uniform over classes: the all-none class (hundreds of cells) is drawn like any other class
    uniform = Counter(SPACE.canonical_hash(a) for a in PathSampler(SPACE, "uniform", 20_000,
                                                                   np.random.default_rng(0)).step())
    dead = SPACE.canonical_hash(SPACE.decode(0))
    size = sum(SPACE.canonical_hash(a) == dead for a in SPACE.enumerate())  # cells equal to all-none
    assert size > 100
    assert hashes[dead] < 15 and uniform[dead] > 0.5 * 20_000 * size / 15_625


def test_tracked_and_untracked_batch_norm(synthetic):
    x = torch.randn(8, *SHAPE)
    ops = SPACE.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|").ops
    for track in (False, True):
        net = SPACE.supernet(TINY, bn_track_running_stats=track).eval()
        bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert all(m.track_running_stats is track for m in bns)
        with torch.no_grad():
            alone, together = net(x[:1], ops), net(x, ops)[:1]
        # untracked BN normalises with the batch's own statistics, also when scoring
        assert torch.allclose(alone, together, atol=1e-5) is track
    assert all(not m.affine for m in SPACE.supernet(TINY, bn_affine=False).modules()
               if isinstance(m, torch.nn.BatchNorm2d))


def test_recalibration_changes_batch_norm_statistics_only(synthetic):
    t = trainer(synthetic, bn_recalibrate_batches=2, data_portion=0.5)
    t.train_epoch()
    params = {k: v.clone() for k, v in t.model.named_parameters()}
    stats = {k: v.clone() for k, v in t.model.named_buffers() if "running" in k}
    t.scorer(eval_batches=1, batch_size=32).score([SPACE.decode(9876)])
    assert all(torch.equal(params[k], v) for k, v in t.model.named_parameters())
    changed = [k for k, v in t.model.named_buffers() if "running" in k and not torch.equal(stats[k], v)]
    assert changed


def test_path_dropout_acts_in_training_only():
    net = SPACE.supernet(TINY, path_dropout=0.5)
    x, ops = torch.randn(8, *SHAPE), SPACE.decode(9876).ops
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x, ops), net(x, ops))
    net.train()
    torch.manual_seed(0)
    with torch.no_grad():
        a = net(x, ops)
        b = net(x, ops)
    assert not torch.equal(a, b)


# -- training and checkpoints --------------------------------------------------------------------

def test_training_resumes_from_a_checkpoint_exactly(synthetic):
    straight = trainer(synthetic, data_portion=0.5)
    straight.train_epoch()
    straight.train_epoch()
    first = trainer(synthetic, data_portion=0.5)
    first.train_epoch()
    state = first.state()
    resumed = trainer(synthetic, data_portion=0.5)
    resumed.load_state(state)
    resumed.train_epoch()
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
    other = trainer(synthetic, data_portion=0.5, sampling="fairnas")
    with pytest.raises(ValueError, match="heuristics"):
        other.load_state(state)


def test_every_sampling_trains(synthetic):
    """Each registered sampling drives the trainer: its sampler is the one used, an epoch moves
    the weights (fairnas: every conv of every edge, since each round trains every op), the same
    seed gives the same weights, and the samplings differ from each other."""
    from archscore.estimators.one_shot.sampling import SAMPLERS

    weights = {}
    for sampling in SAMPLERS.names():
        t = trainer(synthetic, sampling=sampling, data_portion=0.25, wsbn=True)
        assert type(t.sampler) is SAMPLERS.get(sampling)
        before = {k: v.clone() for k, v in t.model.state_dict().items()}
        metrics = t.train_epoch()
        assert np.isfinite(metrics["train_loss"]) and metrics["epoch"] == 1
        after = t.model.state_dict()
        convs = [k for k in after if ".candidates." in k and after[k].dim() == 4]
        moved = [k for k in convs if not torch.equal(before[k], after[k])]
        assert moved, sampling
        if sampling == "fairnas":
            assert moved == convs
        weights[sampling] = torch.cat([after[k].flatten() for k in convs])
        again = trainer(synthetic, sampling=sampling, data_portion=0.25, wsbn=True)
        again.train_epoch()
        assert torch.equal(torch.cat([again.model.state_dict()[k].flatten() for k in convs]), weights[sampling])
    assert len({w.numpy().tobytes() for w in weights.values()}) == len(weights)  # each sampling trains its own


@pytest.mark.slow
def test_an_interrupted_then_killed_supernet_run_resumes_from_its_checkpoint(tmp_path):
    out = tmp_path / "sn"
    args = [sys.executable, "-m", "archscore.engine.cli", "supernet", "train", "--space", "nb201", "--data",
            f"fashion-mnist:{data_path('fashion-mnist')}", "--epochs", "3", "--macro", "C=4,N=1",
            "--set", "data_portion=0.03,batch_size=64", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    log = tmp_path / "stderr.log"

    def started_until(epoch: int) -> subprocess.Popen:
        with open(log, "w") as stderr:
            proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
        deadline = time.monotonic() + 180
        while not (out / "checkpoints" / f"epoch-{epoch:04d}.pt").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.1)
        return proc

    # Ctrl-C: the epoch in progress is dropped, the last whole checkpoint kept, exit 130
    proc = started_until(1)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    err = log.read_text()
    assert proc.returncode == 130, err[-3000:]
    assert "the epoch in progress is dropped" in err and "last whole checkpoint" in err, err[-3000:]
    assert "committing the finished batches" not in err and "Traceback" not in err, err[-3000:]
    # killed mid-run (its lease left behind): the rerun takes over and continues
    proc = started_until(2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming" in done.stderr and "supernet at epoch 3" in done.stdout
    epochs = read_metrics(out)
    assert epochs == [1, 2, 3]


@pytest.mark.slow
def test_a_supernet_run_is_extended_and_survives_a_corrupt_latest_checkpoint(ray_session, tmp_path, caplog):
    out = tmp_path / "sn"
    base = ["supernet", "train", "--space", "nb201", "--data", f"fashion-mnist:{data_path('fashion-mnist')}",
            "--macro", "C=4,N=1", "--set", "data_portion=0.03,batch_size=64", "--out", str(out)]
    for epochs in (1, 2):  # continuing for more epochs is extending the run
        result = CliRunner().invoke(main, base + ["--epochs", str(epochs)])
        assert result.exit_code == 0 and f"supernet at epoch {epochs}" in result.output, result.output
    assert read_metrics(out) == [1, 2]
    result = CliRunner().invoke(main, base + ["--epochs", "3", "--set", "lr=0.05"])
    assert result.exit_code == 1 and "other settings" in result.output and "heuristics.lr" in result.output
    (out / "checkpoint.pt").write_bytes(b"torn by a full disk")
    with caplog.at_level(logging.INFO, logger="archscore"):
        result = CliRunner().invoke(main, base + ["--epochs", "3"])
    assert result.exit_code == 0 and "supernet at epoch 3" in result.output, result.output
    # it says which checkpoint failed and which one it continued from
    assert "checkpoint.pt does not load" in caplog.text and "(checkpoints/epoch-0002.pt)" in caplog.text, caplog.text
    run_file = (out / "supernet.json").read_bytes()
    result = CliRunner().invoke(main, base + ["--epochs", "2"])  # fewer than reached: nothing to train
    assert result.exit_code == 1 and "has trained 3 epochs already" in result.output, result.output
    assert "checkpoints/epoch-0002.pt" in result.output and (out / "supernet.json").read_bytes() == run_file
    assert read_metrics(out) == [1, 2, 3]


def read_metrics(out):
    import pyarrow.parquet as pq

    return pq.read_table(out / "metrics.parquet").column("epoch").to_pylist()


# -- scoring through the sweep, and evaluate against stand-alone truth ---------------------------

@pytest.mark.slow
def test_oneshot_scores_through_the_sweep_and_evaluates_against_trained_truth(ray_session, tmp_path):
    fmnist = f"fashion-mnist:{data_path('fashion-mnist')}"
    result = CliRunner().invoke(main, [
        "supernet", "train", "--space", "nb201", "--data", fmnist, "--epochs", "1", "--macro", "C=4,N=1",
        "--set", "data_portion=0.03,batch_size=64", "--out", str(tmp_path / "sn")])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, [
        "train", "--space", "nb201", "--sample", "8", "--seed", "4", "--data", fmnist, "--macro", "C=4,N=1",
        "--epochs", "1", "--data-portion", "0.02", "--out", str(tmp_path / "truth"), "--no-progress",
        "--gpus-per-actor", "0"])
    assert result.exit_code == 0, result.output
    options = {"oneshot": {"checkpoint": str(tmp_path / "sn"), "eval_batches": "2", "eval_batch_size": "64"}}
    options["oneshot_loss"] = dict(options["oneshot"])
    for gpus, out in ((0, "ose_cpu"), (1, "ose_gpu")):  # CPU actors, and actors on (logical) GPUs
        run_sweep(SweepConfig("nb201", ["oneshot", "oneshot_loss"], str(tmp_path / out), Sample(8, seed=4),
                              estimator_config=options, data=fmnist, gpus_per_actor=gpus, progress=False))
    cpu, gpu = (read_results(tmp_path / o).sort_by([("input_index", "ascending"), ("estimator", "ascending")])
                for o in ("ose_cpu", "ose_gpu"))
    assert set(cpu.column("status").to_pylist()) == {"ok"} and cpu.num_rows == 16
    assert cpu.column("score").to_pylist() == gpu.column("score").to_pylist()
    assert {w.split("[gpu ")[1][0] for w in gpu.column("worker").to_pylist()} <= {"0", "1"}
    result = CliRunner().invoke(main, ["evaluate", "--results", str(tmp_path / "ose_cpu"), "--truth",
                                       str(tmp_path / "truth"), "--metric", "valid_accuracy", "--bootstrap", "10",
                                       "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert "oneshot" in result.output and "Kendall tau None" not in result.output


def test_oneshot_without_a_checkpoint_fails_before_anything(tmp_path):
    with pytest.raises(ValueError, match="checkpoint"):
        run_sweep(SweepConfig("nb201", ["oneshot"], str(tmp_path / "o"), Sample(4), progress=False))
    with pytest.raises(ValueError, match="does not exist"):
        run_sweep(SweepConfig("nb201", ["oneshot"], str(tmp_path / "o"), Sample(4), progress=False,
                              estimator_config={"oneshot": {"checkpoint": str(tmp_path / "nothing")}}))
    assert not (tmp_path / "o").exists()


def test_checkpoints_of_two_epochs_score_as_named_estimators(synthetic, tmp_path):
    from archscore.engine.evaluation.evaluate import EvalOptions, evaluate
    from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch, prepare_plan
    from archscore.engine.evaluation.truth import truth_table

    t = trainer(synthetic, data_portion=0.5)
    paths = {}
    for epoch in (1, 2):
        t.train_epoch()
        paths[epoch] = tmp_path / f"epoch-{epoch}.pt"
        torch.save(t.state(), paths[epoch])
    opts = {f"oneshot@e{e}": {"checkpoint": str(p), "eval_batches": 1, "eval_batch_size": 32} for e, p in paths.items()}
    opts["oneshot_loss@e2"] = dict(opts["oneshot@e2"])
    plan, _, _ = prepare_plan(ScoringPlan("nb201", tuple(opts), {"C": 4, "N": 1}, opts, data="synthetic"))
    scorer = Scorer(plan)
    assert len(scorer.groups) == 2  # one loaded supernet per checkpoint
    archs = SPACE.sample(12, np.random.default_rng(1))
    rows = scorer.score(WorkBatch(0, 0, np.array([SPACE.encode(a) for a in archs]), 0))
    assert set(rows.column("estimator").to_pylist()) == set(opts) and set(rows.column("status").to_pylist()) == {"ok"}
    truth = truth_table(SPACE, archs, {"acc": np.arange(12.0)})
    ev = evaluate(rows, truth, EvalOptions(metric="acc", n_boot=5))
    assert {p.estimator for p in ev.points} == set(opts)
    assert not any("direction" in note for note in ev.notes)  # oneshot_loss@e2 is lower-is-better, known


def test_pbt_continues_under_mutated_hyperparameters_only(synthetic):
    donor = trainer(synthetic, data_portion=0.25, lr=0.1, momentum=0.9)
    donor.train_epoch()
    state = donor.state()
    mutated = trainer(synthetic, data_portion=0.25, lr=0.02, momentum=0.5, weight_decay=1e-3, sampling="deiso")
    mutated.load_state(state, may_differ=("lr", "momentum", "weight_decay", "sampling"))
    for (k, a), b in zip(donor.model.state_dict().items(), mutated.model.state_dict().values()):
        assert torch.equal(a, b), k  # the donor's weights...
    group = mutated.optimizer.param_groups[0]
    assert (group["momentum"], group["weight_decay"]) == (0.5, 1e-3)  # ...under this trial's hyperparameters
    assert mutated.epoch == 1 and mutated.schedule(0) == pytest.approx(0.02)
    shaped = trainer(synthetic, data_portion=0.25, lr=0.02, bn_track_running_stats=True)
    with pytest.raises(ValueError, match="heuristics.bn_track_running_stats"):
        shaped.load_state(state, may_differ=("lr",))


def test_weight_decay_reaches_ops_a_step_did_not_train_as_the_reference_does(synthetic):
    """nas-landmarkreg zeroes gradients in place (torch 1.6's zero_grad): once an op has been
    trained, every later step decays it (and moves it by momentum) even when it is not sampled.
    ``grad_to_none`` leaves it alone in those steps; an op never sampled moves in neither."""
    conv3 = SPACE.decode(sum(3 * 5 ** e for e in range(6)))  # every edge conv3x3
    conv1 = SPACE.decode(sum(2 * 5 ** e for e in range(6)))  # every edge conv1x1
    assert set(conv3.ops) == {3} and set(conv1.ops) == {2}
    for to_none in (False, True):
        t = trainer(synthetic, grad_to_none=to_none, batch_size=16)
        plan = iter([[conv3]] + [[conv1]] * 1000)
        t.sampler.step = lambda: next(plan)  # step 1 trains the 3x3 convs, every later step the 1x1s
        name = next(k for k in t.model.state_dict() if ".candidates.0.ops.3." in k and k.endswith("weight")
                    and t.model.state_dict()[k].dim() == 4)
        param = dict(t.model.named_parameters())[name]
        snapshots, step = [], t.optimizer.step

        def recording_step(*args, **kwargs):
            out = step(*args, **kwargs)
            snapshots.append(param.detach().clone())
            return out

        t.optimizer.step = recording_step
        initial = param.detach().clone()
        t.train_epoch()
        assert len(snapshots) >= 3 and not torch.equal(snapshots[0], initial)  # trained in step 1
        later_moved = [not torch.equal(a, b) for a, b in zip(snapshots, snapshots[1:])]
        assert all(later_moved) if not to_none else not any(later_moved), to_none
    assert Heuristics().grad_to_none is False and "nas-landmarkreg" in HEURISTICS_DOC["grad_to_none"][1]


def test_the_cosine_schedule_ends_at_its_floor():
    from archscore.estimators.training import Schedule

    s = Schedule(0.025, "cosine", epochs=4, steps_per_epoch=10, lr_min=0.001)
    assert s(0) == pytest.approx(0.025) and s(40) == pytest.approx(0.001) and s(20) == pytest.approx(0.013)
    assert Schedule(0.1, "cosine", 2, 5)(10) == pytest.approx(0.0)  # the stand-alone recipes' floor stays 0
    with pytest.raises(ValueError, match="lr_min"):
        Heuristics(lr_min=-0.001)


@pytest.mark.slow
def test_supernet_training_writes_the_bias_of_its_scores_each_epoch(ray_session, tmp_path):
    """With --truth, every epoch's metrics hold Kendall tau of the subnet scores with params,
    FLOPs and each op's count (Ning et al.'s bias analysis), beside tau with the truth."""
    from archscore.engine.evaluation import criteria as C
    from archscore.engine.workflows import SupernetConfig, train_supernet
    from archscore.engine.workflows.supernet import bias_covariates

    archs = SPACE.sample(12, np.random.default_rng(3))
    params = SPACE.costs_many(archs, TINY)[0]
    truth = tmp_path / "truth.csv"
    truth.write_text("arch,accuracy\n" + "".join(f"{SPACE.to_string(a)},{p / 1e3}\n" for a, p in zip(archs, params)))
    table = train_supernet(SupernetConfig(space="nb201", data=f"fashion-mnist:{data_path('fashion-mnist')}",
                                          out=str(tmp_path / "sn"), macro={"C": 4, "N": 1},
                                          heuristics=Heuristics(epochs=2, batch_size=64, data_portion=0.03),
                                          truth=str(truth), metric="accuracy", truth_archs=12, eval_batches=2,
                                          eval_batch_size=64))
    rows = table.to_pylist()
    ops = [f"bias_tau_ops_{op}" for op in ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")]
    assert [r["epoch"] for r in rows] == [1, 2]
    for r in rows:
        assert all(-1 <= r[k] <= 1 for k in ["bias_tau_params", "bias_tau_flops", *ops]), r
        assert r["bias_tau_params"] == pytest.approx(r["kendall_tau"])  # the truth here is params itself
        assert len(r["truth_scores"]) == 12
    assert np.isnan(rows[0]["tau_previous_epoch"])  # the variance across epochs: none before the first
    assert rows[1]["tau_previous_epoch"] == pytest.approx(
        C.kendall_tau(np.array(rows[1]["truth_scores"]), np.array(rows[0]["truth_scores"])))
    covariates = bias_covariates("nb201", [SPACE.to_string(a) for a in archs], TINY.as_dict())
    assert np.array_equal(covariates["params"], params) and set(covariates) == {"params", "flops", *[o[9:] for o in ops]}
    assert C.bias_criteria(params, {"x": params})["bias_tau_x"] == pytest.approx(1.0)


def test_metrics_of_a_resumed_run_keep_the_columns_later_epochs_add(tmp_path):
    """A run resumed under a version that writes more per-epoch columns keeps them (older rows
    null), and the epoch-to-epoch tau skips cells without a finite score."""
    from archscore.engine.run.sink import Store
    from archscore.engine.workflows.supernet import read_metrics, tau_with_previous, write_metrics

    store = Store(str(tmp_path))
    write_metrics(store, [{"epoch": 1, "kendall_tau": 0.1}, {"epoch": 2, "kendall_tau": 0.2, "truth_scores": [1.0, 2.0]}])
    rows = read_metrics(store)
    assert rows[0]["truth_scores"] is None and rows[1]["truth_scores"] == [1.0, 2.0]
    assert tau_with_previous(np.array([1.0, 2.0, 3.0]), [1.0, float("nan"), 2.0]) == pytest.approx(1.0)
    assert np.isnan(tau_with_previous(np.array([1.0, 2.0]), None))
    assert np.isnan(tau_with_previous(np.array([1.0, 2.0]), [1.0]))
