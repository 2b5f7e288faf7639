"""One import package: a wheel of the project holds ``archscore/`` and nothing else at the top."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_holds_only_the_archscore_package(tmp_path):
    source = tmp_path / "src"  # a clean copy: setuptools would reuse a stale build/ in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", "build", "*.egg-info", ".git", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
                   check=True, capture_output=True)
    names = zipfile.ZipFile(next(tmp_path.glob("archscore-*.whl"))).namelist()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"archscore"}
    for module in ("__init__.py", "_core.py", "engine/cli.py", "engine/run/sink.py", "estimators/zero_shot/fisher.py",
                   "spaces/nb201/__init__.py"):
        assert f"archscore/{module}" in names
    packages = [p.parent.relative_to(ROOT) for p in ROOT.rglob("__init__.py")
                if not {"tests", "bench", ".venv", "build"} & set(p.relative_to(ROOT).parts)]
    for package in packages:  # every source package ships, with every module in it
        for module in (ROOT / package).glob("*.py"):
            assert f"archscore/{module.relative_to(ROOT).as_posix()}" in names, module
    assert not [n for n in names if n.startswith("archscore/tests/") or n.startswith("archscore/bench/")]


def test_the_public_api_is_importable_from_archscore():
    import archscore

    for name in ("SweepConfig", "run_sweep", "read_results", "Sample", "FromFile"):
        assert hasattr(archscore, name)
    assert archscore.__version__ == archscore.VERSION


def test_ci_runs_exactly_the_readme_test_command():
    """`.ci/run` is the README's second command; a change to one must be made to the other."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci.startswith("python3 -m venv .venv") and f"```bash\n{ci}\n```" in readme
