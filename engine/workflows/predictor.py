"""``archscore predictor fit``: train a learned predictor on a labelled split of a truth table.

The engine's part is everything around the model: reading the truth and a sweep's zero-shot
scores, drawing (or reading) the training split with a seed, orienting the target, scoring the
held-out architectures, and writing the predictor atomically with what it was trained on. The
training split is recorded by architecture and isomorphism class, so ``evaluate`` leaves it out
(by architecture, or by class when it joins truth by class).
"""
from __future__ import annotations

import inspect
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from archscore.estimators import ESTIMATORS, base_name
from archscore.estimators.predictors import (PREDICTORS, FeatureSet, Featurizer, Predictor, ZeroShotFeatures,
                                             make_featurizer)
from archscore.spaces import get_space

from archscore._core import VERSION, file_sha256, write_atomic
from archscore.engine.run.schema import STATUS_OK

INFO_FILE, TRAIN_FILE = "predictor.json", "train.csv"
#: a truth metric named so is lower-is-better: the predictor learns its negation
_LOWER = ("loss", "error")


@dataclass
class FitConfig:
    space: str
    truth: str
    out: str
    model: str = "gbt"
    features: str = "encoding"
    metric: str | None = None
    train_size: int | None = None
    train: str | None = None
    seed: int = 0
    options: dict[str, str] = field(default_factory=dict)
    zse_transform: str = "rank"
    zse_estimators: tuple[str, ...] = ()
    overwrite: bool = False


def zero_shot_features(path: str, space: str, transform: str = "rank",
                       estimators: Sequence[str] = ()) -> ZeroShotFeatures:
    """Zero-shot features from a sweep output (or a NASLib ``zc_*.json`` of published scores):
    every estimator in it, or ``estimators``; rows of other spaces are ignored.

    Raises:
        ValueError: nothing scored on ``space`` there, or a named estimator is absent.
    """
    from archscore.engine.run.sink import read_results
    from archscore.engine.evaluation.truth import load_naslib

    if str(path).endswith(".json"):
        results = load_naslib(path, space=space)[1]
    else:
        if not Path(path).exists() and "://" not in str(path):
            raise ValueError(f"zse:{path}: no such sweep output")
        results = read_results(path)
    rows = results.filter(pa.compute.equal(results.column("space"), space))
    names = sorted(set(rows.column("estimator").to_pylist()) - {"predictor"})
    names = [n for n in names if base_name(n) != "predictor"]
    if estimators:
        absent = sorted(set(estimators) - set(names))
        if absent:
            raise ValueError(f"zse:{path} has no {space} scores of {absent}; it has {names}")
        names = list(estimators)
    if not names:
        raise ValueError(f"zse:{path} holds no {space} scores")
    est = np.array(rows.column("estimator").to_pylist(), dtype=object)
    hashes = np.array(rows.column("hash").to_pylist(), dtype=object)
    score = rows.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    ok = np.array(rows.column("status").to_pylist(), dtype=object) == STATUS_OK
    score = np.where(ok, score, np.nan)
    table = {n: (hashes[est == n], score[est == n]) for n in names}
    directions = {n: ESTIMATORS.get(base_name(n)).higher_is_better if base_name(n) in ESTIMATORS else True
                  for n in names}
    return ZeroShotFeatures.from_scores(space, table, directions, transform, source=str(path))


def parse_features(spec: str, space: str, transform: str = "rank",
                   estimators: Sequence[str] = ()) -> list[str | Featurizer]:
    """``encoding,renas,graf[:VARIANT],zse:PATH`` -> featurizers (zero-shot tables read here)."""
    out: list[str | Featurizer] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        kind, sep, arg = item.partition(":")
        if kind == "zse":
            if not sep or not arg:
                raise ValueError("zero-shot features read a sweep's results: write zse:PATH")
            out.append(zero_shot_features(arg, space, transform, estimators))
        else:
            out.append(make_featurizer(item))  # refuses an unknown name or option here, before any work
    if not out:
        raise ValueError("--features names no featurizer")
    return out


