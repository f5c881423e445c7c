"""What a wheel would ship: every package of the tree, its modules and its data files.

pyproject.toml lists the packages by hand (the top-level folders are installed as ``venom_replay.*``,
so automatic discovery does not apply). A folder with an ``__init__.py`` that is not listed works in
a checkout and in an editable install, and is missing from a wheel: these tests catch that, and a
data file (graph/*.html, graph/*.js) that no package-data pattern covers.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "venom_replay"
LAYERS = ("proxy", "graph", "replay", "adapters")


def _setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _package_dir(package: str, mapping: dict[str, str]) -> Path:
    """The folder setuptools reads ``package`` from: the longest package-dir entry that is the package
    or one of its parents, plus the rest of the dotted name."""
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        head = ".".join(parts[:i])
        if head in mapping:
            return ROOT / mapping[head] / Path(*parts[i:])
    return ROOT / mapping.get("", "") / Path(*parts)


def _tree_packages() -> dict[str, Path]:
    """Every folder of the four layers that has an __init__.py, by the package name it installs as."""
    found = {}
    for layer in LAYERS:
        for init in (ROOT / layer).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found[".".join((PACKAGE, *init.parent.relative_to(ROOT).parts))] = init.parent
    return found


def _data_files(folder: Path) -> list[Path]:
    """Files of one package folder (not of its subpackages) that are not Python source."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix not in (".py", ".pyc"))


def test_every_package_folder_is_listed_and_every_listed_package_exists():
    listed = set(_setuptools_config()["packages"])
    tree = set(_tree_packages())
    assert sorted(tree - listed) == [], "folders with an __init__.py missing from [tool.setuptools] packages"
    assert sorted(listed - tree) == [], "[tool.setuptools] packages without a folder that has an __init__.py"


def test_every_listed_package_is_read_from_its_own_folder():
    config = _setuptools_config()
    tree = _tree_packages()
    mapping = config.get("package-dir", {})
    wrong = {pkg: str(_package_dir(pkg, mapping).relative_to(ROOT)) for pkg in config["packages"]
             if pkg in tree and _package_dir(pkg, mapping) != tree[pkg]}
    assert wrong == {}, "package-dir maps these packages to the wrong folder"


def test_package_data_patterns_cover_every_data_file():
    config = _setuptools_config()
    patterns = config.get("package-data", {})
    graph_data = [p.name for p in _data_files(ROOT / "graph")]
    assert any(n.endswith(".html") for n in graph_data) and any(n.endswith(".js") for n in graph_data), graph_data
    uncovered = [
        str(path.relative_to(ROOT))
        for pkg, folder in _tree_packages().items()
        for path in _data_files(folder)
        if not any(fnmatch.fnmatch(path.name, pat) for pat in patterns.get(pkg, []) + patterns.get("*", []))
    ]
    assert uncovered == [], "data files no [tool.setuptools.package-data] pattern ships"


_BUILD = textwrap.dedent("""
    import sys, warnings
    warnings.simplefilter("ignore")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    dist = Distribution({"script_name": "setup.py"})
    apply_configuration(dist, "pyproject.toml")
    build = dist.get_command_obj("build_py")
    build.build_lib = sys.argv[1]
    build.compile = build.optimize = 0
    dist.run_command("build_py")
""")


def test_build_ships_every_module_and_data_file(tmp_path):
    """setuptools' build_py (what bdist_wheel puts in the wheel) run on a copy of the tree: every
    module and data file of the four layers comes out under venom_replay/."""
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for layer in LAYERS:
        shutil.copytree(ROOT / layer, src / layer, ignore=ignore)
    out = tmp_path / "build"
    proc = subprocess.run([sys.executable, "-c", _BUILD, str(out)], cwd=src, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    expected = {
        Path(PACKAGE, path.relative_to(src))
        for layer in LAYERS for path in (src / layer).rglob("*") if path.is_file()
    }
    built = {path.relative_to(out) for path in out.rglob("*") if path.is_file()}
    assert sorted(map(str, expected - built)) == [], "in the tree but not in the wheel"
