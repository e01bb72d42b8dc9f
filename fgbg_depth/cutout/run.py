"""`fgbg-depth cutout PHOTOS --out FG`: plain photos → soft-alpha RGBA cut-outs, each checked, with a record
per photo and a review page.

    photos ──(workers: decode, EXIF, RGB, SHA-256, resize, normalise)──▶ model in this process (batches)
           ──(workers: probabilities at the photo's size, checks, colour estimate, crop, PNG)──▶ FG/

FG mirrors the photos' folders. The run state (FG/.fgbg-depth/) holds the run's fingerprint, one record
per photo and a thumbnail of each photo for the review page; `metadata.jsonl` and `review.html` are made
from the records at the end. A photo whose record is there (same fingerprint, same photo) is not done
again, so a rerun does only what is missing and rewrites nothing; a killed run leaves whole files only.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import sys
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ..assets import IMAGE_SUFFIXES, Skip, file_sha256, list_image_files, open_photo
from ..contract import STATE_DIR, state_path
from ..errors import FgBgError, InputSkipped
from ..lock import FolderLock
from . import records
from .checks import CheckThresholds, check_probabilities
from .colour import FUSION_RADII, cutout_rgba
from .review import photo_thumbnail, render_review

CUTOUT_VERSION = 1  # of what decides a cut-out's bytes besides the model and the options; in the fingerprint
PNG_LEVEL = 6
PREPARED_AHEAD = 2  # batches decoded and normalised ahead of the model


@dataclass
class CutoutOptions:
    """The cut-out arguments, named like the CLI's flags."""

    photos: list[str]
    out: str
    model: str | None = None  # None: models.DEFAULT_MODEL
    revision: str | None = None
    model_file: str | None = None
    model_options: dict = field(default_factory=dict)  # --model-option KEY=VALUE, for a plug-in
    device: str = "auto"
    batch_size: int | None = None
    workers: int | None = None
    thresholds: CheckThresholds = CheckThresholds()
    margin: float = 0.02
    progress: bool = True


@dataclass(frozen=True)
class Photo:
    name: str  # relative to the PHOTOS folder (or glob prefix) it came from
    path: str
    output: str  # the cut-out's file_name in FG


@dataclass(frozen=True)
class Settings:
    """What the worker processes need: where to write, and how to check and crop."""

    out: str
    model_input: object  # matting.ModelInput, or None for a backend that only has `predict`
    thresholds: CheckThresholds
    margin: float
    provenance: dict


@dataclass
class Prepared:
    photo: Photo
    record: dict  # so far: the photo's own facts, or why it was skipped
    model_input: np.ndarray | None = None  # float32 3×S×S for a split backend
    rgb: np.ndarray | None = None  # the decoded photo, kept where it need not cross a process boundary


# -- the photos -----------------------------------------------------------------------------------

def list_photos(specs: list[str], out: Path) -> tuple[list[Photo], list[Skip]]:
    """The photos named by folders, globs and files, sorted by name, each with its cut-out's name; files
    inside FG itself are left out (FG may sit inside the photos' folder)."""
    found: dict[str, Path] = {}
    skips: list[Skip] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise FgBgError(f"'{spec}' is not a PNG, JPEG or WebP file")
            named = [(path.name, path)]
        else:
            named, refused = list_image_files(spec, "photos")
            skips += refused
        for name, p in named:
            if _is_inside(p, out):
                continue
            if name in found and found[name] != p:
                raise FgBgError(f"two photos are named '{name}' ({found[name]} and {p}); give them as one folder "
                                "or rename one")
            found[name] = p
    if not found:
        raise FgBgError(f"no photos in {' '.join(specs)}: give folders, globs or PNG/JPEG/WebP files")
    names = sorted(found)
    stems: dict[str, int] = {}
    for name in names:
        stem = str(PurePosixPath(name).with_suffix(""))
        stems[stem] = stems.get(stem, 0) + 1
    photos = []
    for name in names:
        pure = PurePosixPath(name)
        stem = str(pure.with_suffix(""))
        # photo.jpg and photo.png side by side: each cut-out keeps its photo's type in its name
        output = f"{stem}.png" if stems[stem] == 1 else f"{stem}_{pure.suffix[1:].lower()}.png"
        photos.append(Photo(name, str(found[name]), output))
    return photos, skips


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
        return True
    except ValueError:
        return False


