import pytest

from archscore.estimators import ESTIMATORS, get_estimator
from archscore._core import Registry
from archscore.spaces import SPACES, get_space


def test_register_refuses_duplicates():
    reg = Registry("widget")

    @reg.register("a")
    class A: ...

    with pytest.raises(ValueError, match="already registered"):
        @reg.register("a")
        class B: ...
    assert reg.get("a") is A and A.name == "a"


def test_register_refuses_bad_names():
    reg = Registry("widget")
    for bad in ("", "Has-Dash", "UPPER"):
        with pytest.raises(ValueError, match="snake case"):
            reg.register(bad)


def test_unknown_name_lists_close_names():
    with pytest.raises(KeyError, match="Did you mean nb201"):
        get_space("nb210")
    with pytest.raises(KeyError, match="Known: .*params"):
        get_estimator("no_such_estimator")


def test_builtins_are_registered():
    assert "nb201" in SPACES
    assert {"params", "flops"} <= set(ESTIMATORS.names())
