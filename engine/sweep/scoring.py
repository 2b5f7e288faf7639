"""Scoring one batch of work into result rows, with no Ray involved.

The Ray actor (:mod:`archscore.engine.sweep.actors`) wraps a :class:`Scorer`; tests and the overhead benchmark
call it directly. Everything an estimator or a bad input can throw becomes a row with a status
and a message here: nothing is swallowed and nothing stops the batch.
"""
from __future__ import annotations

import importlib
import os
import socket
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import msgpack
import numpy as np
import pyarrow as pa

from archscore._core import VERSION
from archscore.estimators import ScoringContext, get_estimator, groups_of, partition
from archscore.estimators.base import describe_exception
from archscore.spaces import Space, get_space

from archscore.engine.run.data import (BatchCache, DataSpec, DatasetCache, check_training_data, input_shape_of,
                                       macro_for_data, make_batch)
from archscore.engine.run.schema import RESULT_SCHEMA, STATUS_ERROR, STATUS_INVALID, STATUS_NONFINITE, STATUS_OK


@dataclass(frozen=True)
class WorkBatch:
    """A slice of the input stream: items (encodings or strings) scored under one seed."""

    batch_id: int
    seed: int
    items: Any  # np.ndarray of int encodings, or a list of str / int / bytes
    first_index: int  # input_index of items[0]

    def __len__(self) -> int:
        return len(self.items)

    def split(self) -> tuple["WorkBatch", "WorkBatch"]:
        half = len(self.items) // 2
        return (WorkBatch(self.batch_id, self.seed, self.items[:half], self.first_index),
                WorkBatch(self.batch_id, self.seed, self.items[half:], self.first_index + half))


@dataclass(frozen=True)
class ScoringPlan:
    """Everything a worker needs to build its scorer; small and picklable."""

    space: str
    estimators: tuple[str, ...]
    macro: dict[str, Any] = field(default_factory=dict)
    estimator_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: str | None = None  # batch source spec, e.g. "synthetic" or "fashion-mnist:/path"
    batch_size: int = 64     # images per data batch (zero-shot estimators)
    #: modules imported in every worker before building (they register user spaces/estimators)
    plugins: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"space": self.space, "estimators": list(self.estimators), "macro": self.macro,
                "estimator_config": self.estimator_config, "data": self.data,
                "data_batch_size": self.batch_size, "plugins": list(self.plugins)}


_PACKER = msgpack.Packer()  # msgpack-encodes each architecture's compact encoding


def resolve_macro(space: Space, plan: ScoringPlan) -> Any:
    """The plan's macro config (see :func:`~archscore.engine.run.data.macro_for_data`)."""
    return macro_for_data(space, plan.macro, plan.data)


