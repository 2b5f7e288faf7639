"""Same budget, two trainers: archscore's NB201 supernet trainer against the training loop of the
reference (nasws, kcyu2014/nas-landmarkreg a00c361, the code of Yu et al., "How to Train Your
Super-Net"), each ranking the same cells against the same truth; and the seconds per training
step of each on the same batch.

What runs, per seed:

- archscore: ``SupernetTrainer`` (estimators/one_shot/trainer.py) under the default
  ``Heuristics`` (SPOS uniform single path, lr 0.025 cosine to 0.001 per step, momentum 0.9, wd
  5e-4, batch 256, grad clip 5, untracked affine BN, gradients zeroed in place), NB201 C=8 N=1 on
  all of Fashion-MNIST; scored with ``trainer.scorer(eval_batches, 256).score(cells)``.
- nasws: its NB201 SPOS baseline policy ``RandomNASCNNSearchPolicy`` (the policy its factory
  returns for ``--search_space nasbench201 --search_policy spos``), built by its own ``__init__``
  from its own argparse defaults (cnn_search_configs.py) with what the published NB201 run sets
  (bash/exps/validate-landmarkloss.sh) and the budget here. Its own ``initialize_model`` builds
  the supernet (``build_nasbench201_search_model`` -> ``NASBench201NetSearch``), SGD and
  ``CosineAnnealingLR`` (stepped per epoch, as in the reference); its own ``initialize_run`` the
  loss; every epoch runs its ``train_fn`` (``darts_train_model`` with ``sampler =
  policy.random_sampler``, i.e. ``NASBench201SearchSpace.random_sampler`` ->
  ``random_topology``: uniform over the 15,625 cells with numpy's global generator, seeded by its
  ``utils.torch_random_seed``) and ``scheduler.step()``, as ``CNNSearchPolicy.run`` does. Scored
  with its own ``evaluate_normal`` (evaluate_procedure.py; per cell ``change_model_spec`` then
  ``darts_model_validation``: ``model.eval()``, no grad, every batch of the eval queue; with
  untracked BN, and its ``ReLUConvBN`` forcing train mode, BN uses batch statistics, as
  archscore's scorer does).

What is ours on the reference side, and where it differs:

- The data pipeline only. Both trainers see the identical sequence of training batches: the
  reference's train queue is a torch ``DataLoader`` over the batches archscore's trainer draws for
  that seed, reproduced by running archscore's ``batches`` generator on a generator seeded as the
  trainer's (``default_rng([seed, 2])``) and advancing it with archscore's path sampler after
  every batch exactly as ``SupernetTrainer.train_epoch`` does. A CRC of every training batch
  (images and labels) is kept per run and the table says whether the two trainers' agree. The
  eval queue is the scorer's held-out batches (the first ``eval_batches`` x 256 images of the
  validation split, in order), also CRC-checked. Fashion-MNIST is archscore's loader (zero-padded
  to 32x32, grey repeated to 3 channels, normalised; no augmentation) and archscore's split
  (``split(data, 1.0, VALID_FRACTION, seed=0)``: 54,000 train, 6,000 held out; 211 steps an
  epoch at batch 256). The reference is told ``--dataset cifar10`` only for its class count (10).
- What differs per seed is the reference's own: the subnet each step trains (each trainer's own
  sampler and random stream), the weight initialisation (both seed torch with the seed; the
  modules are built in a different order, so the draws differ) and the LR schedule (per-epoch
  cosine vs archscore's per-step cosine; with 10 epochs the reference's last epoch runs at 0.0016,
  archscore's ends at 0.001).
- The reference's per-epoch side work in ``run`` is left out: ``validate_model`` (a no-grad pass
  that does not change the weights but draws from numpy's global generator, shifting the
  sampler's stream), checkpoint saving, tensorboard, and the periodic ``evaluate`` on 200 cells.
- Its search space normally reads NB201's benchmark JSON (the 15,625 cells sorted by accuracy,
  plus their results); the JSON is not used here: the same class is handed the 15,625 cells (its
  own ``CellStructure``s, parsed from the official strings) in archscore's enumeration order. The
  sampler draws a uniform index into that list, so only which cell an index names changes.
- ``optimizer.zero_grad()`` zeroed gradients in place in the torch (1.2-1.5) the reference ran
  on; torch 2 sets them to None, so an op trained once would no longer get weight decay and
  momentum in steps that skip it. ``--ref-zero-grad inplace`` (default) restores the reference's
  behaviour (archscore's ``grad_to_none=false`` is the same); ``none`` leaves torch 2's.
- ``--topology edges`` (default) builds the reference with ``--supernet_cell_type op_on_edge``;
  the reference's argparse default, which the published NB201 script keeps, is ``op_on_node``
  (archscore's ``topology=nodes``): ``--topology nodes`` compares that.

Published NB201 run (validate-landmarkloss.sh lines 134-149, command lines 189-229; defaults from
cnn_search_configs.py): 400 epochs (150 of them SPOS warm-up before landmark regularisation),
batch 256, SGD lr 0.025 cosine to learning_rate_min 0.001, momentum 0.9, wd 5e-4, grad clip 5,
C=16, 5 cells per stage, 4 nodes, train_portion 0.5, BN affine and untracked, spos,
path_sample_method default (uniform over the space's cells), supernet_cell_type op_on_node.

Seconds per step: fresh trainers (seed 0), one fixed training batch and one fixed sequence of
subnets for both (archscore: its ``train_epoch`` over that batch repeated, its sampler replaced by
the list; nasws: its ``train_fn`` over the same batch repeated, its ``random_topology`` replaced by
the list), ``--time-warmup`` steps each first, then ``--time-steps`` timed, alternating trainers
for ``--time-rounds`` rounds; each trainer's whole step with its own bookkeeping.

Results: one parquet per trainer x seed under ``--results`` (the per-cell accuracy and loss, and
the run in the schema metadata), skipped when present, so a rerun resumes:

    REF=/tmp/ref_supernets python -m bench.reference.nb201_train_vs_nasws --epochs 10 --seeds 0,1
    REF=/tmp/ref_supernets python -m bench.reference.nb201_train_vs_nasws --steps 20 --truth-archs 10 \\
        --eval-batches 1 --results /tmp/smoke   # a smoke run
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from archscore.engine.evaluation import criteria as C
from archscore.engine.evaluation.truth import truth_sample
from archscore.engine.run.data import DataSpec, input_shape_of, load_images
from archscore.estimators.one_shot import Heuristics, SupernetTrainer
from archscore.estimators.one_shot import trainer as trainer_module
from archscore.estimators.one_shot.sampling import PathSampler
from archscore.estimators.one_shot.scoring import VALID_FRACTION
from archscore.estimators.training import batches, split
from archscore.spaces import get_space
from archscore.spaces.nb201.arch import all_archs
from bench.stream import machine

MACRO = {"C": 8, "N": 1}
TRAINERS = ("archscore", "nasws")
CELL_TYPE = {"edges": "op_on_edge", "nodes": "op_on_node"}


def crc(digest: int, x: torch.Tensor, y: torch.Tensor) -> int:
    return zlib.crc32(y.numpy().tobytes(), zlib.crc32(np.ascontiguousarray(x.numpy()).tobytes(), digest))


class Setup:
    """What both trainers share: the space, macro, data, split, truth cells and eval batches."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.space = get_space("nb201")
        self.macro = self.space.macro(**MACRO)
        self.shape = input_shape_of(self.macro)
        self.data_spec = DataSpec.parse(f"fashion-mnist:{Path(args.fmnist).resolve()}")
        self.data = load_images(self.data_spec, 10, self.shape)
        self.split = split(self.data, 1.0, VALID_FRACTION, seed=0)
        self.steps_per_epoch = -(-len(self.split.train) // 256)
        if args.steps:
            self.epochs, self.steps = -(-args.steps // self.steps_per_epoch), args.steps
        else:
            self.epochs, self.steps = args.epochs, args.epochs * self.steps_per_epoch
        names, self.truth, self.metric = truth_sample(str(Path(args.truth).resolve()), "nb201", "test-accuracy",
                                                      args.truth_archs)
        self.cells = [self.space.parse(a) for a in names]
        self.names = names
        valid = self.split.valid[: args.eval_batches * 256]  # as SubnetScorer builds its batches
        self.eval_batches = list(batches(self.data, self.data.train_x[valid], self.data.train_y[valid], 256, self.shape))
        self.topology = args.topology

    def heuristics(self, seed: int) -> Heuristics:
        return Heuristics.from_mapping({"epochs": self.epochs, "seed": seed, "topology": self.topology}).for_space(self.space)


class Tap:
    """Stands in for ``batches`` in archscore's trainer module: yields what archscore's own
    ``batches`` yields, CRCs each batch, and ends the epoch once the step budget is spent (before
    drawing the next batch). ``fixed``: instead, that one batch ``fixed[1]`` times (timing)."""

    def __init__(self, budget: int, fixed: tuple | None = None) -> None:
        self.left, self.digest, self.fixed = budget, 0, fixed

    def __call__(self, *a, **k):
        if self.fixed is not None:
            for _ in range(self.fixed[1]):
                yield self.fixed[0]
            return
        yield from budgeted(batches(*a, **k), self)


def budgeted(it, counter):
    """``it``'s batches while ``counter.left`` steps remain, each one counted and added to
    ``counter.digest`` (the CRC both trainers' batch sequences are compared by). The budget is
    checked before the next batch is drawn, so a spent budget draws nothing more from the stream."""
    while counter.left > 0:
        try:
            x, y = next(it)
        except StopIteration:
            return
        counter.left -= 1
        counter.digest = crc(counter.digest, x, y)
        yield x, y


@contextlib.contextmanager
def tapped(tap: Tap):
    saved = trainer_module.batches
    trainer_module.batches = tap
    try:
        yield tap
    finally:
        trainer_module.batches = saved


class ArchscoreOrder(torch.utils.data.IterableDataset):
    """One epoch per iteration: the batches archscore's ``SupernetTrainer`` draws for this seed,
    in its order (see the module docstring), until the step budget is spent."""

    def __init__(self, s: Setup, h: Heuristics) -> None:
        self.s, self.h = s, h
        self.rng = np.random.default_rng([h.seed, 2])  # SupernetTrainer.rng
        self.sampler = PathSampler(s.space, h.sampling, h.archs_per_step, self.rng, s.macro)  # SupernetTrainer.sampler
        self.left, self.digest = s.steps, 0

    def __iter__(self):
        d, train, h = self.s.data, self.s.split.train, self.h
        it = batches(d, d.train_x[train], d.train_y[train], h.batch_size, self.s.shape, self.rng, d.crop_flip)
        for x, y in budgeted(it, self):
            yield x, y
            self.sampler.step()  # the trainer samples its subnets after drawing each batch

    def __len__(self) -> int:
        return self.s.steps_per_epoch


# ---- archscore -----------------------------------------------------------------------------------
def archscore_trainer(s: Setup, seed: int) -> SupernetTrainer:
    return SupernetTrainer(s.space, s.macro, s.heuristics(seed), s.data, s.data_spec.canonical(), s.shape)


def run_archscore(s: Setup, seed: int) -> dict:
    trainer = archscore_trainer(s, seed)
    start, stats = time.perf_counter(), {}
    with tapped(Tap(s.steps)) as tap:
        for _ in range(s.epochs):
            stats = trainer.train_epoch()
    train_s = time.perf_counter() - start
    scorer = trainer.scorer(len(s.eval_batches), 256)
    eval_digest = functools.reduce(lambda d, b: crc(d, *b), scorer._eval, 0)
    start = time.perf_counter()
    acc, loss = scorer.score(s.cells)
    return {"accuracy": acc, "loss": loss, "train_s": train_s, "score_s": time.perf_counter() - start,
            "steps": trainer.step, "batch_digest": tap.digest, "eval_digest": eval_digest,
            "train_loss": stats.get("train_loss", float("nan")), "final_lr": trainer.schedule(max(trainer.step - 1, 0)),
            "params": sum(p.numel() for p in trainer.model.parameters())}


# ---- nasws ---------------------------------------------------------------------------------------
def nasws_args(s: Setup, seed: int, zero_grad: str):
    from bench.reference import load_nasws201_train as L

    ns = L.load()
    h = s.heuristics(seed)
    args = ns.configs.build_default_args(
        # what validate-landmarkloss.sh sets for nasbench201 (baseline: spos, no landmark loss)
        search_space="nasbench201", search_policy="spos", supernet_train_method="spos", num_intermediate_nodes=4,
        batch_size=h.batch_size, learning_rate=h.lr, learning_rate_scheduler="cosine", weight_decay=h.weight_decay,
        optimizer="sgd", bn_type="bn", wsbn_track_stat=h.bn_track_running_stats, wsbn_affine=h.bn_affine,
        # the budget and the low-fidelity macro of this comparison
        epochs=s.epochs, init_channels=s.macro.C, layers=s.macro.N, seed=seed,
        supernet_cell_type=CELL_TYPE[s.topology], dataset="cifar10",  # dataset: its class count only
        tensorboard=False, resume=False, main_path=None)
    # the rest as the reference's defaults, which must be the heuristics archscore uses
    assert (args.learning_rate_min, args.momentum, args.grad_clip) == (h.lr_min, h.momentum, h.grad_clip)
    assert args.path_sample_method == "default" and args.landmark_num_archs == 0 and h.sampling == "uniform"
    assert args.path_dropout_rate == 0 == h.path_dropout and args.global_dropout_rate == 0 and args.label_smooth == 0
    return ns, args


def nasws_policy(s: Setup, seed: int, zero_grad: str, train_loader=None):
    ns, args = nasws_args(s, seed, zero_grad)
    Space = ns.search_space.NASBench201SearchSpace
    specs = [ns.search_space.CellStructure.str2structure(s.space.to_string(a)) for a in all_archs()]

    class Policy(ns.random_policy.RandomNASCNNSearchPolicy):
        def initialize_misc(self, mode=None):  # the reference: experiment dirs, args.json, file logger, tensorboard
            self.writer = None

        def initialize_search_space(self):  # the reference: NASBench201SearchSpace(args) reads NB201's JSON
            space = object.__new__(Space)
            ns.search_space.CNNSearchSpace.__init__(space, self.args)
            space.topology_fn, space.model_fn, space.num_classes = ns.search_space.NasBench201Net, \
                ns.model_search.build_nasbench201_search_model, 10
            space._model_specs, space._hashs = specs, [c.tostr() for c in specs]
            space._ranks, space.landmark_num_archs = list(range(len(specs))), 0
            self.search_space, self.model_fn = space, space.model_fn
            self._change_model_fn = space.change_model_spec

        def load_dataset(self, shuffle_test=False):  # the reference: its CIFAR loaders; here archscore's batches
            self.num_classes = 10
            self._datasets = (train_loader, list(s.eval_batches), list(s.eval_batches))
            return self._datasets

    policy = Policy(args)  # seeds random / numpy / torch with args.seed (utils.torch_random_seed)
    assert all(c.tostr() == s.space.to_string(a) for c, a in zip(specs, all_archs()))  # round trip
    model, optimizer, scheduler = policy.initialize_model(resume=False)
    if zero_grad == "inplace":  # torch < 2's optimizer.zero_grad(), which the reference ran on
        optimizer.zero_grad = functools.partial(optimizer.zero_grad, set_to_none=False)
    train_queue, valid_queue, _, criterion = policy.initialize_run()
    return ns, args, policy, model, optimizer, scheduler, train_queue, valid_queue, criterion


def run_nasws(s: Setup, seed: int, zero_grad: str) -> dict:
    order = ArchscoreOrder(s, s.heuristics(seed))
    loader = torch.utils.data.DataLoader(order, batch_size=None)
    ns, args, policy, model, optimizer, scheduler, train_queue, valid_queue, criterion = \
        nasws_policy(s, seed, zero_grad, loader)
    start, train_obj, lr = time.perf_counter(), float("nan"), float("nan")
    for epoch in range(policy.epoch, args.epochs):  # CNNSearchPolicy.run (cnn_general_search_policies.py:264-269)
        args.current_epoch = epoch
        lr = scheduler.get_last_lr()[0]
        train_acc, train_obj = policy.train_fn(train_queue, valid_queue, model, criterion, optimizer, lr)
        policy.logging_fn(train_acc, train_obj, epoch, 'Train', display_dict={'lr': lr})
        scheduler.step()
    train_s = time.perf_counter() - start
    ids = [a.index for a in s.cells]  # the space's list is archscore's enumeration: index = position
    eval_queue = policy._datasets[2]
    start = time.perf_counter()
    _, result = ns.evaluate.evaluate_normal(policy, policy.parallel_model, {}, ids, eval_queue,
                                            policy.change_model_spec_fn, policy.eval_criterion)
    score_s = time.perf_counter() - start
    return {"accuracy": np.array([result[i][0] for i in ids]), "loss": np.array([result[i][1] for i in ids]),
            "train_s": train_s, "score_s": score_s, "steps": s.steps - order.left, "batch_digest": order.digest,
            "eval_digest": functools.reduce(lambda d, b: crc(d, *b), eval_queue, 0), "train_loss": float(train_obj),
            "final_lr": lr,  # the last epoch's
            "params": sum(p.numel() for p in model.parameters())}


# ---- timing --------------------------------------------------------------------------------------
class FixedSampler:
    def __init__(self, cells: list) -> None:
        self.cells, self.i = cells, 0

    def step(self) -> list:
        self.i += 1
        return [self.cells[(self.i - 1) % len(self.cells)]]


def time_steps(s: Setup, args: argparse.Namespace) -> dict:
    d, train = s.data, s.split.train
    x, y = next(batches(d, d.train_x[train], d.train_y[train], 256, s.shape, np.random.default_rng(0)))
    n = args.time_warmup + args.time_steps
    cells = s.space.sample(n * (args.time_rounds + 1), np.random.default_rng(123))
    trainer = archscore_trainer(s, 0)
    trainer.sampler = FixedSampler(cells)
    ns, ref_args, policy, model, optimizer, _, _, valid_queue, criterion = nasws_policy(s, 0, args.ref_zero_grad)
    ids = iter([a.index for a in cells])
    space = policy.search_space
    space.random_topology = lambda: (lambda i: (i, space.topologies[i]))(next(ids))
    ref_args.current_epoch = 0

    def ours(k: int) -> float:
        with tapped(Tap(k, fixed=((x, y), k))):
            start = time.perf_counter()
            trainer.train_epoch()
            return time.perf_counter() - start

    def theirs(k: int) -> float:
        start = time.perf_counter()
        policy.train_fn([(x, y)] * k, valid_queue, model, criterion, optimizer, 0.025)
        return time.perf_counter() - start

    ours(args.time_warmup), theirs(args.time_warmup)
    rounds = {"archscore": [], "nasws": []}
    for _ in range(args.time_rounds):  # the same cells, in the same order, for both
        rounds["archscore"].append(ours(args.time_steps) / args.time_steps)
        rounds["nasws"].append(theirs(args.time_steps) / args.time_steps)
    return rounds


# ---- results -------------------------------------------------------------------------------------
def result_path(results: Path, trainer: str, s: Setup, seed: int) -> Path:
    return results / f"{trainer}-{s.topology}-{s.steps}steps-s{seed}.parquet"


def to_table(r: dict, s: Setup, trainer: str, seed: int, args: argparse.Namespace) -> pa.Table:
    table = pa.table({"arch": s.names, "truth": s.truth, "accuracy": r["accuracy"], "loss": r["loss"]})
    meta = {"trainer": trainer, "seed": seed, "epochs": s.epochs, "steps": r["steps"], "topology": s.topology,
            "truth_archs": len(s.names), "eval_batches": len(s.eval_batches), "threads": args.threads,
            "ref_zero_grad": args.ref_zero_grad, "machine": machine(), **{k: r[k] for k in
            ("train_s", "score_s", "batch_digest", "eval_digest", "train_loss", "final_lr", "params")}}
    return table.replace_schema_metadata({k.encode(): str(v).encode() for k, v in meta.items()})


def meta(table: pa.Table) -> dict:
    return {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}


def write_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def row(table: pa.Table) -> dict:
    m = meta(table)
    acc, loss, truth = (table.column(c).to_numpy() for c in ("accuracy", "loss", "truth"))
    return {**m, "tau": C.kendall_tau(acc, truth), "tau_loss": C.kendall_tau(-loss, truth), "acc": acc}


def report(tables: dict[tuple[str, int], pa.Table], seeds: list[int]) -> list[str]:
    rows = {k: row(t) for k, t in tables.items()}
    lines = [f"{'trainer':10s} {'seed':>4s} {'steps':>6s} {'train s':>8s} {'s/step':>7s} {'loss':>6s} {'lr end':>7s}"
             f" {'tau':>7s} {'tau(loss)':>9s}  batches"]
    for (trainer, seed), r in sorted(rows.items()):
        other = rows.get(({"archscore": "nasws", "nasws": "archscore"}[trainer], seed))
        same = "-" if other is None else ("same" if (r["batch_digest"], r["eval_digest"]) ==
                                          (other["batch_digest"], other["eval_digest"]) else "DIFFERENT")
        lines.append(f"{trainer:10s} {seed:4d} {int(r['steps']):6d} {float(r['train_s']):8.1f} "
                     f"{float(r['train_s']) / max(int(r['steps']), 1):7.3f} {float(r['train_loss']):6.3f} "
                     f"{float(r['final_lr']):7.4f} {r['tau']:7.3f} {r['tau_loss']:9.3f}  {same}")
    for trainer in TRAINERS:
        taus = np.array([rows[(trainer, s)]["tau"] for s in seeds if (trainer, s) in rows])
        accs = [rows[(trainer, s)]["acc"] for s in seeds if (trainer, s) in rows]
        pair = [C.kendall_tau(a, b) for i, a in enumerate(accs) for b in accs[i + 1:]]
        if len(taus):
            sd = taus.std(ddof=1) if len(taus) > 1 else float("nan")
            lines.append(f"{trainer}: tau mean {taus.mean():.3f}, sd {sd:.3f}, range [{taus.min():.3f}, {taus.max():.3f}]"
                         f" over {len(taus)} seeds; seed-to-seed tau of the scores "
                         + (f"{np.mean(pair):.3f}" if pair else "-"))
    cross = [C.kendall_tau(rows[("archscore", s)]["acc"], rows[("nasws", s)]["acc"])
             for s in seeds if ("archscore", s) in rows and ("nasws", s) in rows]
    if cross:
        lines.append("archscore vs nasws, same seed: tau of the scores " + ", ".join(f"{c:.3f}" for c in cross))
    a = np.array([rows[("archscore", s)]["tau"] for s in seeds if ("archscore", s) in rows])
    b = np.array([rows[("nasws", s)]["tau"] for s in seeds if ("nasws", s) in rows])
    if len(a) > 1 and len(b) > 1:
        spread = max(a.max() - a.min(), b.max() - b.min())
        gap = abs(a.mean() - b.mean())
        lines.append(f"mean tau gap {gap:.3f} vs the larger seed-to-seed range {spread:.3f}: "
                     + ("within" if gap <= spread else "OUTSIDE"))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--steps", type=int, default=0, help="a step budget instead of --epochs (its last epoch cut "
                                                           "short; each schedule is that of the whole epochs)")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--truth-archs", type=int, default=100)
    ap.add_argument("--eval-batches", type=int, default=4, help="held-out batches of 256 per cell")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fmnist", default="../shared/data/fashion-mnist")
    ap.add_argument("--truth", default="../shared/data/nb201/cifar10_valid_test_3seed.csv")
    ap.add_argument("--results", default="bench/results/reference_train")
    ap.add_argument("--trainers", default=",".join(TRAINERS))
    ap.add_argument("--topology", choices=tuple(CELL_TYPE), default="edges")
    ap.add_argument("--ref-zero-grad", choices=("inplace", "none"), default="inplace")
    ap.add_argument("--time-steps", type=int, default=20, help="timed steps per trainer and round (0: no timing)")
    ap.add_argument("--time-warmup", type=int, default=3)
    ap.add_argument("--time-rounds", type=int, default=2)
    ap.add_argument("--verbose", action="store_true", help="the reference's own logging (every 20 steps)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    torch.set_num_threads(args.threads)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    s = Setup(args)
    seeds = [int(x) for x in args.seeds.split(",")]
    print(f"machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"NB201 C={MACRO['C']} N={MACRO['N']} topology={s.topology}, Fashion-MNIST {len(s.split.train)} train / "
          f"{len(s.split.valid)} held out, {s.steps_per_epoch} steps an epoch at 256; budget {s.steps} steps "
          f"({s.epochs} epoch schedule); {len(s.cells)} cells x {len(s.eval_batches)} held-out batches against "
          f"NB201 CIFAR-10 {s.metric} (mean of 3 seeds)", flush=True)
    tables = {}
    for seed in seeds:
        for trainer in args.trainers.split(","):
            path = result_path(results, trainer, s, seed)
            if path.exists():
                table = pq.read_table(path)
                m = meta(table)
                if (int(m["truth_archs"]), int(m["eval_batches"]), m["ref_zero_grad"]) != \
                        (len(s.cells), len(s.eval_batches), args.ref_zero_grad):
                    raise SystemExit(f"{path} was written with other settings ({m}); use another --results")
                print(f"{path.name}: present, skipped", flush=True)
            else:
                r = run_archscore(s, seed) if trainer == "archscore" else run_nasws(s, seed, args.ref_zero_grad)
                table = to_table(r, s, trainer, seed, args)
                write_atomic(table, path)
                print(f"{path.name}: trained {r['steps']} steps in {r['train_s']:.1f} s, scored in {r['score_s']:.1f} s; "
                      f"{r['params']} parameters", flush=True)
            tables[(trainer, seed)] = table
    print("\n".join(report(tables, seeds)))
    if args.time_steps:
        rounds = time_steps(s, args)
        a, b = np.mean(rounds["archscore"]), np.mean(rounds["nasws"])
        print(f"s/step, same batch of 256 and same {args.time_steps} subnets, {torch.get_num_threads()} thread(s), "
              f"{args.time_rounds} alternating rounds after {args.time_warmup} warm-up steps each: "
              f"archscore {a:.4f} ({', '.join(f'{v:.4f}' for v in rounds['archscore'])}), "
              f"nasws {b:.4f} ({', '.join(f'{v:.4f}' for v in rounds['nasws'])}); nasws / archscore = {b / a:.2f}")
        print(f"machine: {machine()}")


if __name__ == "__main__":
    main()
