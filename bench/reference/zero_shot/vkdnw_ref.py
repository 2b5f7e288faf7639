"""Reference runner for VKDNW (Tybl & Neumann, CVPR 2025), authors' code from ondratybl/VKDNW.

Authors' code imported unchanged (nothing copied or rewritten):
  * repo/          @ 6901b65 (HEAD asked for): NB201/ZeroShotProxy/compute_vkdnw_score.py,
                   compute_jacov_score.py, compute_az_nas_score.py
  * repo_779a3a8/  @ 779a3a8 (code the Table-1 wandb runs of 12 Nov 2024 were made with; its
                   compute_vkdnw_score.py is the blob of 945250a: first element of each tensor)
  * repo_beb332b/  @ beb332b (last commit that still has NB201/tss_utils.py; deleted in 2b67433):
                   tss_utils.get_scores = the authors' rank aggregation (VKDNW_single / VKDNW_agg)

Why a second interpreter: the authors' get_jacobian_index writes a grad-tracked value in place into
a detached copy of a captured parameter (`param[param_idx] = v`). torch >= 2.1 (here 2.13) refuses
("in-place operation ... would mutate a captured Tensor"); the authors ran torch 2.0.1
(environment.yml), which allows it. So the proxy runs in a worker process on torch 2.0.1 installed
in /tmp/zsref/site_t201 (+ CUDA runtime libs in site_t201_nv that its import needs; it runs on CPU).
The model travels by torch.save / torch.load (archscore classes are imported there without the
archscore package __init__, which needs numpy>=2/pyarrow).

Thin adapters (documented in SPEC.md, no formula touched):
  * TupleNet: wraps archscore's NB201Network so that forward returns (pooled_features, logits)
    like NB201's TinyNetwork (the authors index model(x)[1]); extract_cell_features for AZ-NAS;
    .cuda() is a no-op without CUDA (their compute_nas_score calls model.cuda() unconditionally).
  * trainloader=[(x, y)]: their compute_nas_score takes next(iter(trainloader))[0] as the batch.
  * _std_avgpool: archscore's AvgPool3x3 runs as plain nn.AvgPool2d (see its docstring).
  * init=False swaps the module's init_model for identity (the authors always re-init).
  * xgboost is stubbed in sys.modules to import tss_utils (only get_prediction uses it).

Usage:  from run_ref import reference_scores, reference_aggregate   (venv python, torch 2.13)
        python run_ref.py                                            (demo on 3 archs)
"""
from __future__ import annotations
import os  # noqa: E402
import os as _os  # noqa: E402

ZSREF = _os.environ.get("ZSREF", "/tmp/zsref")  # where the references are checked out (README.md)
ROOT = _os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))))

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch
from torch import nn

HERE = os.path.join(ZSREF, "vkdnw")
T201_PATH = os.pathsep.join([os.path.join(ZSREF, "site_t201"), os.path.join(ZSREF, "site_t201_nv")])
PY = sys.executable


def _load(repo_dir: str, modname: str, alias: str):
    """Import NB201/ZeroShotProxy/<modname>.py of a checkout under a unique module name."""
    path = os.path.join(HERE, repo_dir, "NB201", "ZeroShotProxy", modname + ".py")
    spec = importlib.util.spec_from_file_location(alias, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class TupleNet(nn.Module):
    """Adapter: archscore NB201Network -> NB201 TinyNetwork interface. named_parameters order and
    count unchanged (names gain a 'net.' prefix, which the authors' code never reads)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        out = self.net.global_pooling(self.net.forward_features(x)).flatten(1)
        return out, self.net.classifier(out)

    def extract_cell_features(self, inputs):  # = TinyNetwork.extract_cell_features
        feats = []
        f = self.net.stem(inputs)
        if f.requires_grad:
            f.retain_grad()
        feats.append(f)
        for cell in self.net.cells:
            f = cell(f)
            if f.requires_grad:
                f.retain_grad()
            feats.append(f)
        return feats

    def cuda(self, device=None):
        return super().cuda(device) if torch.cuda.is_available() else self


@contextlib.contextmanager
def _no_init(mod, enabled: bool):
    if enabled:
        yield
        return
    orig = mod.init_model
    mod.init_model = lambda model, method="kaiming_norm_fanin": model
    try:
        yield
    finally:
        mod.init_model = orig


@contextlib.contextmanager
def _std_avgpool(model):
    """Adapter: archscore's AvgPool3x3 (an nn.AvgPool2d(3,1,1,count_include_pad=False) subclass whose
    forward is a custom autograd.Function without setup_context, which functorch's vmap/jacrev
    reject) is run with the plain nn.AvgPool2d.forward -- exactly NB201/xautodl's avg_pool_3x3."""
    patched = []
    for mod in model.modules():
        cls = type(mod)
        if cls.__name__ == "AvgPool3x3" and isinstance(mod, nn.AvgPool2d) and cls not in patched:
            cls._vk_orig_forward = cls.forward
            cls.forward = nn.AvgPool2d.forward
            patched.append(cls)
    try:
        yield
    finally:
        for cls in patched:
            cls.forward = cls._vk_orig_forward
            del cls._vk_orig_forward