def prepare_plan(plan: ScoringPlan) -> tuple[ScoringPlan, Space, list[Any]]:
    """Validate a plan in the driver and normalise it to what determines the rows.

    Everything that depends only on the config is checked here, before Ray starts or anything
    is written: the space, the macro values, every estimator and its options (an estimator
    checks its own options, checkpoint paths included, in its constructor), and the data source,
    whose batch is built once to prove its files are there and fit the network. Defaults become
    explicit (the full macro config; ``synthetic`` when data is needed and none was named), so a
    resume compares like with like.

    Raises:
        KeyError: an unknown space or estimator.
        ValueError: anything else that is wrong, naming it.
    """
    load_plugins(plan.plugins)
    if not plan.estimators:
        raise ValueError("no estimators given")
    if len(set(plan.estimators)) != len(plan.estimators):
        raise ValueError(f"estimators listed twice: {list(plan.estimators)}")
    unused = sorted(set(plan.estimator_config) - set(plan.estimators))
    if unused:
        raise ValueError(f"options given for estimators that are not in the run: {unused}")
    space = get_space(plan.space)
    estimators = [get_estimator(n, **plan.estimator_config.get(n, {})) for n in plan.estimators]
    for estimator in estimators:
        estimator.check_space(space)
    for (group, _), positions in partition(estimators).items():
        group.check([estimators[i] for i in positions])
    needs_data = any(e.needs_data or e.needs_dataset for e in estimators)

    data = DataSpec.parse(plan.data or "synthetic").canonical()
    if data == "synthetic" and not needs_data:
        data = None  # synthetic data changes nothing for estimators that read no data
    plan = replace(plan, data=data)
    macro = resolve_macro(space, plan)
    if any(e.needs_dataset for e in estimators):
        check_training_data(data, macro)  # the whole source loads, and its images fit the network
    if any(e.needs_data for e in estimators):
        if plan.batch_size < max(e.min_batch for e in estimators):
            raise ValueError(f"--data-batch-size {plan.batch_size} is below the {max(e.min_batch for e in estimators)} "
                             "images some estimator needs")
        try:
            make_batch(DataSpec.parse(data), plan.batch_size, 0, input_shape_of(macro), getattr(macro, "num_classes", 10))
        except ValueError as exc:
            raise ValueError(f"data source {data}: {exc}") from None
    config = {e.label: e.options() for e in sorted(estimators, key=lambda e: e.label) if e.options()}
    return replace(plan, macro=macro.as_dict(), estimator_config=config), space, estimators


