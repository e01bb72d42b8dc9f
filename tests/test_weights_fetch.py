"""`fgbg-depth weights fetch` against a file server on 127.0.0.1 started by the test."""

import functools
import hashlib
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from conftest import run_cli  # noqa: E402
from keras2_h5 import HALF_WIDTH, model_layers, write_keras2_h5  # noqa: E402

from fgbg_depth.depth.densedepth import build_model  # noqa: E402
from fgbg_depth.generate import GenerateOptions, resolve_depth  # noqa: E402
from fgbg_depth.weights import default_weights_path  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("srv")
    model = build_model((32, 32))
    write_keras2_h5(root / "nyu.h5", model_layers(model, np.random.default_rng(0)))
    write_keras2_h5(root / "half.h5", model_layers(model, np.random.default_rng(1), shapes=HALF_WIDTH))
    (root / "page.h5").write_text("<html>not found</html>")
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


@pytest.mark.slow
def test_fetch_saves_checks_and_auto_uses_it(tmp_path, served):
    base, root = served
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache)}
    res = run_cli("weights", "fetch", "--url", f"{base}/nyu.h5", "--any-size", env=env)
    assert res.returncode == 0, res.stderr
    saved = cache / "fgbg-depth" / "nyu.h5"
    digest = hashlib.sha256((root / "nyu.h5").read_bytes()).hexdigest()
    assert saved.read_bytes() == (root / "nyu.h5").read_bytes() and digest in res.stdout
    assert not list(saved.parent.glob("*.part"))
    monkey_env = dict(XDG_CACHE_HOME=str(cache))
    with pytest.MonkeyPatch.context() as mp:
        for k, v in monkey_env.items():
            mp.setenv(k, v)
        assert default_weights_path() == saved
        choice = resolve_depth(GenerateOptions(out="unused", depth="auto"))
        assert (choice.name, choice.options["weights"]) == ("densedepth", str(saved))
        assert "weights fetch" in choice.note


def test_fetch_refuses_wrong_size_checksum_and_content(tmp_path, served):
    base, _ = served
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    res = run_cli("weights", "fetch", "--url", f"{base}/nyu.h5", env=env)
    assert res.returncode == 2 and "expected 172,897,376" in res.stderr
    res = run_cli("weights", "fetch", "--url", f"{base}/nyu.h5", "--any-size", "--sha256", "0" * 64, env=env)
    assert res.returncode == 2 and "sha256" in res.stderr
    res = run_cli("weights", "fetch", "--url", f"{base}/half.h5", "--any-size", env=env)
    assert res.returncode == 2 and "full-width" in res.stderr
    res = run_cli("weights", "fetch", "--url", f"{base}/page.h5", "--any-size", env=env)
    assert res.returncode == 2 and "HDF5" in res.stderr
    assert not list(tmp_path.rglob("*.h5*"))  # nothing half-downloaded or refused is kept
    for r in (res,):
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_fetch_offline_is_one_line(tmp_path):
    with socket.socket() as s:  # a port on this machine that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run_cli("weights", "fetch", "--url", f"http://127.0.0.1:{port}/nyu.h5",
                  env={"XDG_CACHE_HOME": str(tmp_path)})
    assert res.returncode == 2
    assert res.stderr.strip().startswith("fgbg-depth: error: cannot download") and "offline" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
