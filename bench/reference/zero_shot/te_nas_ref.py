"""Reference runner for TE-NAS (Chen, Gong, Wang, ICLR 2021) built on the AUTHORS' OWN functions.

Reference: VITA-Group/TENAS @ 9df78ffd98573035375b12e19b9007578cc4155d (newest commit, 2021-06-11),
checked out in /tmp/zsref/te_nas/repo.  Formulae are NOT re-implemented here: we import
    lib/procedures/ntk.py                 -> get_ntk_n
    lib/procedures/linear_region_counter.py -> Linear_Region_Collector
and call them unchanged.  The thin adapters below only make 2021-era code run on a CPU-only
torch 2.x and feed it our tensors instead of their CIFAR DataLoader:

  A1  torchvision is absent in the venv.  linear_region_counter.py (and lib/datasets) import
      torchvision.transforms / torchvision.datasets at module level but only *use* them inside
      get_datasets(), which runs only when data_path is not None (we pass None).  We therefore
      insert empty stub modules for torchvision if it is not importable.
  A2  torch.symeig was removed (torch>=2).  Their call `torch.symeig(ntk)` used the defaults
      eigenvectors=False, upper=True, so we map it to torch.linalg.eigvalsh(A, UPLO='U')
      (same LAPACK syevd family, ascending eigenvalues) for the duration of the call.
  A3  Their code hard-codes CUDA (torch.cuda.current_device(), Tensor.cuda(...)).  When the model
      lives on the CPU we temporarily patch torch.cuda.current_device -> 'cpu',
      Tensor.cuda -> Tensor.to(model's device) and torch.cuda.empty_cache -> no-op.
  A4  Data: get_ntk_n iterates `for inputs, targets in xloader`; we pass [(x, y)] (num_batch=1, the
      authors' setting).  Linear_Region_Collector reads batches with the Python-2 style
      `self.loader.next()` (works on torch 1.6 DataLoader iterators, not on torch 2); we give it
      `train_loader`/`loader` objects with a .next() that yield our LR batches in order.
  A6  LinearRegionCount.calc_LR line 132 `res += res.T` (aliased in-place add) is refused by torch 2;
      their source is recompiled with that one statement as `res = res + res.T` (see _patch_calc_lr
      for why the sign pattern, the only thing used next, is identical).
  A5  Linear_Region_Collector registers forward hooks on every nn.ReLU and never removes them; we
      remove exactly the hooks it added after the call so the caller's model is left as it was
      (apart from BN running stats, which any train-mode forward updates -- as in their code).

Model interface their code needs: model(x) returning logits (a tuple (features, logits) is also
accepted: they take [1]); parameters whose *name contains 'weight'* (conv, BN gamma, linear);
nn.ReLU modules (nn.Module instances, not F.relu) for the region hooks.  archscore's NB201Network
satisfies all three as is.
"""
from __future__ import annotations
import os  # noqa: E402
import os as _os  # noqa: E402

ZSREF = _os.environ.get("ZSREF", "/tmp/zsref")  # where the references are checked out (README.md)
ROOT = _os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))))

import contextlib
import sys
import types
from pathlib import Path

import torch
from torch import nn

REPO = Path(ZSREF) / "te_nas" / "repo"
LIB = REPO / "lib"
COMMIT = "9df78ffd98573035375b12e19b9007578cc4155d"


# ---------------------------------------------------------------- A1: import the authors' code
def _import_authors():
    try:
        import torchvision  # noqa: F401
    except Exception:
        tv = types.ModuleType("torchvision")
        tv.transforms = types.ModuleType("torchvision.transforms")
        tv.datasets = types.ModuleType("torchvision.datasets")
        sys.modules["torchvision"] = tv
        sys.modules["torchvision.transforms"] = tv.transforms
        sys.modules["torchvision.datasets"] = tv.datasets
    if str(LIB) not in sys.path:
        sys.path.insert(0, str(LIB))
    from procedures.ntk import get_ntk_n  # authors' function, unchanged
    from procedures.linear_region_counter import Linear_Region_Collector  # authors' class, unchanged
    _patch_calc_lr()
    return get_ntk_n, Linear_Region_Collector


