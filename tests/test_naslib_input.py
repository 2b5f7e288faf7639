"""A NASLib zero-cost json as a sweep's input: the same cells, in the same order, as its truth."""
from __future__ import annotations

import pytest

from archscore.engine import FromFile
from archscore.engine.evaluation.truth import load_naslib
from archscore.spaces import get_space
from tests.conftest import data_path


@pytest.mark.parametrize("file, space", [("zc_nasbench101.json", "nb101"), ("zc_nasbench301.json", "darts")])
def test_naslib_json_input_yields_the_truths_cells(file, space):
    path = data_path("naslib-zc", file)
    sp = get_space(space)
    items = [a for chunk in FromFile(str(path)).chunks(sp, 64) for a in chunk]
    assert items == load_naslib(path)[0].column("arch").to_pylist()
    assert len(items) >= 500 and all(sp.parse(a) is not None for a in items[:20])
    FromFile(str(path)).validate(sp)


def test_naslib_json_of_another_space_is_refused_naming_the_file():
    path = data_path("naslib-zc", "zc_nasbench101.json")
    with pytest.raises(ValueError, match="zc_nasbench101.json"):
        next(FromFile(str(path)).chunks(get_space("nb201"), 8))