def _category(name: str) -> str | None:
    parent = PurePosixPath(name).parent
    return None if str(parent) == "." else parent.name


# -- one photo, in a worker -----------------------------------------------------------------------

def prepare_photo(photo: Photo, settings: Settings, keep_rgb: bool) -> Prepared:
    """Decode the photo (EXIF orientation applied, any mode made RGB) and, for a split backend, make the
    model's input; a photo that cannot be used becomes a `skipped` record."""
    base = {"source": photo.name, "category": _category(photo.name), "file_name": None}
    try:
        base["source_sha256"] = file_sha256(photo.path)
        rgb = np.asarray(open_photo(photo.path))
    except InputSkipped as exc:
        return Prepared(photo, {**base, "status": "skipped", "skipped": str(exc)})
    except OSError as exc:
        return Prepared(photo, {**base, "source_sha256": base.get("source_sha256"), "status": "skipped",
                                "skipped": f"cannot be read ({exc.strerror or type(exc).__name__})"})
    base.update(width=int(rgb.shape[1]), height=int(rgb.shape[0]))
    thumbnail = photo_thumbnail(rgb)
    write_atomic(thumbnail, records.thumbnail_path(settings.out, photo.name))
    tensor = settings.model_input.preprocess(rgb) if settings.model_input is not None else None
    return Prepared(photo, base, tensor, rgb if keep_rgb or settings.model_input is None else None)


