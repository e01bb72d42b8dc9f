"""Backgrounds and foregrounds from a Hub dataset: `hf://datasets/OWNER/NAME[@REV][/PATH]` → local files.

The revision is resolved to a commit once; everything after reads that commit through the user's
Hugging Face cache (HF_HOME, HF_TOKEN or `hf auth login`, HF_ENDPOINT, HF_HUB_OFFLINE, as every Hub tool
has them). PATH holds image files (ImageFolder: a foreground's category is its parent folder) or a
Parquet dataset (an `Image` column, a `ClassLabel`, optionally a separate matte). Of Parquet only the
footers and the row groups holding chosen rows are read, by range requests; each chosen row becomes a
file. Image files (and Parquet files that `hf download` fetched whole) are read from the Hugging Face
cache itself; what else an offline rerun needs is kept under HF_HOME/fgbg-depth/:

    refs/<OWNER--NAME>/<REV %-quoted>            the commit a branch or tag was resolved to
    listings/<OWNER--NAME>/<commit>/<sha256(PATH)[:16]>.json
                                                 PATH's files, kind, licence; each Parquet file's rows,
                                                 row groups, columns and features
    rows/<OWNER--NAME>/<commit>/<key>/<row:08d>.<ext>, <row:08d>.json
                                                 a Parquet row's picture (its own bytes, or an RGBA PNG
                                                 made with the matte) and its record (extension, label,
                                                 or why it gave none); key: sha256 of the file's path
                                                 and the columns read, [:16]

Sampling: N of all files (or of all rows of all Parquet files, in path order), without replacement,
drawn by `numpy.random.default_rng([seed, 0x5A17, 1 | 2])` (1 backgrounds, 2 foregrounds).
"""

from __future__ import annotations

import bisect
import hashlib
import io
import itertools
import json
import os
import posixpath
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from .contract import folder_categories, read_card_metadata
from .errors import FgBgError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
ROLE_STREAMS = {"backgrounds": 1, "foregrounds": 2}  # the sampling stream's last word, per role
SAMPLE_STREAM = 0x5A17
LISTING_FORMAT = 1
PNG_LEVEL = 6  # of the RGBA PNG made from an image and its matte
WORKERS = 8  # downloads and range reads at once
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}
FORM = "hf://datasets/OWNER/NAME[@REVISION][/PATH]"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_IMAGE_TYPE = re.compile(r"^struct<bytes: (large_)?binary, path: (large_)?string>$")  # how `datasets` stores one
_FOOTERS: dict = {}  # (repo, commit, path) → FileMetaData read in this process, so not read twice


@dataclass(frozen=True)
class HubAddress:
    repo: str  # "owner/name"
    revision: str | None  # after '@', else None (= main)
    path: str  # inside the repository, '' for all of it; no leading or trailing '/'

    def __str__(self) -> str:
        at = f"@{quote(self.revision, safe='')}" if self.revision else ""
        return f"hf://datasets/{self.repo}{at}" + (f"/{self.path}" if self.path else "")


@dataclass
class HubInputs:
    files: list[tuple[str, Path]]  # (name, local file), sorted by name
    categories: dict[str, str] | None  # name → category, None when the source has none
    category_names: list[str] | None  # ClassLabel names in the source's order, or sorted folder names
    provenance: dict  # repo, revision, commit, path, kind, count, available, license, columns, sample, seed,
    # skipped (rows that gave no picture: name and reason)


def parse_address(spec: str) -> HubAddress | None:
    """The dataset an `hf://` address names; None for anything else (a folder, a glob)."""
    if not isinstance(spec, str) or not spec.startswith("hf://"):
        return None
    kind, _, rest = spec[len("hf://"):].partition("/")
    if kind in ("models", "spaces", "buckets"):
        raise FgBgError(f"'{spec}' is not a dataset repository; inputs come from datasets: {FORM}")
    if kind != "datasets":
        raise FgBgError(f"'{spec}' does not name a dataset repository; write {FORM}")
    parts = rest.split("/")
    owner, (name, at, revision) = parts[0], (parts[1] if len(parts) > 1 else "").partition("@")
    if not (_NAME.match(owner) and _NAME.match(name)):
        raise FgBgError(f"'{spec}' has no OWNER/NAME of a dataset; write {FORM}")
    if at and not revision:
        raise FgBgError(f"'{spec}' has an empty revision after '@'; name a branch, tag or commit, or leave out '@'")
    path = [p for p in parts[2:] if p]
    if any(p in (".", "..") for p in path):
        raise FgBgError(f"'{spec}' has '.' or '..' in its path; write the path inside the repository plainly")
    return HubAddress(f"{owner}/{name}", unquote(revision) if at else None, "/".join(path))


