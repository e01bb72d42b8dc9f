"""`fgbg-depth weights fetch`: download DenseDepth's nyu.h5 at the user's request, and check it.

The weights come from the DenseDepth repository (GPL-3.0); this project never redistributes them.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .depth.densedepth import NYU_BYTES, NYU_URL
from .errors import FgBgError

URL_ENV = "FGBG_DEPTH_WEIGHTS_URL"


def default_weights_path() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "fgbg-depth" / "nyu.h5"


def check_structure(path: Path) -> None:
    """A quick look (no model build): Keras layout, the DenseDepth decoder layers, full width."""
    import h5py

    from .depth.densedepth import WeightFileError, _attr_list
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            names = _attr_list(root, "layer_names") or []
            if "conv2" not in names or "up4_convB" not in names:
                raise WeightFileError(f"'{path}' is not a DenseDepth save (no conv2 / up4_convB layers)")
            kernel = root["conv2"]["conv2/kernel:0"].shape
            if tuple(kernel) != (1, 1, 1664, 1664):
                raise WeightFileError(f"'{path}' has conv2 kernel {tuple(kernel)}, expected (1, 1, 1664, 1664): "
                                      "not the released full-width NYU model")
    except OSError as exc:
        raise FgBgError(f"'{path}' is not a readable HDF5 file ({str(exc).splitlines()[0][:80]})") from None


def fetch(dest: Path | None = None, url: str | None = None, sha256: str | None = None,
          expected_bytes: int | None = NYU_BYTES, progress: bool | None = None) -> tuple[Path, str]:
    """Download to `dest` (default: the user cache), verify, and return (path, sha256)."""
    url = url or os.environ.get(URL_ENV) or NYU_URL
    progress = sys.stderr.isatty() if progress is None else progress
    dest = Path(dest) if dest else default_weights_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    got = 0
    try:
        with urllib.request.urlopen(url, timeout=30) as resp, open(part, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0)
            while block := resp.read(1 << 20):
                out.write(block)
                digest.update(block)
                got += len(block)
                if progress and total:
                    print(f"\rdownloading {url}: {got / total:6.1%}", end="", file=sys.stderr)
        if progress:
            print(file=sys.stderr)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise FgBgError(f"cannot download {url} ({str(reason)[:100]}); if this machine is offline, fetch the "
                        "file elsewhere and pass --depth-weights FILE") from None
    hexdigest = digest.hexdigest()
    if expected_bytes is not None and got != expected_bytes:
        part.unlink(missing_ok=True)
        raise FgBgError(f"downloaded {got:,} bytes from {url}, expected {expected_bytes:,}: not the released nyu.h5")
    if sha256 and hexdigest != sha256.lower():
        part.unlink(missing_ok=True)
        raise FgBgError(f"sha256 of the download is {hexdigest}, expected {sha256}")
    try:
        check_structure(part)
    except FgBgError as exc:
        part.unlink(missing_ok=True)
        raise FgBgError(f"the download from {url} was refused: {exc}".replace(f"'{part}' ", "it ")) from None
    os.replace(part, dest)
    return dest, hexdigest