def load_plugins(modules: Sequence[str]) -> None:
    """Import plugin modules so that their ``@SPACES.register`` / ``@ESTIMATORS.register`` run.

    Raises:
        ValueError: a module cannot be imported (its error is named).
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"plugin module {module!r} cannot be imported: {exc}") from None


class RowBuilder:
    """Turns scores, timings and failures of one batch into result rows (no estimators needed)."""

    def __init__(self, space: Space, estimator_names: Sequence[str], worker: str) -> None:
        self.space = space
        self.estimator_names = tuple(estimator_names)
        self.worker = worker

    def rows(self, batch: WorkBatch, archs: Sequence[Any], errors: Sequence[str | None],
              scores: np.ndarray, seconds: np.ndarray, messages: dict[tuple[int, int], str]) -> pa.Table:
        n, n_est = len(archs), len(self.estimator_names)
        valid = [a for a in archs if a is not None]
        strings, hashes = self.space.describe_many(valid) if valid else ([], [])
        encode, pack = self.space.encode, _PACKER.pack
        encodings = [pack(encode(a)) for a in valid]
        if len(valid) == n:
            arch_col, hash_col, enc_col = strings, hashes, encodings
        else:
            arch_col, hash_col, enc_col = [], [], []
            it = iter(zip(strings, hashes, encodings))
            for item, arch in zip(batch.items, archs):
                if arch is None:
                    arch_col.append(item if isinstance(item, str) else repr(item))
                    hash_col.append(None)
                    enc_col.append(None)
                else:
                    s, h, c = next(it)
                    arch_col.append(s)
                    hash_col.append(h)
                    enc_col.append(c)
        # (item, estimator) matrices, flattened item-major
        score = scores.T.copy()
        status = np.full((n, n_est), STATUS_OK, dtype=object)
        error = np.full((n, n_est), None, dtype=object)
        for i, j in zip(*np.nonzero(~np.isfinite(score))):
            status[i, j] = STATUS_NONFINITE
            error[i, j] = f"{self.estimator_names[j]} returned {float(score[i, j])!r}"
        for (e, i), message in messages.items():
            status[i, e], error[i, e], score[i, e] = STATUS_ERROR, message, np.nan
        for i, message in enumerate(errors):
            if message is not None:
                status[i, :], error[i, :] = STATUS_INVALID, message
        total = n * n_est
        columns = {
            "space": pa.array([self.space.name] * total, pa.string()),
            "arch": pa.array(np.repeat(np.array(arch_col, dtype=object), n_est), pa.string()),
            "encoding": pa.array(np.repeat(np.array(enc_col, dtype=object), n_est), pa.binary()),
            "hash": pa.array(np.repeat(np.array(hash_col, dtype=object), n_est), pa.string()),
            "estimator": pa.array(list(self.estimator_names) * n, pa.string()),
            "seed": pa.array(np.full(total, batch.seed, dtype=np.int64)),
            # error and invalid rows have no score (NULL), so SQL averages stay meaningful
            "score": pa.array(score.ravel(), mask=np.isin(status.ravel(), (STATUS_ERROR, STATUS_INVALID))),
            "status": pa.array(status.ravel(), pa.string()),
            "error": pa.array(error.ravel(), pa.string()),
            "seconds": pa.array(seconds.T.ravel()),
            "input_index": pa.array(np.repeat(np.arange(batch.first_index, batch.first_index + n, dtype=np.int64), n_est)),
            "worker": pa.array([self.worker] * total, pa.string()),
            "version": pa.array([VERSION] * total, pa.string()),
        }
        return pa.table(columns, schema=RESULT_SCHEMA)

    def failure_rows(self, batch: WorkBatch, message: str) -> pa.Table:
        """Error rows for a batch that could not be scored at all (e.g. it killed its worker)."""
        archs, errors = self.space.decode_many(batch.items)
        n, n_est = len(archs), len(self.estimator_names)
        messages = {(e, i): message for e in range(n_est) for i in range(n)}
        return self.rows(batch, archs, errors, np.full((n_est, n), np.nan), np.zeros((n_est, n)), messages)


class Scorer:
    """Holds a space, estimators, their groups and the data batch; scores :class:`WorkBatch` es."""

    def __init__(self, plan: ScoringPlan, device: str = "cpu", worker: str | None = None) -> None:
        self.plan = plan
        load_plugins(plan.plugins)
        self.space = get_space(plan.space)
        macro = resolve_macro(self.space, plan)
        self.estimators = [get_estimator(n, **plan.estimator_config.get(n, {})) for n in plan.estimators]
        input_shape = input_shape_of(macro)
        num_classes = getattr(macro, "num_classes", None)
        data = dataset = None
        if any(e.needs_data for e in self.estimators):
            data = BatchCache(plan.data or "synthetic", plan.batch_size, input_shape, num_classes, device)
        if any(e.needs_dataset for e in self.estimators):
            dataset = DatasetCache(plan.data or "synthetic", num_classes or 10, input_shape)
        self.ctx = ScoringContext(self.space, macro, device, data, num_classes, input_shape, plan.batch_size,
                                  dataset)
        self.groups = groups_of(self.estimators, self.ctx)
        for group, _ in self.groups:
            group.setup()
        self.worker = worker or f"{socket.gethostname()}/{os.getpid()}/{device}"
        self.rows = RowBuilder(self.space, plan.estimators, self.worker)

    def score(self, batch: WorkBatch) -> pa.Table:
        """Result rows for every (item, estimator) of ``batch``, in item-major order."""
        archs, errors = self.space.decode_many(batch.items)
        valid = [i for i, a in enumerate(archs) if a is not None]
        valid_archs = [archs[i] for i in valid]
        n, n_est = len(archs), len(self.estimators)
        scores = np.full((n_est, n), np.nan)
        seconds = np.zeros((n_est, n))
        messages: dict[tuple[int, int], str] = {}
        if valid_archs:
            for group, positions in self.groups:
                try:
                    result = group.score(valid_archs, batch.seed)
                except Exception as exc:  # a group bug must not lose the other groups' rows
                    message = describe_exception(exc)
                    messages.update(((e, i), message) for e in positions for i in valid)
                    continue
                scores[np.ix_(positions, valid)] = result.scores
                seconds[np.ix_(positions, valid)] = result.seconds
                messages.update(((positions[g], valid[j]), m) for (g, j), m in result.errors.items())
        return self.rows.rows(batch, archs, errors, scores, seconds, messages)
