"""Depth plug-ins: backends other packages add through the `fgbg_depth.backends` entry points.

Each test installs a small distribution into a folder on PYTHONPATH (a dist-info with its
entry_points.txt, as pip leaves it), so `importlib.metadata` finds it in the CLI's process.
"""

import importlib.util
import io
import json
import os
import re

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from conftest import ROOT, run_cli
from test_generate import shard_hashes

CONSTANT = '''
import numpy as np

class Constant:
    name = "constant"
    input_size = None

    def __init__(self, metres="3.0"):
        self.metres = float(metres)

    def predict(self, images, masks=None):
        return np.full(images.shape[:3], self.metres, np.float32)

    def describe(self):
        return {"backend": "constant", "metres": self.metres, "max_m": 5.0}

def make(**options):
    return Constant(**options)

def no_range(**options):
    backend = Constant(**options)
    backend.describe = lambda: {"backend": "constant"}
    return backend
'''


def install(site, module: str, code: str, entries: dict, group: str = "fgbg_depth.backends") -> dict:
    """A distribution `fake-<module>` holding `module` with these entry points; the env to find it."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(code)
    info = site / f"fake_{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fake-{module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()))
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def generate(out, *args, env):
    return run_cli("generate", "--out", out, "--placements", "1", "--size", "40", "--quiet", *args, env=env)


def depth_units(out) -> np.ndarray:
    table = pq.read_table(sorted((out / "data").glob("train-*"))[0], columns=["depth"])
    return np.stack([np.asarray(Image.open(io.BytesIO(c["bytes"]))) for c in table.column("depth").to_pylist()])


def last_line(res) -> str:
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    return res.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_plugin_backend_is_found_run_and_recorded(tmp_path):
    env = install(tmp_path / "site", "constant_depth", CONSTANT, {"constant": "constant_depth:make"})
    out = tmp_path / "out"
    res = generate(out, "--depth", "constant", "--depth-option", "metres=3.25", "--workers", "2", env=env)
    assert res.returncode == 0, res.stderr
    assert run_cli("verify", out).returncode == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["depth_scale"] == 5.0 / 65535  # 65535 units span the plug-in's max_m
    assert stats["channel_stats"]["train"]["depth"]["mean"][0] == pytest.approx(3.25, abs=0.01)
    card = (out / "README.md").read_text()
    assert "the `constant` depth backend (a plug-in)" in card and "'metres': '3.25'" in card
    one = tmp_path / "one"
    assert generate(one, "--depth", "constant", "--depth-option", "metres=3.25", "--workers", "1",
                    env=env).returncode == 0
    assert shard_hashes(one) == shard_hashes(out)
    # its options decide the bytes, so other options into the same folder are refused
    res = generate(out, "--depth", "constant", "--depth-option", "metres=2", env=env)
    assert "made with other arguments" in last_line(res) and "depth_model" in last_line(res)


def test_plugins_that_cannot_run_are_one_line(tmp_path):
    broken = "raise ImportError('needs a library that is not installed')\n"
    env = install(tmp_path / "site", "constant_depth", CONSTANT,
                  {"constant": "constant_depth:make", "ranged": "constant_depth:no_range", "broken": "broken_depth:make"})
    (tmp_path / "site" / "broken_depth.py").write_text(broken)
    line = last_line(generate(tmp_path / "a", "--depth", "broken", env=env))
    assert "depth plug-in 'broken' (broken_depth:make, from fake-constant_depth) does not load: ImportError" in line
    assert "must give 'max_m'" in last_line(generate(tmp_path / "b", "--depth", "ranged", env=env))
    line = last_line(generate(tmp_path / "c", "--depth", "nonesuch", env=env))
    assert "unknown --depth 'nonesuch'" in line and "constant" in line and "depth-anything" in line
    line = last_line(generate(tmp_path / "d", "--depth", "constant", "--depth-option", "3", env=env))
    assert "KEY=VALUE" in line
    assert "for plug-in backends" in last_line(generate(tmp_path / "e", "--depth", "planar",
                                                        "--depth-option", "a=1", env=env))
    line = last_line(generate(tmp_path / "f", "--depth", "constant", "--depth-option", "colour=red", env=env))
    assert "failed to start: TypeError" in line


def readme_plugin_code() -> str:
    text = (ROOT / "README.md").read_text()
    after = text.split("<!-- plugin-example -->", 1)[1]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None
                    or importlib.util.find_spec("keras") is None, reason="needs transformers, torch and keras")
@pytest.mark.slow
def test_the_readme_plugin_gives_the_built_in_backends_depth(tmp_path):
    """The README's example wraps transformers' own Depth Anything; on the same checkpoint it must
    store what the built-in Keras port stores, up to one rounding step where float noise straddles one."""
    model = ROOT / "tests" / "data" / "depth_anything" / "metric"
    env = install(tmp_path / "site", "my_depth_plugin", readme_plugin_code(),
                  {"transformers-depth": "my_depth_plugin:make"})
    plugged, built_in = tmp_path / "plugged", tmp_path / "built-in"
    res = generate(plugged, "--depth", "transformers-depth", "--depth-option", f"model={model}",
                   "--depth-option", "size=448", "--workers", "1", env=env)
    assert res.returncode == 0, res.stderr
    res = generate(built_in, "--depth", "depth-anything", "--depth-model", model, "--workers", "1", env=env)
    assert res.returncode == 0, res.stderr
    a, b = depth_units(plugged).astype(int), depth_units(built_in).astype(int)
    quantum = 32  # 20 m range
    assert np.abs(a - b).max() <= quantum and (a != b).mean() < 0.02
    assert json.loads((plugged / "stats.json").read_text())["depth_scale"] == 20.0 / 65535