def fetch_inputs(spec: str, role: str, sample: int | None = None, seed: int = 0,
                 image_column: str | None = None, label_column: str | None = None,
                 matte_column: str | None = None) -> HubInputs:
    """The pictures of a Hub dataset for `role` ("backgrounds" or "foregrounds") as local files: all,
    or `sample` of them chosen by `seed`. Only foregrounds have categories."""
    address = parse_address(spec)
    if address is None:
        raise FgBgError(f"--{role} '{spec}' is not a Hub address; write {FORM}")
    if role not in ROLE_STREAMS:
        raise ValueError(f"role must be one of {sorted(ROLE_STREAMS)}, not {role!r}")
    if sample is not None and (isinstance(sample, bool) or int(sample) < 1):
        raise FgBgError(f"the sample of {address} must be at least 1 picture, not {sample}")
    sample = None if sample is None else int(sample)
    if int(seed) < 0:
        raise FgBgError(f"the sampling seed must be 0 or more, not {seed}")
    with _hub_errors(address):
        commit, online, siblings = _resolve_commit(address)
        listing = _listing(address, commit, online, siblings)
        if listing["kind"] == "files":
            got = _image_files(address, listing, role, sample, seed, online)
            available = len(listing["files"])
        else:
            got = _parquet_rows(address, listing, role, sample, seed, online, image_column, label_column, matte_column)
            available = sum(f["rows"] for f in listing["parquet"].values())
    files, categories, names, columns, skipped = got
    provenance = {"repo": address.repo, "revision": address.revision, "commit": commit, "path": address.path,
                  "kind": listing["kind"], "count": len(files), "available": available,
                  "license": listing["license"], "columns": columns, "sample": sample,
                  "seed": None if sample is None else int(seed), "skipped": skipped}
    return HubInputs(files, categories, names, provenance)


# -- the commit and the listing ---------------------------------------------------------------------

def _resolve_commit(address: HubAddress) -> tuple[str, bool, list[str] | None]:
    """(commit, online, the repository's files if the Hub said them). Offline, or where the Hub cannot
    be reached, the commit that an earlier run (or `hf download`) resolved."""
    from huggingface_hub import HfApi, constants
    if not constants.HF_HUB_OFFLINE:
        try:
            info = HfApi().dataset_info(address.repo, revision=address.revision)
        except Exception as exc:
            if not _is_transport_error(exc) or _cached_commit(address) is None:
                raise
        else:
            if address.revision != info.sha:
                _write_atomic(_ref_path(address), info.sha.encode())
            return info.sha, True, [s.rfilename for s in info.siblings or ()]
    commit = _cached_commit(address)
    if commit is None:
        raise _not_cached(address, f"the commit of revision '{address.revision or 'main'}'")
    return commit, False, None


def _cached_commit(address: HubAddress) -> str | None:
    if address.revision and _SHA.match(address.revision):
        return address.revision
    for ref in (_ref_path(address), _hf_cache(address, "refs", address.revision or "main")):
        try:
            commit = ref.read_text().strip()
        except (OSError, UnicodeDecodeError):
            continue
        if _SHA.match(commit):
            return commit
    return None