def finish_photo(prepared: Prepared, output: np.ndarray, settings: Settings) -> dict:
    """Probabilities at the photo's size (from the model's logits, or given), the checks on them, and the
    cut-out written as an RGBA PNG; returns the photo's record."""
    photo, record = prepared.photo, dict(prepared.record)
    rgb = prepared.rgb if prepared.rgb is not None else np.asarray(open_photo(photo.path))
    h, w = rgb.shape[:2]
    prob = settings.model_input.restore(output, (h, w)) if settings.model_input is not None else output
    figures, flags = check_probabilities(prob, settings.thresholds)
    made = cutout_rgba(rgb, prob, settings.margin)
    record.update(checks=figures, flags=flags, status="flagged" if flags else "kept", **settings.provenance)
    if made is None:  # not one pixel above alpha 0: there is no cut-out to look at
        record.update(status="skipped", skipped="the model found nothing in the photo", box=None,
                      cutout_sha256=None)
        return record
    image, box = made
    data = encode_png(image)
    write_atomic(data, Path(settings.out) / photo.output)
    record.update(file_name=photo.output, box=list(box), cutout_sha256=hashlib.sha256(data).hexdigest())
    return record


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes that depend on the pixels only (no time or text chunks)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def write_atomic(data: bytes, path: Path) -> None:
    """Write to a hidden temporary beside `path`, then rename: a killed run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FgBgError(f"cannot write '{path}' ({exc.strerror or type(exc).__name__})") from None


_settings: Settings | None = None


def _init_worker(settings: Settings) -> None:
    global _settings
    _settings = settings


def _prepare_in_worker(photo: Photo) -> Prepared:
    return prepare_photo(photo, _settings, keep_rgb=False)


def _finish_in_worker(prepared: Prepared, output: np.ndarray) -> dict:
    return finish_photo(prepared, output, _settings)


# -- the run --------------------------------------------------------------------------------------

def _model_outputs(backend, prepared: list[Prepared]) -> list[np.ndarray]:
    """Logits (a split backend: the batch at once) or probabilities (`predict`, one photo at a time)."""
    if hasattr(backend, "logits") and hasattr(backend, "input"):
        return list(backend.logits(np.stack([p.model_input for p in prepared])))
    return [backend.predict(p.rgb[None])[0] for p in prepared]


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def process_photos(photos: list[Photo], backend, settings: Settings, workers: int, on_record) -> None:
    """Every photo through prepare → model → finish; `on_record(record)` as each one ends. With one
    worker everything runs here; with more, a pool decodes ahead of the model and finishes behind it."""
    batch = max(1, int(getattr(backend, "batch_size", 1) or 1))
    if workers <= 1:
        for chunk in _batches(photos, batch):
            prepared = [prepare_photo(p, settings, keep_rgb=True) for p in chunk]
            ready = [p for p in prepared if "skipped" not in p.record]
            for p in prepared:
                if "skipped" in p.record:
                    on_record(p.record)
            for p, out in zip(ready, _model_outputs(backend, ready) if ready else []):
                on_record(finish_photo(p, out, settings))
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(settings,)) as pool:
        chunks = iter(list(_batches(photos, batch)))
        ahead: deque = deque()
        finishing: set = set()

        def top_up():
            while len(ahead) < PREPARED_AHEAD:
                chunk = next(chunks, None)
                if chunk is None:
                    return
                ahead.append([pool.submit(_prepare_in_worker, p) for p in chunk])

        try:
            top_up()
            while ahead:
                prepared = [f.result() for f in ahead.popleft()]
                top_up()
                ready = [p for p in prepared if "skipped" not in p.record]
                for p in prepared:
                    if "skipped" in p.record:
                        on_record(p.record)
                for p, out in zip(ready, _model_outputs(backend, ready) if ready else []):
                    finishing.add(pool.submit(_finish_in_worker, p, out))
                while len(finishing) > 2 * workers:
                    done, finishing = wait(finishing, return_when=FIRST_COMPLETED)
                    for f in done:
                        on_record(f.result())
            for f in finishing:
                on_record(f.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def recipe(backend, options: CutoutOptions) -> dict:
    """Everything that decides the bytes of FG; its hash is the run's fingerprint."""
    return {"cutout_version": CUTOUT_VERSION, "matting": backend.describe(), "thresholds": asdict(options.thresholds),
            "margin": options.margin, "fusion_radii": list(FUSION_RADII), "png_level": PNG_LEVEL}


def fingerprint_of(rec: dict) -> str:
    return hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()


def _check_folder(out: Path, rec: dict, fingerprint: str) -> None:
    """Refuse a file, a folder of someone else's files, or one a run with other arguments made."""
    if out.exists() and not out.is_dir():
        raise FgBgError(f"--out '{out}' is a file; give a folder")
    manifest = state_path(out, records.MANIFEST)
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text())
        except (OSError, ValueError):
            raise FgBgError(f"'{manifest}' is unreadable; delete '{out}' and run again") from None
        if old.get("fingerprint") != fingerprint:
            before = old.get("recipe", {})
            changed = [k for k in sorted(set(rec) | set(before)) if rec.get(k) != before.get(k)]
            raise FgBgError(f"--out '{out}' holds cut-outs made with another model or other options (differs in: "
                            f"{', '.join(changed) or 'version'}); use another --out or delete it")
        return
    if out.is_dir():
        strangers = sorted(p.name for p in out.iterdir() if p.name != STATE_DIR)
        if strangers:
            raise FgBgError(f"--out '{out}' holds files fgbg-depth did not write (e.g. '{strangers[0]}'); "
                            "choose a new or empty folder")


def _remove_stale_temporaries(out: Path) -> None:
    """The hidden temporaries a killed run can leave beside the files it was writing."""
    for stray in out.rglob(".*.tmp"):
        stray.unlink(missing_ok=True)