def _patch_calc_lr():
    """A6: `res += res.T` (linear_region_counter.py:132) is an in-place add from an aliased view.
    torch 1.6 executed it; torch 2 refuses ("some elements ... refer to a single memory location").
    We recompile THEIR calc_LR source with only that statement changed to `res = res + res.T`.
    Equivalence: res = A(1-A)^T has non-negative entries and a zero diagonal; whatever order the old
    in-place kernel visited elements in, entry (i,j) ended as a_ij + a_ji (+ possibly further
    non-negative copies), so it is non-zero iff a_ij + a_ji is; the next line keeps only
    torch.sign(res), hence the outcome is identical."""
    import inspect, textwrap
    import procedures.linear_region_counter as lrc_mod
    cls = lrc_mod.LinearRegionCount
    if getattr(cls.calc_LR, "_zsref_patched", False):
        return
    src = textwrap.dedent(inspect.getsource(cls.calc_LR))
    assert src.count("res += res.T") == 1
    src = src.replace("res += res.T", "res = res + res.T")
    ns = {}
    exec(compile(src, inspect.getsourcefile(cls), "exec"), lrc_mod.__dict__, ns)
    ns["calc_LR"]._zsref_patched = True
    cls.calc_LR = ns["calc_LR"]


get_ntk_n, Linear_Region_Collector = _import_authors()


# ---------------------------------------------------------------- A2 + A3: runtime shims
@contextlib.contextmanager
def _legacy_torch(device: torch.device):
    saved = {}

    def symeig(A, eigenvectors=False, upper=True):  # torch<=1.8 signature and defaults
        uplo = "U" if upper else "L"
        if eigenvectors:
            return torch.linalg.eigh(A, UPLO=uplo)
        return torch.linalg.eigvalsh(A, UPLO=uplo), torch.empty(0, dtype=A.dtype, device=A.device)

    saved["symeig"] = torch.symeig
    torch.symeig = symeig
    on_cpu = device.type != "cuda"
    if on_cpu:
        saved["current_device"] = torch.cuda.current_device
        saved["empty_cache"] = torch.cuda.empty_cache
        saved["Tensor.cuda"] = torch.Tensor.cuda
        torch.cuda.current_device = lambda: device
        torch.cuda.empty_cache = lambda: None
        torch.Tensor.cuda = lambda self, device_=None, non_blocking=False, **kw: self.to(device)
    try:
        yield
    finally:
        torch.symeig = saved["symeig"]
        if on_cpu:
            torch.cuda.current_device = saved["current_device"]
            torch.cuda.empty_cache = saved["empty_cache"]
            torch.Tensor.cuda = saved["Tensor.cuda"]


# ---------------------------------------------------------------- A4: loaders
class _PyTwoIter:
    """Iterator with the Python-2 `.next()` their collector calls (torch 1.6 DataLoader iterators had it)."""

    def __init__(self, batches):
        self._it = iter(batches)

    def next(self):
        return next(self._it)

    __next__ = next


class _Batches:
    def __init__(self, batches):
        self.batches = list(batches)

    def __iter__(self):
        return _PyTwoIter(self.batches)


def _split(t: torch.Tensor, batch: int | None):
    if batch is None or batch >= t.shape[0]:
        return [t]
    assert t.shape[0] % batch == 0, "LR inputs must split into equal batches (their buffer is B*sample_batch)"
    return list(torch.split(t, batch, dim=0))


# ---------------------------------------------------------------- the reference
def reference_ntk_cond(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None,
                       train_mode: bool = True) -> float:
    """Authors' get_ntk_n on one batch (their NB201 call: recalbn=0, train_mode=True, num_batch=1)."""
    device = next(model.parameters()).device
    y = torch.zeros(x.shape[0], dtype=torch.long) if y is None else y  # labels are never used
    with _legacy_torch(device):
        conds = get_ntk_n([(x, y)], [model], recalbn=0, train_mode=train_mode, num_batch=1)
    model.zero_grad()
    return float(conds[0])


