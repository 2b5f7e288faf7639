"""A new space is one folder plus its registration: a toy space written under ``tmp_path``
(nothing of archscore edited) passes the space checklist, every estimator that needs no supernet
scores it, a predictor fits on its encoding, and the structure rules hold for its folder."""
from __future__ import annotations

import importlib
import sys
import textwrap

import numpy as np
import pytest

from archscore.spaces import SPACES, get_space
from tests import test_space_conformance

NAME = "toy_chain"
ARCH = '''
"""A chain of four ops, each conv3x3, conv1x1 or skip: values, strings and costs (no torch)."""
from __future__ import annotations

from dataclasses import dataclass

from archscore.spaces.base import MacroConfig

OPS = ("conv3x3", "conv1x1", "skip")
DEPTH = 4
SIZE = len(OPS) ** DEPTH


@dataclass(frozen=True)
class ToyMacro(MacroConfig):
    C: int = 8
    N: int = 1
    in_channels: int = 3
    input_size: int = 32
    num_classes: int = 10


def parse(text):
    names = text.split("-") if isinstance(text, str) else []
    if len(names) != DEPTH or any(n not in OPS for n in names):
        raise ValueError(f"toy string {text!r} must be {DEPTH} of {', '.join(OPS)} joined by '-'")
    return tuple(OPS.index(n) for n in names)


def decode(code):
    if isinstance(code, bool) or not isinstance(code, (int, np_int)) or not 0 <= code < SIZE:
        raise ValueError(f"toy encoding {code!r} must be an int in [0, {SIZE})")
    code = int(code)
    return tuple(code // len(OPS) ** (DEPTH - 1 - i) % len(OPS) for i in range(DEPTH))


def encode(arch):
    return sum(op * len(OPS) ** (DEPTH - 1 - i) for i, op in enumerate(arch))


def costs(arch, macro):
    c, hw = macro.C, macro.input_size ** 2
    params = macro.in_channels * c * 9 + c * macro.num_classes + macro.num_classes
    flops = macro.in_channels * c * 9 * hw + c * macro.num_classes
    for op in arch:
        k = (3, 1, 0)[op]
        params += c * c * k * k
        flops += c * c * k * k * hw
    return params, flops


import numpy  # noqa: E402
np_int = numpy.integer
'''
MODEL = '''
"""The toy network: a 3x3 stem, the chain (each conv followed by ReLU), pooling, a classifier.
Like every space's network, it exposes ``forward_features`` (the map before global pooling) and
``cell_features`` (the stem's and each cell's output)."""
import torch.nn as nn

from .arch import OPS


class ToyNetwork(nn.Module):
    def __init__(self, arch, macro):
        super().__init__()
        c = macro.C
        layers = [nn.Conv2d(macro.in_channels, c, 3, padding=1, bias=False), nn.ReLU()]
        for op in arch:
            if OPS[op] == "conv3x3":
                layers += [nn.Conv2d(c, c, 3, padding=1, bias=False), nn.ReLU()]
            elif OPS[op] == "conv1x1":
                layers += [nn.Conv2d(c, c, 1, bias=False), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, macro.num_classes)

    def forward_features(self, x):
        return self.features(x)

    def cell_features(self, x):
        feats = [x]
        for layer in self.features:  # the stem's and each convolution's ReLU output (AZ-NAS reads them)
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                feats.append(x)
        return feats[1:]

    def forward(self, x):
        return self.classifier(self.pool(self.forward_features(x)).flatten(1))


def build(arch, macro):
    return ToyNetwork(arch, macro)
'''
SPACE = '''
"""The toy space object."""
import numpy as np

from archscore.spaces.base import SPACES, Space

from .arch import OPS, SIZE, ToyMacro, costs, decode, encode, parse


@SPACES.register("toy_chain")
class ToySpace(Space):
    """A chain of four ops (a test's toy)."""

    size = SIZE
    macro_type = ToyMacro

    def decode(self, encoding):
        return decode(encoding)

    def encode(self, arch):
        return encode(arch)

    def parse(self, text):
        return parse(text)

    def to_string(self, arch):
        return "-".join(OPS[op] for op in arch)

    def canonical_string(self, arch):
        return self.to_string(arch)

    def sample(self, n, rng):
        if not 0 <= n <= SIZE:
            raise ValueError(f"cannot sample {n} distinct toy architectures; the space has {SIZE}")
        return [decode(int(i)) for i in rng.choice(SIZE, size=n, replace=False)]

    def enumerate(self):
        return (decode(i) for i in range(SIZE))

    def examples(self):
        return [parse("conv3x3-conv1x1-conv3x3-skip"), parse("conv1x1-skip-conv3x3-conv1x1")]

    def params(self, arch, macro):
        return costs(arch, macro)[0]

    def flops(self, arch, macro):
        return float(costs(arch, macro)[1])

    def build(self, arch, macro):
        from .model import build

        return build(arch, macro)

    def one_hot(self, archs):
        return np.eye(len(OPS))[np.array([list(a) for a in archs])].reshape(len(archs), -1)
'''


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy space's folder (``toy_space/``) imported as a plugin: its registration is its import."""
    root = tmp_path_factory.mktemp("plugin")
    folder = root / "toy_space"
    folder.mkdir()
    files = {"__init__.py": '"""A toy search space."""\nfrom .space import ToySpace  # noqa: F401 (registers it)\n',
             "arch.py": ARCH, "model.py": MODEL, "space.py": SPACE}
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    sys.path.insert(0, str(root))
    try:
        importlib.import_module("toy_space")
        yield folder
    finally:
        SPACES.unregister(NAME)
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m == "toy_space" or m.startswith("toy_space.")]:
            del sys.modules[module]


#: every check of the space checklist (each takes the space's name)
SPACE_CHECKS = sorted(n for n in dir(test_space_conformance) if n.startswith("test_"))


@pytest.mark.parametrize("check", SPACE_CHECKS)
def test_the_toy_space_passes_the_space_checklist(toy, check):
    assert NAME in SPACES and len(SPACE_CHECKS) >= 6
    getattr(test_space_conformance, check)(NAME)


@pytest.mark.slow
def test_every_estimator_without_a_supernet_scores_the_toy_space(toy):
    from tests import test_estimator_conformance as conformance

    names = [n for n in conformance.NAMES if n not in conformance.NEEDS_SUPERNET]
    assert not get_space(NAME).provides("supernet") and "predictor" in names
    for name in names:
        rows = conformance.score([name], space=NAME)[1]
        assert len(rows) == 2 and all(r["status"] == "ok" and np.isfinite(r["score"]) for r in rows), \
            (name, [r["error"] for r in rows])
    fused = conformance.score(names, space=NAME)[1]
    assert all(r["status"] == "ok" for r in fused)


def test_a_supernet_estimator_on_the_toy_space_is_refused_by_name(toy):
    from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch
    from tests.test_estimator_conformance import tiny_supernet

    plan = ScoringPlan(NAME, ("oneshot",), {"C": 4}, {"oneshot": {"checkpoint": tiny_supernet("nb201")}},
                       data="synthetic", batch_size=8, plugins=("toy_space",))
    with pytest.raises(ValueError, match=f"'{NAME}'"):
        Scorer(plan).score(WorkBatch(0, 0, np.array([0, 5]), 0))


def test_the_toy_folder_follows_the_structure_rules(toy):
    """Its imports stay inside its folder and the rooms below estimators (here: spaces)."""
    import ast

    for path in toy.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.startswith("archscore"):
                assert node.module.startswith("archscore.spaces"), (path.name, node.module)
