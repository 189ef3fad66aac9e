"""The layers hold (import-linter's contracts), ARCHITECTURE.md draws the contract's layers, and old paths still work."""

import importlib
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest

from conftest import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _layer_rows() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers" and c["name"].startswith("Layers"))
    return [[m.strip().removeprefix("mmrec_core.") for m in row.split("|")] for row in layers["layers"]]


@pytest.mark.skipif(not LINT_IMPORTS.is_file(), reason="import-linter is installed by `make test` (the test extra)")
def test_the_import_contracts_hold():
    out = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_architecture_md_draws_the_contracts_layers():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = text.split("<!-- layers")[1].split("<!-- /layers -->")[0]
    drawn = [re.findall(r"│ (\w+)", line) for line in block.splitlines() if line.lstrip().startswith("│")]
    assert drawn == _layer_rows()


def test_every_package_of_the_contract_exists_and_no_library_module_is_left_outside_it():
    listed = {m for row in _layer_rows() for m in row}
    lib = ROOT / "mmrec_core"
    present = {p.name for p in lib.iterdir() if (p / "__init__.py").is_file()}
    present |= {p.stem for p in lib.glob("*.py") if not p.stem.startswith("_")}
    assert present == listed


def test_no_library_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "mmrec_core").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long


@pytest.mark.parametrize(("old", "new"), [("mmrec_core.fusion", "mmrec_core.retrieval._fusion"),
                                          ("mmrec_core.recommenders.base", "mmrec_core.recs._models.base"),
                                          ("mmrec_core.video", "mmrec_core.catalog.video")])
def test_an_old_module_path_is_the_new_module_with_a_deprecation_warning(old, new):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__spec__.name == new  # the new module keeps its own spec
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)


def test_old_names_import_from_old_paths():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from mmrec_core.search import rank
        from mmrec_core.store import open_store
        from mmrec_core.tune import fit

    from mmrec_core.insight import fit as fit_now
    from mmrec_core.retrieval import rank as rank_now

    assert (rank, fit) == (rank_now, fit_now) and callable(open_store)