def _scores_inprocess(model, x, y, init, params_grad_len, p, version, aux, seed, gpu=None):
    """Runs the authors' compute_nas_score functions in this interpreter (needs torch 2.0.x)."""
    with _std_avgpool(model):
        return _scores_inprocess_(model, x, y, init, params_grad_len, p, version, aux, seed, gpu)


def _scores_inprocess_(model, x, y, init, params_grad_len, p, version, aux, seed, gpu=None):
    vk = _load("repo" if version == "head" else "repo_779a3a8", "compute_vkdnw_score", "vk_" + version)
    m = model if hasattr(model, "extract_cell_features") else TupleNet(model)
    yy = y if y is not None else torch.zeros(x.shape[0], dtype=torch.long)
    res, bs = x.shape[2], x.shape[0]
    if seed is not None:
        torch.manual_seed(seed)
    out = {}
    with _no_init(vk, init):
        kw = dict(gpu=gpu, trainloader=[(x, yy)], resolution=res, batch_size=bs, params_grad_len=params_grad_len)
        if version == "head":
            kw["p"] = p
        out.update({k: float(v) for k, v in vk.compute_nas_score(m, **kw).items()})
    if aux:  # Table-1 order on one module: vkdnw -> az_nas -> jacov (tss_general_.py @779a3a8)
        az = _load("repo", "compute_az_nas_score", "vk_aznas")
        jc = _load("repo", "compute_jacov_score", "vk_jacov")
        for mod, batch in ((az, x), (jc, x.detach().clone())):
            m.train(); m.zero_grad()
            with _no_init(mod, init):
                out.update({k: float(v) for k, v in mod.compute_nas_score(
                    m, gpu=gpu, trainloader=[(batch, yy)], resolution=res, batch_size=bs).items()})
    return out


