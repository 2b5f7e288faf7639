"""Import nasws (kcyu2014/nas-landmarkreg a00c361) NB201 supernet *training* path: its policy base
class (``CNNSearchPolicy``, cnn_general_search_policies.py), the SPOS baseline policy of NB201
(``RandomNASCNNSearchPolicy``), its per-step training and evaluation procedures
(train_search_procedure.py ``darts_train_model`` / ``darts_model_validation``,
evaluate_procedure.py ``evaluate_normal``), its NB201 search space class and supernet
(``NASBench201SearchSpace``, ``build_nasbench201_search_model``) and its argparse defaults
(cnn_search_configs.py).

Only imports are replaced, never the code that runs in training or evaluation:

- package ``__init__`` chains that pull in every other space and policy (DARTS, NDS, NB101, ENAS,
  NAO, ...) are skipped: ``nasws.cnn.search_space``, ``nasws.cnn.procedures``, ``nasws.cnn.policy``
  and ``nasws.cnn.policy.random_policy`` are bare packages, and ``nasws.cnn.procedures`` gets the
  three names the policy base class reads from it (``darts_train_model``,
  ``darts_model_validation``, ``evaluate_procedure``);
- ``nasws.dataset`` (CIFAR/ImageNet loaders, torchvision datasets, DALI) is a module holding
  ``Dataset2Class``, read from image_datasets.py's source, and loaders that refuse to run;
- stand-ins for modules the training path never calls: ``ipdb``, ``torch.utils.tensorboard``
  (when tensorboard is not installed), ``torchvision.datasets`` / ``.vision`` names, and
  ``numpy.lib.arraysetops`` (removed in numpy 2; the search space imports ``isin`` from it);
- ``torch._six`` (removed in torch 2) as the stdlib module it re-exported;
- ``utils.count_parameters_in_MB`` (only logged by ``initialize_model``) calls ``np.sum`` on a
  generator, an error in numpy 2: replaced by the same sum written with the builtin;
- ``nasws.cnn.utils.accuracy`` (top-k accuracy the train and eval procedures report) calls
  ``.view(-1)`` on a non-contiguous slice, which torch 2 refuses: recompiled from its own source
  with that one call as ``.reshape(-1)`` (the same values);
- on a machine without CUDA, ``Tensor.cuda()`` returns the tensor itself (the reference moves
  every batch with ``.cuda()``); with CUDA nothing is changed.

The stubs under ``stubs/`` (IPython, tensorflow, torchvision transforms, iopath) are shared with
the other reference scripts.
"""
from __future__ import annotations

import ast
import collections.abc
import importlib
import inspect
import os
import sys
import textwrap
import types

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
R = os.environ.get("REF", "/tmp/ref_supernets")  # the reference checkouts (README.md here)
NASWS = os.path.join(R, "nasws")
for _p in (os.path.join(R, "site"), NASWS):
    if _p not in sys.path:
        sys.path.insert(0, _p)
_STUBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stubs")
if _STUBS not in sys.path:
    sys.path.insert(0, _STUBS)

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _module(name: str, **attrs) -> types.ModuleType:
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def _package(name: str, path: str, **attrs) -> types.ModuleType:
    m = _module(name, **attrs)
    m.__path__ = [path]
    return m


class _Unused:
    """Stands in for a class the training path never instantiates."""

    def __init__(self, *a, **k):
        raise RuntimeError("stand-in for a reference import the NB201 training path does not use")


def _no_data(*a, **k):
    raise RuntimeError("nasws's own data loaders are not used: the driver hands the policy its batches")


