"""Import the reference aw_nas germ + germ_nds plugin without running aw_nas/__init__.py's full
component import chain (datasets, controllers, trainers...)."""
import os, sys, types, importlib
R = os.environ.get("REF", "/tmp/ref_supernets")  # the reference checkouts (README.md here)
for p in (R + "/site", R + "/pycls", R + "/aw_nas"):
    if p not in sys.path:
        sys.path.insert(0, p)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "stubs"))

def _pkg(name, path):
    m = types.ModuleType(name)
    m.__path__ = [path]
    sys.modules[name] = m
    return m

aw = _pkg("aw_nas", R + "/aw_nas/aw_nas")
aw.__version__ = "ref"
import aw_nas.utils as _u
aw.utils = _u
aw.RegistryMeta = _u.RegistryMeta
from aw_nas.base import Component
aw.Component = Component
import aw_nas.common as _c
for k in ("SearchSpace", "BaseRollout", "Rollout", "assert_rollout_type", "CNNSearchSpace", "get_search_space"):
    setattr(aw, k, getattr(_c, k))
_pkg("aw_nas.weights_manager", R + "/aw_nas/aw_nas/weights_manager")  # skip its __init__ (all weights managers)
import aw_nas.ops as _ops
aw.ops = _ops
import aw_nas.germ as germ
aw.germ = germ
import pycls
_pkg("pycls.models", R + "/pycls/pycls/models")  # skip its __init__ (model zoo -> submitit)
sys.path.insert(0, R + "/aw_nas/examples/research/surgery/nds/plugin")
import germ_nds
