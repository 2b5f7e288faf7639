"""The predictors: ReNAS's network, an MLP (pairwise, listwise or MSE loss), gradient-boosted
trees and a random forest (scikit-learn's, their leaf sizes chosen by inner cross-validation).
Seeded and deterministic on CPU."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn

from archscore.spaces import Space

from .base import PREDICTORS, Predictor
from .features import FeatureSet, Featurizer
from .losses import LOSSES


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch on one intra-op thread for the block (a process-wide setting: scoring actors run one
    call at a time; a caller that runs torch on several threads at once should not predict then)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class Standardizer:
    """Per-element mean/std of the training features (ReNAS's StandardScaler); NaN (a missing
    feature) becomes the training mean, i.e. 0 after scaling; constant elements scale by 1."""

    def __init__(self, x: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(x)
            count = finite.sum(0)
            mean = np.where(finite, x, 0.0).sum(0) / np.maximum(count, 1)
            var = np.where(finite, (x - mean) ** 2, 0.0).sum(0) / np.maximum(count, 1)
        std = np.sqrt(var)
        self.mean, self.std = mean, np.where(std > 1e-12, std, 1.0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.std
        return np.where(np.isfinite(z), z, 0.0).astype(np.float32)


class RankNet(nn.Module):
    """ReNAS's network when ``conv``: conv3x3 P->38 BN ReLU, conv3x3 38->128 BN ReLU, flatten,
    FC 120, 84, 1 (vector features join the flattened planes); else an MLP over the vector."""

    def __init__(self, tensor_shape: tuple[int, ...] | None, vector_dim: int, hidden: Sequence[int], conv: bool) -> None:
        super().__init__()
        width = vector_dim
        if conv:
            planes, h, w = tensor_shape
            self.conv = nn.Sequential(
                nn.Conv2d(planes, 38, 3, padding=1, bias=False), nn.BatchNorm2d(38), nn.ReLU(inplace=True),
                nn.Conv2d(38, 128, 3, padding=1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True))
            width += 128 * h * w
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(inplace=True)]
            width = size
        self.head = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, tensor: torch.Tensor | None, vector: torch.Tensor | None = None) -> torch.Tensor:
        parts = ([self.conv(tensor).flatten(1)] if tensor is not None else []) + ([vector] if vector is not None else [])
        return self.head(torch.cat(parts, 1) if len(parts) > 1 else parts[0]).squeeze(1)


def _net(tensor_shape: tuple[int, ...] | None, vector_dim: int, hidden: Sequence[int], conv: bool) -> RankNet:
    return RankNet(tensor_shape, vector_dim, hidden, conv)


class TorchPredictor(Predictor):
    """A torch network trained with a ranking or regression loss on standardised features."""

    conv: bool = False

    def _inputs(self, space: Space, features: FeatureSet, archs: list[Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self.conv:
            return features.transform(space, archs)
        return None, features.flat(space, archs)

    def _fit(self, space: Space, features: FeatureSet, archs: list[Any], y: np.ndarray) -> None:
        from scipy.stats import kendalltau

        if self.loss not in LOSSES:
            raise ValueError(f"{self.name} loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        if self.conv and not features.has_tensor:
            raise ValueError(f"model {self.name!r} needs the renas tensor featurizer (features=renas[,...])")
        tensor, vector = self._inputs(space, features, archs)
        self.scalers_ = tuple(Standardizer(x.reshape(len(archs), -1)) if x is not None else None for x in (tensor, vector))
        t, v = self._scaled(tensor, vector)
        target = torch.as_tensor((y - y.mean()) / (y.std() if y.std() > 0 else 1.0), dtype=torch.float32)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = _net(t.shape[1:] if t is not None else None, v.shape[1] if v is not None else 0,
                       tuple(self.hidden), self.conv)
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            order = torch.Generator().manual_seed(self.seed)
            loss_fn, n = LOSSES[self.loss], len(archs)
            best, best_state, self.history_ = -np.inf, None, []
            for epoch in range(self.epochs):
                net.train()
                for idx in torch.randperm(n, generator=order).split(self.batch_size):
                    if len(idx) < 2:  # BN and a pairwise loss need two
                        continue
                    opt.zero_grad()
                    loss = loss_fn(net(t[idx] if t is not None else None, v[idx] if v is not None else None), target[idx])
                    loss.backward()
                    opt.step()
                if self.select == "train_tau":
                    tau = kendalltau(self._forward(net, t, v), y).statistic
                    self.history_.append(float(tau))
                    if np.isfinite(tau) and tau > best:
                        best, best_state = tau, {k: x.clone() for k, x in net.state_dict().items()}
            if best_state is not None:
                net.load_state_dict(best_state)
        net.eval()
        self.net_ = net

    def _scaled(self, tensor: np.ndarray | None, vector: np.ndarray | None) -> tuple[Any, Any]:
        out = []
        for x, scaler in zip((tensor, vector), self.scalers_):
            out.append(None if x is None else torch.from_numpy(scaler(x.reshape(len(x), -1)).reshape(x.shape)))
        return out[0], out[1]

    @staticmethod
    def _forward(net: Any, t: Any, v: Any, chunk: int = 4096) -> np.ndarray:
        """Batched, for choosing an epoch during fit (fast; its last bits may depend on the batch)."""
        net.eval()
        n = len(t) if t is not None else len(v)
        with torch.no_grad():
            return np.concatenate([net(t[i:i + chunk] if t is not None else None, v[i:i + chunk] if v is not None else None)
                                   .double().numpy() for i in range(0, n, chunk)]) if n else np.zeros(0)

    @staticmethod
    def _forward_each(net: Any, t: Any, v: Any) -> np.ndarray:
        """One architecture at a time, on one thread: float32 matrix kernels sum in an order that
        depends on how many rows they see, so a batched score would change in its last bits with
        the other architectures in the call (work batch size, resume). Alone, it cannot. The cost
        is measured by ``bench/predict_rows.py``."""
        net.eval()
        n = len(t) if t is not None else len(v)
        with one_torch_thread(), torch.no_grad():
            out = [net(t[i:i + 1] if t is not None else None, v[i:i + 1] if v is not None else None)
                   for i in range(n)]
        return torch.cat(out).double().numpy() if n else np.zeros(0)

    def _predict(self, space: Space, features: FeatureSet, archs: list[Any]) -> np.ndarray:
        return self._forward_each(self.net_, *self._scaled(*self._inputs(space, features, archs)))


def _check_positive(**values: Any) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"predictor option {name} must be > 0, got {value!r}")


@PREDICTORS.register("renas")
class RenasPredictor(TorchPredictor):
    """ReNAS (Xu et al., CVPR 2021): its CNN over the feature tensor, trained with the pairwise
    logistic loss, Adam lr 1e-3, batch 1024, 200 epochs, per-element standardised inputs, keeping
    the epoch with the best Kendall tau on the training set (``select="train_tau"``, as the
    official code does; ``"last"`` keeps the last epoch). Vector featurizers listed beside
    ``renas`` join the flattened planes before the fully connected layers."""

    conv = True

    def __init__(self, space: str = "nb201", features: "str | Featurizer | Sequence[str | Featurizer]" = "renas",
                 seed: int = 0, loss: str = "pairwise", epochs: int = 200, batch_size: int = 1024, lr: float = 1e-3,
                 weight_decay: float = 0.0, hidden: tuple[int, ...] = (120, 84), select: str = "train_tau") -> None:
        super().__init__(space, features, seed)
        self.loss, self.epochs, self.batch_size, self.lr = loss, epochs, batch_size, lr
        self.weight_decay, self.hidden, self.select = weight_decay, hidden, select

    def _fit(self, space: Space, features: FeatureSet, archs: list[Any], y: np.ndarray) -> None:
        _check_positive(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr)
        if self.select not in ("train_tau", "last"):
            raise ValueError(f"renas select must be 'train_tau' or 'last', got {self.select!r}")
        super()._fit(space, features, archs, y)


@PREDICTORS.register("mlp")
class MlpPredictor(TorchPredictor):
    """An MLP over the flattened features with a ``pairwise`` (ReNAS's), ``listwise`` (ListNet)
    or ``mse`` loss; Adam, full epochs, the last epoch kept."""

    def __init__(self, space: str = "nb201", features: "str | Featurizer | Sequence[str | Featurizer]" = "encoding",
                 seed: int = 0, loss: str = "pairwise", epochs: int = 200, batch_size: int = 256, lr: float = 1e-3,
                 weight_decay: float = 1e-4, hidden: tuple[int, ...] = (128, 128)) -> None:
        super().__init__(space, features, seed)
        self.loss, self.epochs, self.batch_size, self.lr = loss, epochs, batch_size, lr
        self.weight_decay, self.hidden = weight_decay, hidden

    select = "last"

    def _fit(self, space: Space, features: FeatureSet, archs: list[Any], y: np.ndarray) -> None:
        _check_positive(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr)
        super()._fit(space, features, archs, y)


class CvTreePredictor(Predictor):
    """A scikit-learn tree ensemble on the flattened features whose options left ``None`` are
    chosen in ``fit`` by K-fold cross-validation on the training labels only
    (:func:`~.tuning.choose_by_cv` over ``GRID``; ``cv_`` records the choice and the folds).
    An option given a value is fixed and not searched."""

    GRID: dict[str, tuple[Any, ...]] = {}
    cv_folds: int = 5

    def _model(self, params: dict[str, Any]) -> Any: ...

    def _fit(self, space: Space, features: FeatureSet, archs: list[Any], y: np.ndarray) -> None:
        from .tuning import choose_by_cv

        _check_positive(cv_folds=self.cv_folds)
        x = features.flat(space, archs)
        fixed = {k: getattr(self, k) for k in self.GRID if getattr(self, k) is not None}
        grid = {k: (fixed[k],) if k in fixed else values for k, values in self.GRID.items()}

        def fit_predict(params: dict[str, Any], xa: np.ndarray, ya: np.ndarray, xb: np.ndarray) -> np.ndarray:
            return self._model(params).fit(xa, ya).predict(xb)

        self.cv_ = choose_by_cv(fit_predict, x, y, grid, self.cv_folds, self.seed)
        self.model_ = self._model(self.cv_.chosen).fit(x, y)

    def _predict(self, space: Space, features: FeatureSet, archs: list[Any]) -> np.ndarray:
        return self.model_.predict(features.flat(space, archs))


@PREDICTORS.register("gbt")
class GbtPredictor(CvTreePredictor):
    """Gradient-boosted regression trees (scikit-learn's HistGradientBoostingRegressor, which
    takes missing features natively). Leaf size and learning rate default to ``None``: chosen by
    inner cross-validation on the training labels among ``GRID`` (scikit-learn's leaf of 20 cannot
    split 16 labels; nothing is picked on a benchmark's held-out architectures)."""

    GRID = {"min_samples_leaf": (2, 5, 20), "learning_rate": (0.05, 0.1)}

    def __init__(self, space: str = "nb201", features: "str | Featurizer | Sequence[str | Featurizer]" = "encoding",
                 seed: int = 0, max_iter: int = 300, learning_rate: float | None = None, max_leaf_nodes: int = 15,
                 min_samples_leaf: int | None = None, l2_regularization: float = 0.0, cv_folds: int = 5) -> None:
        super().__init__(space, features, seed)
        self.max_iter, self.learning_rate, self.max_leaf_nodes = max_iter, learning_rate, max_leaf_nodes
        self.min_samples_leaf, self.l2_regularization, self.cv_folds = min_samples_leaf, l2_regularization, cv_folds

    def _model(self, params: dict[str, Any]) -> Any:
        from sklearn.ensemble import HistGradientBoostingRegressor

        _check_positive(max_iter=self.max_iter, **params)
        return HistGradientBoostingRegressor(
            max_iter=int(self.max_iter), learning_rate=float(params["learning_rate"]),
            max_leaf_nodes=int(self.max_leaf_nodes), min_samples_leaf=int(params["min_samples_leaf"]),
            l2_regularization=float(self.l2_regularization), early_stopping=False, random_state=int(self.seed))


@PREDICTORS.register("rf")
class RfPredictor(CvTreePredictor):
    """A random forest (scikit-learn's RandomForestRegressor, missing features handled natively)
    as zc_combine configures it: 100 trees, every feature considered at a split
    (``max_features=1.0``), leaves of 1, bootstrap, ``random_state=seed``. ``max_features`` and
    ``min_samples_leaf`` default to ``None``: chosen by inner cross-validation on the training
    labels among ``GRID``, whose first point is zc_combine's; give both to fit zc_combine's forest
    as is (``--set max_features=1.0 --set min_samples_leaf=1``)."""

    GRID = {"max_features": (1.0, 0.33), "min_samples_leaf": (1, 3)}

    def __init__(self, space: str = "nb201", features: "str | Featurizer | Sequence[str | Featurizer]" = "encoding",
                 seed: int = 0, n_estimators: int = 100, max_features: float | None = None,
                 min_samples_leaf: int | None = None, cv_folds: int = 5) -> None:
        super().__init__(space, features, seed)
        self.n_estimators, self.max_features, self.min_samples_leaf = n_estimators, max_features, min_samples_leaf
        self.cv_folds = cv_folds

    def _model(self, params: dict[str, Any]) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        _check_positive(n_estimators=self.n_estimators, **params)
        if not params["max_features"] <= 1.0:
            raise ValueError(f"rf max_features is a fraction of the features in (0, 1], got {params['max_features']!r}")
        return RandomForestRegressor(n_estimators=int(self.n_estimators), max_features=float(params["max_features"]),
                                     min_samples_leaf=int(params["min_samples_leaf"]), random_state=int(self.seed))