def _listing(address: HubAddress, commit: str, online: bool, siblings: list[str] | None) -> dict:
    """PATH's files at the commit: from our cache, else from the Hub (offline: from the listing that
    `hf download` left in the Hugging Face cache), then kept in our cache."""
    path = _home("listings", _folder(address.repo), commit, _digest(address.path) + ".json")
    try:
        listing = json.loads(path.read_text())
        if listing.get("format") == LISTING_FORMAT:
            return listing
    except (OSError, ValueError):
        pass
    files = _tree_online(address, commit, siblings) if online else _tree_from_hf_cache(address, commit)
    if files is None:
        raise _not_cached(address, "the file listing")
    listing = _new_listing(address, commit, files, siblings, online)
    _write_atomic(path, json.dumps(listing, sort_keys=True).encode())
    return listing


def _tree_online(address: HubAddress, commit: str, siblings: list[str] | None) -> dict[str, int]:
    from huggingface_hub import HfApi, RepoFile
    api = HfApi()
    if address.path:
        found = api.get_paths_info(address.repo, [address.path], repo_type="dataset", revision=commit)
        if not found:
            top = sorted({s.split("/")[0] for s in siblings or () if not s.startswith(".")})
            raise FgBgError(f"{address} does not exist at commit {commit[:12]}; the repository holds "
                            f"{', '.join(top[:12]) or 'nothing'}{' ...' if len(top) > 12 else ''}")
        if isinstance(found[0], RepoFile):
            return {found[0].path: found[0].size}
    entries = api.list_repo_tree(address.repo, path_in_repo=address.path or None, recursive=True,
                                 repo_type="dataset", revision=commit)
    return {e.path: e.size for e in entries if isinstance(e, RepoFile)}


