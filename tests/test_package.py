"""mmrec is a package: the `mmrec` command works from any folder, and a built wheel carries what the library reads."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_console_script_runs_from_another_folder(tmp_path):
    script = Path(sys.executable).parent / "mmrec"
    assert script.is_file(), "install the package: pip install -e . (make does it)"
    out = subprocess.run([str(script), "strategies"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "weighted" in out.stdout and "learned" in out.stdout
    out = subprocess.run([str(script), "search", "--store", str(tmp_path / "nothing"), "--text", "x"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "not an mmrec store" in out.stderr


def test_a_built_wheel_holds_the_library_and_its_data_and_imports_outside_the_checkout(tmp_path):
    src = tmp_path / "src"  # a copy: setuptools writes build/ and *.egg-info/ beside the sources it builds
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, src / name)
    shutil.copytree(ROOT / "mmrec_core", src / "mmrec_core", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(src)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("mmrec-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"mmrec_core/cli/__init__.py", "mmrec_core/recs/_models/hybrid.py", "mmrec_core/encoders/data/aligned-heads.npz"} <= names
    assert not any(n.startswith(("tests/", "pages/", "assets/")) for n in names)
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = "import mmrec_core.encoders.aligned as a, mmrec_core.cli; print(a.CHECKPOINT.is_file(), a.CHECKPOINT)"
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); {code}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("True") and str(tmp_path / "site") in out.stdout