def reference_linear_regions(model: nn.Module, lr_x: torch.Tensor, lr_batch: int | None = None) -> float:
    """Authors' Linear_Region_Collector: lr_x (S*B, C, H, W) is fed as S batches of B (their NB201
    setting: B=1000, S=sample_batch=3, 1x3x3 inputs); all S*B samples share one region count."""
    device = next(model.parameters()).device
    batches = _split(lr_x.to(device), lr_batch)
    B, S = batches[0].shape[0], len(batches)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    before = {id(m): set(m._forward_hooks.keys()) for m in relus}
    with _legacy_torch(device):
        lrc = Linear_Region_Collector(models=[model], input_size=(B,) + tuple(batches[0].shape[1:]),
                                      sample_batch=S, dataset=None, data_path=None, seed=0)
        lrc.train_loader = _Batches([(b, None) for b in batches])
        lrc.loader = iter(lrc.train_loader)
        try:
            n_lr = lrc.forward_batch_sample()[0]
        finally:
            lrc.clear()
            for m in relus:  # A5: drop only the hooks the collector added
                for k in set(m._forward_hooks.keys()) - before[id(m)]:
                    del m._forward_hooks[k]
    return float(n_lr)


def reference_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *,
                     ntk_x: torch.Tensor | None = None, lr_x: torch.Tensor | None = None,
                     lr_batch: int | None = None, train_mode: bool = True) -> dict[str, float]:
    """Return {'ntk_cond': kappa_N (lower better), 'linear_regions': #LR (higher better)}.

    ntk_x defaults to x (one batch, like their num_batch=1); lr_x defaults to x as one batch.
    NTK runs first, then LR, on the same module (the model is left in train/eval as get_ntk_n set it).
    """
    ntk_x = x if ntk_x is None else ntk_x
    lr_x = x if lr_x is None else lr_x
    out = {"ntk_cond": reference_ntk_cond(model, ntk_x, y, train_mode=train_mode)}
    out["linear_regions"] = reference_linear_regions(model, lr_x, lr_batch)
    return out


def te_nas_rank_sum(ntk_conds, regions):
    """Population form (their prune_func_rank lines 147-172 transplanted from op-deltas to architectures):
    dense rank of kappa_N ascending + dense rank of #LR descending; LOWER sum = better.
    (Simple helper for reference; no round_to() here -- see SPEC.md for their rounding quirk.)"""
    def dense_rank(vals, descending):
        order = sorted(set(vals), reverse=descending)
        r = {v: i for i, v in enumerate(order)}
        return [r[v] for v in vals]
    a, b = dense_rank(list(ntk_conds), False), dense_rank(list(regions), True)
    return [i + j for i, j in zip(a, b)]


if __name__ == "__main__":
    torch.set_num_threads(1)
    from archscore.spaces import get_space

    space = get_space("nb201")
    archs = [
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|skip_connect~1|avg_pool_3x3~2|",
    ]
    macro = space.macro(C=8, N=1, num_classes=10, in_channels=3, input_size=32)
    torch.manual_seed(0)
    x = torch.randn(16, 3, 32, 32)
    y = torch.randint(0, 10, (16,))
    lr_small = torch.randn(3 * 200, 3, 4, 4)  # authors-like LR batch: small images, 3 batches (theirs: 3x1000 of 1x3x3)
    res = []
    for a in archs:
        torch.manual_seed(0)
        model = space.build(space.parse(a), macro).train()
        s = reference_scores(model, x, y)
        s["linear_regions_4x4_3x200"] = reference_linear_regions(model, lr_small, lr_batch=200)
        again = reference_scores(model, x, y)  # determinism / no leftover hooks
        assert all(again[k] == s[k] for k in again), (again, s)
        assert all(len(m._forward_hooks) == 0 for m in model.modules() if isinstance(m, nn.ReLU))
        res.append(s)
        print(a, {k: round(v, 6) for k, v in s.items()})
    print("rank-sum (lower better):", te_nas_rank_sum([r["ntk_cond"] for r in res], [r["linear_regions"] for r in res]))
    print("reference commit:", COMMIT)
