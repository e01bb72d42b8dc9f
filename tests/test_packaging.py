"""The package builds without warnings of its own making, and the wheel carries what it needs."""

import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_wheel_builds_quietly_with_its_data(tmp_path):
    src = tmp_path / "src"  # a copy: setuptools writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info",
                                                            "__pycache__", "sample-out", "out"))
    # built as `pip install .` builds it: in an isolated environment with the setuptools pyproject asks for
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                          "-w", str(tmp_path), str(src)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    ours = [line for line in (res.stdout + res.stderr).splitlines()
            if "warning" in line.lower() and "Location 'file:" not in line]  # pip's notes on this machine's indexes
    assert not ours, "\n".join(ours)
    wheel = next(tmp_path.glob("fgbg_depth-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "fgbg_depth/dataset_card.md" in names
    assert sum(n.startswith("fgbg_depth/samples/backgrounds/") for n in names) == 8
    assert "License-Expression: Apache-2.0" in meta
