"""AZ-NAS (Lee & Ham, CVPR 2024; cvlab-yonsei/AZ-NAS @ 5e6683a): four proxies whose log-ranks the
authors sum over the population (``archscore ensemble --preset az_nas``).

- ``az_expressivity``, ``az_progressivity``, ``az_trainability``: one shared pass (see
  :mod:`.az_nas_pass`) on the network re-initialised Kaiming-normal (fan-in) from the seed and a
  Gaussian batch of ``--data-batch-size`` images, as the authors' NB201 notebook runs it. Options:
  ``input="data"`` scores the data batch instead; ``reinit=False`` keeps the build's weights;
  ``precision="float64"`` takes the covariance eigenvalues in float64. The reference's float32 can
  turn a rank-deficient feature map's zero eigenvalues slightly negative, the entropy NaN and the
  score -inf (measured here: 622 of NB201's 6,466 isomorphism classes, 617 of them finite in
  float64; all 725 of NASLib's NB301 networks at C=32, whose DARTS stem maps 27 input taps to 96
  channels without a ReLU). float64 ranks NB301 far better and NB201 no better, see
  docs/estimators.md.
- ``az_complexity``: FLOPs counting conv and linear layers only (xautodl's counter, whose values
  NB201's API publishes and the authors rank); unlike ``flops``, pooling is free, so it ties
  avg-pool, skip and none edges.

All higher is better; a NaN component is -inf (the reference's rule), which archscore records as
a non-finite result, ranked last like the reference's -inf.
"""
from __future__ import annotations

from ..base import ESTIMATORS
from .suite import ZeroShotEstimator

INPUTS = ("gaussian", "data")
PRECISIONS = ("float32", "float64")


def input_and_reinit(owner: str, input: str, reinit: bool | str) -> tuple[bool, dict[str, object]]:
    """The ``input`` and ``reinit`` options of AZ-NAS and VKDNW: ``reinit`` as a bool, and the
    options that differ from the defaults (the estimator's recorded config).

    Raises:
        ValueError: ``input`` is not ``gaussian`` or ``data``.
    """
    if input not in INPUTS:
        raise ValueError(f"{owner} option input must be one of {', '.join(INPUTS)}; got {input!r}")
    reinit = reinit if isinstance(reinit, bool) else str(reinit).lower() in ("1", "true", "yes")
    return reinit, {**({"input": input} if input != "gaussian" else {}), **({} if reinit else {"reinit": False})}


class _AzNasComponent(ZeroShotEstimator):
    needs = frozenset({"az_nas"})
    component = ""

    def __init__(self, input: str = "gaussian", reinit: bool = True, precision: str = "float32") -> None:
        """Raises:
            ValueError: ``input`` is not ``gaussian`` or ``data``, or ``precision`` not ``float32`` or ``float64``.
        """
        if precision not in PRECISIONS:
            raise ValueError(f"{type(self).__name__} option precision must be one of {', '.join(PRECISIONS)}; "
                             f"got {precision!r}")
        reinit, config = input_and_reinit(type(self).__name__, input, reinit)
        super().__init__(**config, **({"precision": precision} if precision != "float32" else {}))
        self.variant = (input, reinit, precision)
        self.needs_data = input == "data"

    def compute(self, sig):
        return sig.az_nas[self.variant][self.component]


@ESTIMATORS.register("az_expressivity")
class AzExpressivity(_AzNasComponent):
    """Sum over cell features of the eigenvalue entropy of their channel covariance."""

    component = "expressivity"


@ESTIMATORS.register("az_progressivity")
class AzProgressivity(_AzNasComponent):
    """Smallest increase of expressivity from one cell feature to the next."""

    component = "progressivity"


@ESTIMATORS.register("az_trainability")
class AzTrainability(_AzNasComponent):
    """Mean over consecutive cells of -s - 1/s + 2, s the top singular value of their Jacobian's sketch."""

    component = "trainability"


@ESTIMATORS.register("az_complexity")
class AzComplexity(ZeroShotEstimator):
    """Conv and linear FLOPs per image, millions (xautodl's counter, as NB201's API publishes)."""

    needs = frozenset({"conv_linear_flops"})

    def compute(self, sig):
        return sig.conv_linear_flops