def _tree_from_hf_cache(address: HubAddress, commit: str) -> dict[str, int] | None:
    """The listing `snapshot_download` (so `hf download`) keeps beside its snapshots, if there is one."""
    try:
        tree = json.loads(_hf_cache(address, "trees", f"{commit}.json").read_text())["files"]
        files = {p: int(v["size"]) for p, v in tree.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if address.path in files:
        return {address.path: files[address.path]}
    return {p: s for p, s in files.items() if not address.path or p.startswith(address.path + "/")}


def _new_listing(address: HubAddress, commit: str, files: dict[str, int], siblings, online: bool) -> dict:
    """The listing: kind, that kind's files, the card's licence; for Parquet each file's layout."""
    root = posixpath.dirname(address.path) if address.path in files else address.path
    visible = {p: s for p, s in files.items() if not any(x.startswith(".") for x in _relative(p, root).split("/"))}
    images = {p: s for p, s in visible.items() if p.lower().endswith(IMAGE_SUFFIXES)}
    parquet = {p: s for p, s in visible.items() if p.lower().endswith(".parquet")}
    if not images and not parquet:
        scripts = [s for s in siblings or () if "/" not in s and s.endswith(".py")]
        if scripts and not any(s.lower().endswith((*IMAGE_SUFFIXES, ".parquet")) for s in siblings):
            raise FgBgError(f"hf://datasets/{address.repo} is a loading script ({scripts[0]}), which datasets 4+ "
                            "cannot run; point at its data files (hf://datasets/OWNER/NAME/PATH), or at its "
                            f"Parquet conversion: hf://datasets/{address.repo}@refs%2Fconvert%2Fparquet")
        raise FgBgError(f"no images (PNG, JPEG, WebP) or Parquet files under {address}; "
                        "point at a folder of images or at a Parquet dataset")
    card = _card(address, commit, online)
    listing = {"format": LISTING_FORMAT, "repo": address.repo, "commit": commit, "path": address.path,
               "root": root, "license": _license(card), "kind": "files" if images else "parquet",
               "files": dict(sorted((images or parquet).items()))}
    if not images:
        layouts = _threaded_map(lambda p: _footer(address, commit, p, parquet[p], online), sorted(parquet))
        listing["parquet"] = dict(zip(sorted(parquet), layouts))
        listing["card_features"] = _card_features(card)
    return listing


def _card(address: HubAddress, commit: str, online: bool) -> dict:
    """The YAML of the dataset card; {} without a card (or, offline, without one cached)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError
    try:
        path = hf_hub_download(address.repo, "README.md", repo_type="dataset", revision=commit,
                               local_files_only=not online)
    except EntryNotFoundError:
        return {}
    try:
        meta = read_card_metadata(Path(path).read_text(encoding="utf-8", errors="replace"))
    except Exception:  # YAML that does not parse
        return {}
    return meta if isinstance(meta, dict) else {}


def _license(card: dict) -> str:
    """The card's `license` (its `license_name` where it says 'other'); a list joined with ', '."""
    given = card.get("license")
    given = [str(x) for x in given] if isinstance(given, list) else [str(given)] if given else []
    if card.get("license_name"):
        given = [str(card["license_name"]) if x == "other" else x for x in given] or [str(card["license_name"])]
    return ", ".join(given) or "unknown"


def _card_features(card: dict) -> dict:
    """Image and ClassLabel columns the card's `dataset_info` declares (for Parquet written without the
    `huggingface` schema key), as that key writes them; a column the configs disagree on is left out."""
    infos = card.get("dataset_info")
    out: dict = {}
    for info in infos if isinstance(infos, list) else [infos]:
        for feature in info.get("features") or [] if isinstance(info, dict) else []:
            if not isinstance(feature, dict) or "name" not in feature:
                continue
            dtype = feature.get("dtype")
            names = dtype.get("class_label") if isinstance(dtype, dict) else None
            names = names.get("names") if isinstance(names, dict) else None
            if isinstance(names, dict):
                found = {"_type": "ClassLabel", "names": [str(names[k]) for k in sorted(names, key=int)]}
            else:
                found = {"_type": "Image" if dtype == "image" else "other"}
            out[feature["name"]] = found if out.get(feature["name"], found) == found else {"_type": "other"}
    return out


# -- image files ------------------------------------------------------------------------------------

def _image_files(address, listing, role, sample, seed, online):
    from huggingface_hub import hf_hub_download
    names = sorted((_relative(p, listing["root"]), p) for p in listing["files"])
    chosen = [names[i] for i in _choose(len(names), sample, seed, role)]
    paths = _threaded_map(lambda item: Path(hf_hub_download(address.repo, item[1], repo_type="dataset",
                                                   revision=listing["commit"], local_files_only=not online)), chosen)
    files = [(name, path) for (name, _), path in zip(chosen, paths)]
    folders = folder_categories([name for name, _ in names]) if role == "foregrounds" else None
    if folders:  # ImageFolder's rule, over all the files (the names of a sample's classes are all of them)
        return files, {name: folders[name] for name, _ in files}, sorted(set(folders.values())), None, []
    return files, None, None, None, []


# -- Parquet ----------------------------------------------------------------------------------------

def _parquet_rows(address, listing, role, sample, seed, online, image_column, label_column, matte_column):
    image, label, matte, category_names = _columns(address, listing, role, image_column, label_column, matte_column)
    paths = list(listing["parquet"])
    starts = [0, *itertools.accumulate(listing["parquet"][p]["rows"] for p in paths)]
    wanted: dict[str, list[int]] = {}
    for index in _choose(starts[-1], sample, seed, role):
        i = bisect.bisect_right(starts, index) - 1
        wanted.setdefault(paths[i], []).append(index - starts[i])
    made = _threaded_map(lambda p: _row_files(address, listing, p, wanted[p], image, matte, label, online),
                         list(wanted))
    files, categories, skipped = [], {}, []
    for path, rows in zip(wanted, made):
        stem = _relative(path, listing["root"])[:-len(".parquet")]
        for row, (file, record) in rows.items():
            name = f"{stem}/{row:08d}" + (f".{record['ext']}" if record.get("ext") else "")
            if record.get("skip"):
                skipped.append({"name": name, "reason": record["skip"]})
                continue
            files.append((name, file))
            value = record.get("label")
            if category_names is not None and isinstance(value, int) and 0 <= value < len(category_names):
                categories[name] = category_names[value]
    return (sorted(files), categories if label else None, category_names,
            {"image": image, "label": label, "matte": matte}, sorted(skipped, key=lambda s: s["name"]))


def _columns(address, listing, role, image_column, label_column, matte_column):
    """(image, label, matte, ClassLabel names): the named columns, checked, else the only ones there are."""
    first = next(iter(listing["parquet"].values()))
    features = {**listing.get("card_features", {}), **(first["features"] or {})}
    kinds = {name: _column_kind(arrow, features.get(name)) for name, arrow in first["schema"]}
    there = f"its columns are {', '.join(f'{c} ({k})' for c, k in kinds.items())}"

    flags = {"image column": "--background-column" if role == "backgrounds" else "--foreground-column",
             "matte column": "--matte-column", "label column": "--label-column"}

    def pick(named, kind, what, besides=()):
        if named is None:
            found = [c for c, k in kinds.items() if k == kind and c not in besides]
            if len(found) > 1:
                raise FgBgError(f"{address} has {len(found)} {kind} columns ({', '.join(found)}); name the {what} "
                                f"to use with {flags[what]}; {there}")
            return found[0] if found else None
        if named not in kinds:
            raise FgBgError(f"{address} has no column '{named}'; {there}")
        if kinds[named] != kind and not (kind == "image" and kinds[named] == "binary"):
            raise FgBgError(f"column '{named}' of {address} is not {'an image' if kind == 'image' else 'a ClassLabel'} "
                            f"({kinds[named]}) and cannot be the {what}; {there}")
        return named

    matte = pick(matte_column, "image", "matte column") if matte_column is not None else None
    image = pick(image_column, "image", "image column", besides=(matte,))
    if image is None:
        raise FgBgError(f"{address} has no image column (an Image feature, or struct<bytes, path>); {there}")
    if matte == image:
        raise FgBgError(f"the matte column of {address} must differ from its image column '{image}'")
    label = pick(label_column, "ClassLabel", "label column") if role == "foregrounds" else None
    for path, layout in listing["parquet"].items():
        missing = [c for c in (image, matte, label) if c and c not in dict(layout["schema"])]
        if missing:
            raise FgBgError(f"{path} of {address} has no column '{missing[0]}' but other files have; point at "
                            "Parquet files of one schema (a folder of one config or split)")
    return image, label, matte, [str(n) for n in features[label]["names"]] if label else None


def _column_kind(arrow_type: str, feature) -> str:
    declared = feature.get("_type") if isinstance(feature, dict) else None
    if declared == "Image" or (declared is None and _IMAGE_TYPE.match(arrow_type)):
        return "image"
    if declared == "ClassLabel" and isinstance(feature.get("names"), list):
        return "ClassLabel"
    return "binary" if arrow_type in ("binary", "large_binary") else arrow_type


def _footer(address: HubAddress, commit: str, path: str, size: int, online: bool) -> dict:
    with _parquet_file(address, commit, path, size, online) as pf:
        _FOOTERS[(address.repo, commit, path)] = md = pf.metadata
        try:
            features = json.loads((pf.schema_arrow.metadata or {})[b"huggingface"])["info"]["features"]
        except (KeyError, ValueError, TypeError):
            features = None
        return {"rows": md.num_rows, "row_groups": [md.row_group(i).num_rows for i in range(md.num_row_groups)],
                "schema": [[f.name, str(f.type)] for f in pf.schema_arrow],
                "features": features if isinstance(features, dict) else None}


@contextmanager
def _parquet_file(address: HubAddress, commit: str, path: str, size: int, online: bool):
    """A ParquetFile of the cached copy if there is one (`hf download`), else read by range requests,
    never the whole file."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from huggingface_hub import HfFileSystem, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError
    local = try_to_load_from_cache(address.repo, path, revision=commit, repo_type="dataset")
    try:
        # each ParquetFile closed here, before the file under it: one left to the garbage collector
        # could be torn down at interpreter exit, after its Python file (seen once as an abort at exit)
        if isinstance(local, str):
            with pq.ParquetFile(local) as pf:
                yield pf
        elif not online:
            raise _not_cached(address, f"a chosen row of {path}")
        else:  # cache "none": each read pyarrow asks for (footer, column chunk) is one range request
            # pre_buffer off: pre-buffering reads through Arrow's IO threads, which call back into this
            # Python file; a read left in flight is then freed on such a thread while the interpreter
            # exits, which needs the GIL there and aborts ("terminate called without an active
            # exception": core dumps show arrow::py::PyBuffer's destructor in PyGILState_Ensure)
            with HfFileSystem().open(f"datasets/{address.repo}@{commit}/{path}", "rb", cache_type="none",
                                     size=size) as f, \
                    pq.ParquetFile(f, metadata=_FOOTERS.get((address.repo, commit, path)), pre_buffer=False) as pf:
                yield pf
    except (pa.ArrowException, OSError) as exc:  # pyarrow says a broken file with an OSError without errno
        if isinstance(exc, (HfHubHTTPError, FileNotFoundError)) or getattr(exc, "errno", None) is not None:
            raise
        raise FgBgError(f"{path} of {address} cannot be read as Parquet "
                        f"({(str(exc) or type(exc).__name__).splitlines()[0][:120]})") from None


def _row_files(address, listing, path, rows, image, matte, label, online) -> dict[int, tuple[Path, dict]]:
    """{row: (file, record)} for the chosen rows of one Parquet file, each made once and then cached;
    only the row groups holding rows not yet made are read, and only the columns used."""
    folder = _home("rows", _folder(address.repo), listing["commit"],
                   _digest("\n".join((path, image, matte or "", label or ""))))
    out, todo = {}, []
    for row in sorted(rows):
        try:
            record = json.loads((folder / f"{row:08d}.json").read_text())
            out[row] = (folder / f"{row:08d}.{record['ext']}", record)
            if record.get("skip") or out[row][0].is_file():
                continue
        except (OSError, ValueError, KeyError):
            pass
        todo.append(row)
    firsts = [0, *itertools.accumulate(listing["parquet"][path]["row_groups"])]
    by_group = itertools.groupby(todo, key=lambda row: bisect.bisect_right(firsts, row) - 1)
    if todo:
        with _parquet_file(address, listing["commit"], path, listing["files"][path], online) as pf:
            for group, group_rows in by_group:
                # on this thread: Arrow's pool threads reading a Python file (range requests) can
                # abort the interpreter at exit (apache/arrow#34314, #50482), as pre-buffering did here
                table = pf.read_row_group(group, columns=[c for c in (image, matte, label) if c],
                                          use_threads=False)
                for row in group_rows:
                    data, record = _row_picture(table.slice(row - firsts[group], 1).to_pylist()[0], image, matte, label)
                    if data is not None:
                        _write_atomic(folder / f"{row:08d}.{record['ext']}", data)
                    _write_atomic(folder / f"{row:08d}.json", json.dumps(record, sort_keys=True).encode())
                    out[row] = (folder / f"{row:08d}.{record['ext']}", record)
    return out


def _row_picture(values: dict, image: str, matte: str | None, label: str | None) -> tuple[bytes | None, dict]:
    """One row → (the file's bytes, its record): the image's own bytes, or with a matte an RGBA PNG
    (the matte as L, bilinear to the image's size). No bytes, and the reason in `skip`, for a row that
    gives no picture."""
    from PIL import Image
    record = {"label": values.get(label) if label else None, "ext": "png" if matte else None, "skip": None}
    data, alpha = (_cell_bytes(values.get(c)) if c else b"" for c in (image, matte))
    if not data or alpha is None:
        return None, {**record, "skip": f"no {'image' if not data else 'matte'} bytes in column "
                                        f"'{image if not data else matte}'"}
    try:
        picture = Image.open(io.BytesIO(data))
        if matte is None:
            return data, {**record, "ext": EXTENSIONS.get(picture.format, str(picture.format).lower())}
        rgb, alpha = picture.convert("RGB"), Image.open(io.BytesIO(alpha)).convert("L")
    except Image.UnidentifiedImageError:
        return None, {**record, "skip": "not an image Pillow can read"}
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return None, {**record, "skip": f"cannot be decoded ({(str(exc) or type(exc).__name__).splitlines()[0][:120]})"}
    if alpha.size != rgb.size:
        alpha = alpha.resize(rgb.size, Image.BILINEAR)
    buffer = io.BytesIO()
    Image.merge("RGBA", (*rgb.split(), alpha)).save(buffer, "PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue(), record


def _cell_bytes(cell) -> bytes | None:
    cell = cell.get("bytes") if isinstance(cell, dict) else cell
    return bytes(cell) if cell else None


# -- shared -----------------------------------------------------------------------------------------

def _choose(available: int, sample: int | None, seed: int, role: str) -> list[int]:
    """The indices used, ascending: all, or `sample` of them drawn without replacement."""
    if sample is None or sample >= available:
        return list(range(available))
    import numpy as np
    rng = np.random.default_rng([int(seed), SAMPLE_STREAM, ROLE_STREAMS[role]])
    return sorted(int(i) for i in rng.choice(available, size=int(sample), replace=False))


def _threaded_map(fn, items: list) -> list:
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(min(WORKERS, len(items))) as pool:
        return list(pool.map(fn, items))


def _relative(path: str, root: str) -> str:
    return path[len(root) + 1:] if root else path


def _home(*parts: str) -> Path:
    from huggingface_hub import constants
    return Path(constants.HF_HOME, "fgbg-depth", *parts)


def _hf_cache(address: HubAddress, *parts: str) -> Path:
    from huggingface_hub import constants
    return Path(constants.HF_HUB_CACHE, f"datasets--{_folder(address.repo)}", *parts)


def _folder(repo: str) -> str:
    return repo.replace("/", "--")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _ref_path(address: HubAddress) -> Path:
    return _home("refs", _folder(address.repo), quote(address.revision or "main", safe=""))


def _write_atomic(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: a reader sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- errors -----------------------------------------------------------------------------------------

def _not_cached(address: HubAddress, what: str) -> FgBgError:
    from huggingface_hub import constants
    why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else f"the Hub at {constants.ENDPOINT} cannot be reached"
    return FgBgError(f"cannot read {address}: {what} is not in the local cache and {why}; run the same command "
                     f"once online, or fetch the dataset ahead with `hf download {address.repo} --repo-type dataset`")


def _is_transport_error(exc: BaseException) -> bool:
    """The Hub never answered: no connection, a timeout (whichever HTTP client huggingface_hub uses)."""
    return isinstance(exc, (ConnectionError, TimeoutError)) or any(
        c.__name__ == "TransportError" for c in type(exc).__mro__)


@contextmanager
def _hub_errors(address: HubAddress):
    """huggingface_hub's failures as one line that says what to do."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        OfflineModeIsEnabled, RemoteEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)
    repo = f"hf://datasets/{address.repo}"
    try:
        yield
    except FgBgError:
        raise
    except GatedRepoError:
        raise FgBgError(f"{repo} is gated: accept its conditions at {constants.ENDPOINT}/datasets/{address.repo}, "
                        "then log in (`hf auth login` or HF_TOKEN)") from None
    except RepositoryNotFoundError:
        raise FgBgError(f"dataset '{address.repo}' not found on the Hub at {constants.ENDPOINT} (or it is private: "
                        "log in with `hf auth login` or set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise FgBgError(f"{repo} has no revision '{address.revision}'; name a branch, tag or commit "
                        "(write refs/pr/1 as refs%2Fpr%2F1)") from None
    except RemoteEntryNotFoundError:
        raise FgBgError(f"a file listed in {address} is missing on the Hub; run again, or tell the "
                        "dataset's owners") from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise _not_cached(address, "a chosen file") from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        said = (getattr(exc, "server_message", None) or "").strip().splitlines()
        then = "try again later" if status in (None, 429) or status >= 500 else "check the address and your access"
        raise FgBgError(f"the Hub answered HTTP {status}{': ' + said[0][:160] if said else ''} while reading "
                        f"{address}; {then}") from None
    except Exception as exc:
        if _is_transport_error(exc):
            raise FgBgError(f"cannot reach the Hub at {constants.ENDPOINT} ({type(exc).__name__}) to read "
                            f"{address}; check the network, or fetch ahead: run once online, or "
                            f"`hf download {address.repo} --repo-type dataset`") from None
        if isinstance(exc, OSError):
            raise FgBgError(f"cannot read {address} ({exc.strerror or type(exc).__name__}); check the disk "
                            "and HF_HOME, then run again") from None
        raise
