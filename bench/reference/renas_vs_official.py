"""Our ReNAS network and pairwise loss against the official code on the same weights and batch.

The official ``renas.py`` (huawei-noah/Efficient-Computing, commit 1a4e5b9, path
``Efficient-NAS/ReNAS/renas.py``; deleted from the repository in 4bbda29) is read from
``--reference`` and executed with two patches only: ``args = parser.parse_args()`` parses no
command-line arguments, and ``.cuda()`` calls are dropped (CPU). Its ``LeNet`` gets our
``RankNet``'s weights (copied in order), then both run the same random 19x7x7 batch in train and
eval mode; ``pair_loss`` and our ``pairwise_logistic`` are compared on the same scores and targets
(with ties), and the gradients after one backward through each network.

    git --git-dir=<mirror of huawei-noah/Efficient-Computing> show \\
        1a4e5b9:Efficient-NAS/ReNAS/renas.py > /tmp/renas_ref/renas.py
    python -m bench.reference.renas_vs_official --reference /tmp/renas_ref/renas.py
"""
from __future__ import annotations

import argparse
import types

import torch

from archscore.estimators.predictors.losses import pairwise_logistic
from archscore.estimators.predictors.models import RankNet


def load_reference(path: str) -> types.ModuleType:
    source = open(path).read()
    source = source.replace("args = parser.parse_args()", "args = parser.parse_args([])").replace(".cuda()", "")
    source = source.replace("from torchvision import datasets, models, transforms", "")
    module = types.ModuleType("renas_official")
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", default="/tmp/renas_ref/renas.py")
    args = ap.parse_args()
    ref = load_reference(args.reference)
    torch.manual_seed(0)
    ours = RankNet((19, 7, 7), 0, (120, 84), conv=True)
    theirs = ref.LeNet()
    ours_params, theirs_params = list(ours.state_dict().items()), list(theirs.state_dict().items())
    assert [v.shape for _, v in ours_params] == [v.shape for _, v in theirs_params], "architectures differ"
    theirs.load_state_dict({k: v.clone() for (k, _), (_, v) in zip(theirs_params, ours_params)})
    x = torch.randn(64, 19, 7, 7)
    y = torch.randint(0, 8, (64,)).float()  # ties on purpose
    for mode in ("train", "eval"):
        ours.train(mode == "train")
        theirs.train(mode == "train")
        diff = (ours(x) - theirs(x)).abs().max().item()
        print(f"outputs ({mode} mode): max |diff| {diff:.3g}")
    ours.train()
    theirs.train()
    lo, lt = pairwise_logistic(ours(x), y), ref.pair_loss(theirs(x), y)
    print(f"loss: ours {lo.item():.8f}, official {lt.item():.8f}, |diff| {abs(lo - lt).item():.3g}")
    lo.backward()
    lt.backward()
    worst = max((po.grad - pt.grad).abs().max().item() / max(pt.grad.abs().max().item(), 1e-12)
                for po, pt in zip(ours.parameters(), theirs.parameters()))
    print(f"gradients: max relative |diff| over parameters {worst:.3g}")
    s = torch.randn(50)
    t = torch.randint(0, 5, (50,)).float()
    print(f"loss on fixed scores: |diff| {abs(pairwise_logistic(s, t) - ref.pair_loss(s, t)).item():.3g}")


if __name__ == "__main__":
    main()