def _typed_options(cls: type[Predictor], options: dict[str, str]) -> dict[str, Any]:
    """``--set`` strings converted to the types of the predictor's defaults."""
    params = inspect.signature(cls.__init__).parameters
    out: dict[str, Any] = {}
    for key, text in options.items():
        if key not in params or key in ("self", "space", "features", "seed"):
            allowed = [p for p in params if p not in ("self", "space", "features", "seed")]
            raise ValueError(f"predictor {cls.name!r} has no option {key!r}; its options: {allowed}")
        default = params[key].default
        try:
            if isinstance(default, bool):
                out[key] = text.lower() in ("1", "true", "yes")
            elif isinstance(default, int) or (default is None and text.lstrip("-").isdigit()):
                out[key] = int(text)
            elif isinstance(default, float) or (default is None and _is_float(text)):
                out[key] = float(text)
            elif isinstance(default, tuple):
                out[key] = tuple(int(x) for x in text.replace("+", ",").split(",") if x)
            else:
                out[key] = text
        except ValueError:
            raise ValueError(f"predictor option {key}={text!r}: expected {type(default).__name__}") from None
    return out


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _training_split(cfg: FitConfig, archs: list[str], hashes: list[str]) -> np.ndarray:
    """Positions of the training architectures in the truth's rows."""
    if (cfg.train_size is None) == (cfg.train is None):
        raise ValueError("give exactly one of --train-size N and --train FILE")
    if cfg.train_size is not None:
        if not 2 <= cfg.train_size < len(archs):
            raise ValueError(f"--train-size must be between 2 and {len(archs) - 1} (the truth has {len(archs)} "
                             f"architectures with a finite metric), got {cfg.train_size}")
        return np.sort(np.random.default_rng(cfg.seed).choice(len(archs), cfg.train_size, replace=False))
    from archscore.engine.run.inputs import FromFile

    space = get_space(cfg.space)
    wanted = []
    for chunk in FromFile(cfg.train).chunks(space, 4096):
        decoded, errors = space.decode_many(list(chunk))
        bad = next((e for e in errors if e), None)
        if bad:
            raise ValueError(f"--train {cfg.train}: {bad}")
        wanted += [space.to_string(a) for a in decoded]
    if len(wanted) < 2:
        raise ValueError(f"--train {cfg.train} names {len(wanted)} architectures; fit needs at least 2")
    where = {a: i for i, a in enumerate(archs)}
    absent = [a for a in wanted if a not in where]
    if absent:
        raise ValueError(f"{len(absent)} architectures of --train {cfg.train} have no finite truth, e.g. {absent[0]}")
    return np.array(sorted({where[a] for a in wanted}))


def fit_predictor(cfg: FitConfig) -> dict[str, Any]:
    """Fit, score the held-out architectures, save; returns the record written to predictor.json."""
    from scipy.stats import kendalltau

    from archscore.engine.evaluation.truth import load_truth, pick_metric

    out = Path(cfg.out)
    if (out / INFO_FILE).exists() and not cfg.overwrite:
        raise ValueError(f"{out} already holds a predictor; choose another --out or pass --overwrite")
    cls = PREDICTORS.get(cfg.model)
    options = _typed_options(cls, cfg.options)
    space = get_space(cfg.space)
    truth = load_truth(cfg.truth, cfg.space)
    metric = pick_metric(truth, cfg.metric)
    values = truth.column(metric).to_numpy(zero_copy_only=False).astype(np.float64)
    keep = np.isfinite(values)
    archs = [a for a, k in zip(truth.column("arch").to_pylist(), keep) if k]
    hashes = [h for h, k in zip(truth.column("hash").to_pylist(), keep) if k]
    values = values[keep]
    sign = -1.0 if any(w in metric.lower() for w in _LOWER) else 1.0
    features = parse_features(cfg.features, cfg.space, cfg.zse_transform, cfg.zse_estimators)
    predictor = cls(space=cfg.space, features=features, seed=cfg.seed, **options)
    train = _training_split(cfg, archs, hashes)
    parsed = [space.parse(a) for a in archs]
    feature_set = FeatureSet.of(features)
    feature_set.check(space)
    unknown = feature_set.missing(space, [parsed[i] for i in train])
    if unknown.any():
        first = archs[train[int(np.flatnonzero(unknown)[0])]]
        raise ValueError(f"{int(unknown.sum())} of the {len(train)} training architectures have no zero-shot scores "
                         f"in --features (e.g. {first}); a sweep with this predictor could not score them either: "
                         "score them first, or draw the training split from the scored architectures (--train FILE)")
    start = time.perf_counter()
    predictor.fit([parsed[i] for i in train], sign * values[train])
    fit_seconds = time.perf_counter() - start
    train_classes = {hashes[i] for i in train}
    trained = set(train.tolist())
    held = [i for i in range(len(archs)) if i not in trained]
    uncovered = feature_set.missing(space, [parsed[i] for i in held])
    held = [i for i, gone in zip(held, uncovered) if not gone]  # what a sweep scores: it refuses the others
    record: dict[str, Any] = {
        "version": VERSION, "space": cfg.space, "model": cfg.model, "params": {
            k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
            for k, v in predictor.get_params().items() if k != "features"},
        "features": predictor.features_.describe(), "truth": str(cfg.truth), "metric": metric,
        "target": metric if sign > 0 else f"-{metric}", "seed": cfg.seed, "n_train": len(train),
        "split": f"--train-size {cfg.train_size} (seed {cfg.seed})" if cfg.train is None else f"--train {cfg.train}",
        "fit_seconds": round(fit_seconds, 3), "n_held_out": len(held), "n_held_out_unscored": int(uncovered.sum()),
        **({"inner_cv": predictor.cv_.summary()} if getattr(predictor, "cv_", None) is not None else {}),
        "train_archs": [archs[i] for i in train], "train_hashes": sorted(train_classes)}
    if held:
        pred = predictor.predict([parsed[i] for i in held])
        record["held_out_kendall_tau"] = float(kendalltau(pred, sign * values[held]).statistic)
    path = predictor.save(out, meta=record)
    record["sha256"] = file_sha256(path)
    write_atomic(out / TRAIN_FILE, ("arch,hash\n" + "".join(
        f"\"{archs[i]}\",{hashes[i]}\n" for i in train)).encode())
    write_atomic(out / INFO_FILE, json.dumps({k: v for k, v in record.items() if k not in ("train_archs", "train_hashes")},
                                             indent=1).encode())
    return record