def reference_scores(model, x, y=None, *, init=False, params_grad_len=128, p=1, version="head",
                     aux=False, seed=None, **_ignored) -> dict[str, float]:
    """VKDNW on one batch through the authors' compute_nas_score (CPU, float32).

    model: archscore NB201Network (BN buffers should be fresh: running_mean 0 / running_var 1, see
           SPEC.md) -- or any module with the TinyNetwork interface. Not modified here (a copy travels).
    x: the batch. Authors: torch.randn(64, 3, R, R), R = 32 (CIFAR) / 16 (ImageNet16-120). y unused.
    init: True = authors' kaiming_normal fan_in re-init (seeded by `seed` in the worker);
          False (default) = score the weights as given, for equality tests.
    params_grad_len: number of leading parameter tensors (authors: 128). p: elements per tensor
          (6901b65 default p=0 selects nothing; p=1 == Table-1 code). version: 'head' | 't1' (779a3a8).
    aux: also expressivity/progressivity/trainability (repo's AZ-NAS copy) and jacov, on x.
    Returns {'vkdnw_entropy' (the VKDNW score, higher better), 'vkdnw_dim' (#param tensors), ...}.
    """
    opts = dict(init=init, params_grad_len=params_grad_len, p=p, version=version, aux=aux, seed=seed)
    if torch.__version__.startswith("2.0."):
        return _scores_inprocess(model, x, y, **opts)
    with tempfile.TemporaryDirectory() as td:
        torch.save({"model": model, "x": x, "y": y, "opts": opts}, os.path.join(td, "in.pt"))
        env = dict(os.environ, PYTHONPATH=T201_PATH)
        r = subprocess.run([PY, "-W", "ignore", os.path.abspath(__file__), "--worker", td], env=env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("torch-2.0.1 worker failed:\n" + r.stderr[-4000:])
        with open(os.path.join(td, "out.json")) as f:
            return json.load(f)


def _worker(td):
    # import archscore's model module without the archscore/__init__ chain (pyarrow needs numpy>=2)
    for name, path in (("archscore", ROOT), ("archscore.spaces", os.path.join(ROOT, "spaces")),
                       ("archscore.spaces.nb201", os.path.join(ROOT, "spaces", "nb201"))):
        pkg = types.ModuleType(name)
        pkg.__path__ = [path]
        sys.modules[name] = pkg
    import archscore.spaces.nb201.model  # noqa: F401
    torch.set_num_threads(1)
    d = torch.load(os.path.join(td, "in.pt"))
    out = _scores_inprocess(d["model"], d["x"], d["y"], **d["opts"])
    out["_torch"] = torch.__version__
    with open(os.path.join(td, "out.json"), "w") as f:
        json.dump({k: v for k, v in out.items()}, f)


def reference_aggregate(vkdnw_dim, vkdnw_entropy, expressivity=None, trainability=None, flops=None,
                        jacov=None, progressivity=None) -> dict[str, np.ndarray]:
    """Population scores with the authors' tss_utils.get_scores(zero_cost_score_list=['vkdnw'])
    (@beb332b), after tss_analyze.ipynb's preprocessing (all float; jacov NaN -> min jacov).
    vkdnw_rank      = log dense-rank of the tuple (vkdnw_dim, vkdnw_entropy)      (VKDNW_single)
    vkdnw_comb_rank = vkdnw_rank + log rank(expressivity) + log rank(trainability)
                      + log rank(flops) + log rank(jacov)  [pandas rank: average ties] (VKDNW_agg)
    (+ the ablations vkdnw_exp_rank / vkdnw_prog_rank / vkdnw_train_rank). Higher = better."""
    import pandas as pd
    if "xgboost" not in sys.modules:
        try:
            import xgboost  # noqa: F401
        except ImportError:
            sys.modules["xgboost"] = types.ModuleType("xgboost")  # only get_prediction uses it
    sys.path.insert(0, os.path.join(HERE, "repo_beb332b", "NB201"))
    try:
        import tss_utils
    finally:
        sys.path.pop(0)
    n = len(vkdnw_dim)
    col = lambda v: np.full(n, np.nan) if v is None else np.asarray(v, float)  # noqa: E731
    df = pd.DataFrame({"vkdnw_dim": col(vkdnw_dim), "vkdnw_entropy": col(vkdnw_entropy),
                       "expressivity": col(expressivity), "trainability": col(trainability),
                       "progressivity": col(progressivity), "flops": col(flops), "jacov": col(jacov)})
    df["jacov"] = df["jacov"].fillna(df["jacov"].min()).astype(float)  # tss_analyze.ipynb cell 6
    s = tss_utils.get_scores(df.copy(), compute_graf=False, zero_cost_score_list=["vkdnw"])
    keys = ["vkdnw_rank", "vkdnw_comb_rank", "vkdnw_exp_rank", "vkdnw_prog_rank", "vkdnw_train_rank"]
    return {k: s[k].to_numpy() for k in keys}


ARCHS = [
    "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|skip_connect~1|avg_pool_3x3~2|",
]


def _build(arch_str, C=8, N=1, num_classes=10, seed=0):
    from archscore.spaces import get_space
    space = get_space("nb201")
    macro = space.macro(C=C, N=N, num_classes=num_classes, in_channels=3, input_size=32)
    torch.manual_seed(seed)
    return space.build(space.parse(arch_str), macro).train()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(sys.argv[2])
        sys.exit(0)
    torch.set_num_threads(1)
    torch.manual_seed(123)
    x = torch.randn(16, 3, 32, 32)
    y = torch.randint(0, 10, (16,))
    rows = []
    for a in ARCHS:
        r = {"noinit_head_p1": reference_scores(_build(a), x, y),
             "noinit_t1": reference_scores(_build(a), x, y, version="t1"),
             "noinit_head_p2": reference_scores(_build(a), x, y, p=2),
             "init_aux": reference_scores(_build(a), x, y, init=True, aux=True, seed=1)}
        rows.append(r)
        print(a)
        for k, v in r.items():
            print("   ", k, {kk: (round(vv, 9) if isinstance(vv, float) else vv) for kk, vv in v.items()})
    g = lambda k: [r["init_aux"][k] for r in rows]  # noqa: E731
    agg = reference_aggregate(g("vkdnw_dim"), g("vkdnw_entropy"), expressivity=g("expressivity"),
                              trainability=g("trainability"), progressivity=g("progressivity"),
                              flops=[1.0, 3.0, 0.5], jacov=g("jacov"))  # toy flops
    print("aggregate (toy flops):", {k: np.round(v, 6).tolist() for k, v in agg.items()})
