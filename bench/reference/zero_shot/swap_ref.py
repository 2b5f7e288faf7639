"""Scratch reference runner for SWAP / regularised SWAP (Peng et al., ICLR 2024).

Uses the authors' own code from pym1024/SWAP @ f6049f7, checked out at /tmp/zsref/swap/repo:
  src/metrics/swap.py   : SWAP, SampleWiseActivationPatterns, cal_regular_factor
  src/utils/utilities.py: count_parameters, network_weight_gaussian_init
Nothing of their formula is copied here. Adapters / shims (documented):
  * numpy>=2 shim: the authors' count_parameters calls np.sum(<generator>), which numpy 2.x refuses
    (TypeError). numpy 1.x (what they ran) handled it as the Python builtin sum(generator) (+ a
    DeprecationWarning). We give their utilities module an `np` whose `sum` does exactly that for
    generators and is numpy.sum otherwise. Same value, same dtype (np.int64 sum / 1e3 -> np.float64).
  * The model is deep-copied before scoring, because SWAP registers forward hooks it never removes,
    forward() in train mode updates BN running stats, and the authors' protocol re-initialises
    weights in place. The caller's model is left untouched.
  * archscore's NB201Network needs no interface adapter: SWAP only calls model.forward(x) and hooks
    every nn.ReLU by class.

reference_scores(model, x, y=None, mu=None, sigma=None, repeats=1, gaussian_reinit=False, seed=None)
  default (repeats=1, gaussian_reinit=False): one forward with the weights as given, i.e. the score
  of "same module, same weights, same batch".
  authors' protocol (correlation.py): gaussian_reinit=True, repeats=32: before every repeat
  network.apply(network_weight_gaussian_init) is called on the same network; the score is
  np.mean over repeats. They never seed the RNG (seed=None here = don't touch it).
Returns {'swap': raw distinct-pattern count (mean over repeats), 'swap_reg': swap * regular factor
(only if mu and sigma are given), 'regular_factor', 'params_k'}.
"""
from __future__ import annotations
import os  # noqa: E402
import os as _os  # noqa: E402

ZSREF = _os.environ.get("ZSREF", "/tmp/zsref")  # where the references are checked out (README.md)
ROOT = _os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))))

import copy
import sys
import types
import warnings

REPO = os.path.join(ZSREF, "swap", "repo")
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import numpy as _np  # noqa: E402
import torch  # noqa: E402

import src.utils.utilities as _ut  # noqa: E402  (authors' module)
from src.metrics.swap import SWAP, cal_regular_factor  # noqa: E402  (authors' code)
from src.utils.utilities import count_parameters, network_weight_gaussian_init  # noqa: E402


# ---- numpy>=2 shim for the authors' np.sum(generator) (numpy 1.x semantics) -------------------
def _np1_sum(a, *args, **kwargs):
    if isinstance(a, types.GeneratorType):
        warnings.warn("np.sum(generator) (numpy 1.x behaviour: builtin sum)", DeprecationWarning)
        return sum(a)
    return _np.sum(a, *args, **kwargs)


class _NumpyShim(types.ModuleType):
    def __getattr__(self, name):
        return getattr(_np, name)


_shim = _NumpyShim("numpy_np1_sum_shim")
_shim.sum = _np1_sum
if _np.lib.NumpyVersion(_np.__version__) >= "2.0.0":
    _ut.np = _shim  # count_parameters resolves `np` in its module globals


def reference_scores(model, x, y=None, mu=None, sigma=None, repeats=1, gaussian_reinit=False,
                     seed=None, device="cpu", **_ignored) -> dict[str, float]:
    """y (labels) is unused by SWAP. mu, sigma in units of 1e3 parameters (count_parameters/1e3)."""
    net = copy.deepcopy(model).to(device)   # keep the caller's module, hooks and BN buffers clean
    regular = mu is not None and sigma is not None
    if seed is not None:                      # not in the authors' code (they never seed)
        torch.manual_seed(seed)
    # exactly correlation.py:49 (seed=0 equals SWAP's default, so SWAP never reseeds)
    swap = SWAP(model=net, inputs=x, device=device, seed=0, regular=regular, mu=mu, sigma=sigma)
    raw, reg = [], []
    for _ in range(repeats):                  # correlation.py:53-57
        if gaussian_reinit:
            net = net.apply(network_weight_gaussian_init)
        swap.reinit()
        reg.append(swap.forward())            # = count * regular_factor (factor 1 if not regular)
        raw.append(swap.swap.swap)            # the raw count calSWAP stored before clear()
        swap.clear()
    out = {
        "swap": float(_np.mean(raw)),
        "params_k": float(count_parameters(net)),
        "regular_factor": float(swap.regular_factor),
    }
    if regular:
        out["swap_reg"] = float(_np.mean(reg))   # correlation.py:59 np.mean(swap_score)
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", DeprecationWarning)
    from archscore.spaces import get_space

    space = get_space("nb201")
    archs = [
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|",
    ]
    macro = space.macro(C=8, N=1, num_classes=10, in_channels=3, input_size=32)
    MU, SIGMA = 40.0, 1000.0  # demo values only (units: thousands of params); not the paper's NB201 values
    for s in archs:
        arch = space.parse(s)
        torch.manual_seed(0)
        model = space.build(arch, macro).train()
        x = torch.randn(16, 3, 32, 32)
        y = torch.randint(0, 10, (16,))
        a = reference_scores(model, x, y, mu=MU, sigma=SIGMA)
        torch.manual_seed(1)
        b = reference_scores(model, x, y, mu=MU, sigma=SIGMA, repeats=32, gaussian_reinit=True)
        print(s)
        print("  given weights, 1 pass :", a)
        print("  authors' protocol (32x gaussian reinit, torch seed 1):", b)