def _done(photo: Photo, out: Path, fingerprint: str) -> dict | None:
    """The record of a photo this run's arguments already cut out (its cut-out still there), else None."""
    record = records.read_record(out, photo.name)
    if record is None or record.get("fingerprint") != fingerprint:
        return None
    try:
        if record.get("source_sha256") != file_sha256(photo.path):
            return None
    except OSError:
        return None
    if record.get("file_name") and not (out / record["file_name"]).is_file():
        return None
    return record


def _default_workers(backend) -> int:
    """One on the CPU (the model takes every core itself); with a GPU, enough cores to keep it fed."""
    cores = os.cpu_count() or 1
    return min(8, cores) if getattr(backend, "provider", "") == "CUDAExecutionProvider" else 1


def cutout(options: CutoutOptions) -> dict:
    """Run (or resume) a cut-out run; returns its summary. FG is locked for the whole run."""
    from .models import DEFAULT_MODEL, get_matting
    if options.workers is not None and options.workers < 1:
        raise FgBgError("--workers must be at least 1")
    if options.batch_size is not None and options.batch_size < 1:
        raise FgBgError("--batch-size must be at least 1")
    if not 0 <= options.margin <= 1:
        raise FgBgError("--margin must be between 0 and 1 (a share of the object's longer side)")
    out = Path(options.out).expanduser()
    if out.exists() and not out.is_dir():
        raise FgBgError(f"--out '{out}' is a file; give a folder")
    photos, listing_skips = list_photos(options.photos, out)
    backend = get_matting(options.model or DEFAULT_MODEL, options.revision, options.device, options.batch_size,
                          options.model_file, **options.model_options)
    rec = recipe(backend, options)
    fingerprint = fingerprint_of(rec)
    with FolderLock(out, "cutout"):
        _check_folder(out, rec, fingerprint)
        _remove_stale_temporaries(out)
        records.write_if_changed(state_path(out, records.MANIFEST),
                                 json.dumps({"fingerprint": fingerprint, "recipe": rec}, indent=2, sort_keys=True) + "\n")
        done = {p.name: _done(p, out, fingerprint) for p in photos}
        todo = [p for p in photos if done[p.name] is None]
        info = backend.describe()
        provenance = {k: info.get(k) for k in records.PROVENANCE}
        provenance["fingerprint"] = fingerprint
        settings = Settings(str(out), getattr(backend, "input", None), options.thresholds, options.margin, provenance)
        workers = options.workers or _default_workers(backend)
        bar = _progress(len(photos), len(photos) - len(todo), options.progress)
        made: list[dict] = []

        def on_record(record: dict) -> None:
            record = {**provenance, **record}
            records.write_record(out, record)
            made.append(record)
            bar.update(1)

        try:
            process_photos(todo, backend, settings, workers, on_record)
        finally:
            bar.close()
        all_records = [r for r in done.values() if r is not None] + made
        all_records += [{**provenance, "source": s.name, "category": _category(s.name), "file_name": None,
                         "source_sha256": None, "status": "skipped", "skipped": s.reason} for s in listing_skips]
        return finish_folder(out, all_records, info, resumed=len(photos) - len(todo))


def finish_folder(out: Path, all_records: list[dict], model: dict, resumed: int = 0) -> dict:
    """metadata.jsonl and review.html from the records (each written only if it changed); the summary."""
    columns = ("file_name", "source", "source_sha256", "category", "width", "height", "box", "status", "flags",
               "checks", "skipped", "cutout_sha256", *records.PROVENANCE)
    rows = [{k: r.get(k) for k in columns} for r in all_records]
    for row in rows:
        row["flags"] = row["flags"] or []
    records.write_if_changed(out / records.METADATA, records.metadata_text(rows))
    records.write_if_changed(out / records.REVIEW, render_review(out, rows, model))
    counts = {s: sum(r["status"] == s for r in rows) for s in records.STATUSES}
    return {"out": str(out), "photos": len(rows), "counts": counts, "already_done": resumed, "model": model}


def _progress(total: int, done: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, initial=done, unit=" photos", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True, desc="cutout")