def _shims() -> None:
    six = types.ModuleType("torch._six")
    six.container_abcs = collections.abc
    sys.modules.setdefault("torch._six", six)
    _module("ipdb", set_trace=lambda *a, **k: None)
    if "numpy.lib.arraysetops" not in sys.modules:
        _module("numpy.lib.arraysetops", isin=np.isin)
    try:
        importlib.import_module("torch.utils.tensorboard")
    except ImportError:
        class SummaryWriter:  # initialize_misc would open one; the driver's subclass does not
            def __init__(self, *a, **k):
                raise RuntimeError("tensorboard is not installed")
        _module("torch.utils.tensorboard", SummaryWriter=SummaryWriter)
    import torchvision.transforms as transforms  # the shared stub
    sys.modules.setdefault("torchvision.transforms.transforms", transforms)
    transforms.transforms = transforms
    if "torchvision.datasets" not in sys.modules:
        _module("torchvision.datasets", CIFAR10=_Unused, ImageFolder=_Unused)
        _module("torchvision.datasets.vision", StandardTransform=_Unused, VisionDataset=_Unused)
    import networkx as nx
    if not hasattr(nx, "from_numpy_matrix"):
        nx.from_numpy_matrix = nx.from_numpy_array
    if not torch.cuda.is_available():
        torch.Tensor.cuda = lambda self, *a, **k: self


def load() -> types.SimpleNamespace:
    """The reference modules, imported once."""
    if "nasws.cnn.policy.cnn_general_search_policies" in sys.modules:
        return _namespace()
    _shims()
    base = os.path.join(NASWS, "nasws")
    src = open(os.path.join(base, "dataset", "image_datasets.py")).read()
    node = next(n for n in ast.parse(src).body if isinstance(n, ast.Assign)
                and getattr(n.targets[0], "id", None) == "Dataset2Class")
    _package("nasws.dataset", os.path.join(base, "dataset"), load_supernet_cifar10=_no_data,
             load_supernet_imagenet=_no_data)
    _module("nasws.dataset.image_datasets", Dataset2Class=ast.literal_eval(node.value))
    import nasws.cnn  # its __init__ is empty
    for sub in ("search_space", "procedures", "policy", "policy/random_policy"):
        name = "nasws.cnn." + sub.replace("/", ".")
        pkg = _package(name, os.path.join(base, "cnn", sub))
        parent, _, leaf = name.rpartition(".")
        setattr(sys.modules[parent], leaf, pkg)
    procedures = sys.modules["nasws.cnn.procedures"]
    tsp = importlib.import_module("nasws.cnn.procedures.train_search_procedure")
    procedures.darts_train_model = tsp.darts_train_model
    procedures.darts_model_validation = tsp.darts_model_validation
    procedures.evaluate_procedure = importlib.import_module("nasws.cnn.procedures.evaluate_procedure")
    importlib.import_module("nasws.cnn.policy.cnn_general_search_policies")
    importlib.import_module("nasws.cnn.policy.random_policy.random_nas_weight_sharing_policy")
    importlib.import_module("nasws.cnn.search_space.nasbench201.nasbench201_search_space")
    importlib.import_module("nasws.cnn.policy.cnn_search_configs")
    cnn_utils = sys.modules["nasws.cnn.utils"]
    src = textwrap.dedent(inspect.getsource(cnn_utils.accuracy))
    assert src.count("correct[:k].view(-1)") == 1
    exec(compile(src.replace("correct[:k].view(-1)", "correct[:k].reshape(-1)"), cnn_utils.__file__, "exec"),
         cnn_utils.__dict__)
    utils = sys.modules["utils"]  # nasws's top-level utils.py
    utils.count_parameters_in_MB = lambda model: sum(
        v.numel() for name, v in model.named_parameters() if "auxiliary" not in name) / 1e6
    return _namespace()


def _namespace() -> types.SimpleNamespace:
    m = sys.modules
    return types.SimpleNamespace(
        policies=m["nasws.cnn.policy.cnn_general_search_policies"],
        random_policy=m["nasws.cnn.policy.random_policy.random_nas_weight_sharing_policy"],
        search_space=m["nasws.cnn.search_space.nasbench201.nasbench201_search_space"],
        model_search=m["nasws.cnn.search_space.nasbench201.model_search"],
        procedures=m["nasws.cnn.procedures.train_search_procedure"],
        evaluate=m["nasws.cnn.procedures.evaluate_procedure"],
        configs=m["nasws.cnn.policy.cnn_search_configs"],
        utils=m["utils"],
    )
