"""Find, open and validate backgrounds and foregrounds; the bundled sample inputs."""

from __future__ import annotations

import glob
import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .contract import folder_categories
from .errors import FgBgError, InputSkipped

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MIN_SIDE = 16  # an input smaller than this on either side carries too little to composite
MAX_PIXELS = 40_000_000  # refuse anything larger: a decompression bomb or a photo far too big for this use
SAMPLES = Path(__file__).resolve().parent / "samples"

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass(frozen=True)
class SourceFile:
    """One usable input image. `id` is its position in the sorted list of usable files."""

    id: int
    name: str
    path: str
    sha256: str
    width: int
    height: int
    category: int | None = None  # index into Inputs.categories, for foregrounds that have categories


@dataclass(frozen=True)
class Skip:
    role: str
    name: str
    reason: str

    def as_dict(self):
        return {"role": self.role, "name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class Inputs:
    backgrounds: tuple[SourceFile, ...]
    foregrounds: tuple[SourceFile, ...]
    skipped: tuple[Skip, ...]
    categories: tuple[str, ...] | None = None  # the foregrounds' category names (a ClassLabel's), if any


def default_backgrounds() -> str:
    return str(SAMPLES / "backgrounds")


def default_foregrounds() -> str:
    return str(SAMPLES / "foregrounds")


def list_image_files(spec: str, role: str) -> tuple[list[tuple[str, Path]], list[Skip]]:
    """Files named by a folder or a glob, as (name, path) sorted by name, plus the entries refused.

    The name is the path relative to the folder (or to the glob's fixed prefix), so it is stable
    across machines. Symbolic links that lead outside the folder are refused.
    """
    path = Path(spec).expanduser()
    skips: list[Skip] = []
    if glob.has_magic(spec):
        root = Path(_fixed_prefix(spec)).expanduser()
        candidates = [Path(p) for p in glob.glob(str(path), recursive=True)]
    elif path.is_dir():
        root = path
        candidates = [p for p in path.rglob("*")]
    elif path.exists():
        raise FgBgError(f"--{role} must be a folder or a glob of images, not the file '{spec}'")
    else:
        raise FgBgError(f"--{role} '{spec}' does not exist; pass a folder or glob of PNG/JPEG/WebP files")
    real_root = os.path.realpath(root)
    found = []
    for p in candidates:
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        name = p.relative_to(root).as_posix() if _is_under(p, root) else p.name
        if any(part.startswith(".") for part in name.split("/")):  # hidden files and folders (run state)
            continue
        if p.is_symlink() and not _is_under_real(os.path.realpath(p), real_root):
            skips.append(Skip(role, name, "symbolic link to a file outside the input folder"))
            continue
        if not p.is_file():
            continue
        found.append((name, p))
    found.sort(key=lambda item: item[0])
    if not found and not skips:
        raise FgBgError(f"--{role} '{spec}' holds no PNG, JPEG or WebP files")
    return found, skips


def _fixed_prefix(pattern: str) -> str:
    parts = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return str(Path(*parts)) if parts else "."


def _is_under(p: Path, root: Path) -> bool:
    try:
        p.relative_to(root)
        return True
    except ValueError:
        return False


def _is_under_real(real: str, real_root: str) -> bool:
    return os.path.commonpath([real, real_root]) == real_root


def _open_checked(path: Path) -> Image.Image:
    """Open and fully decode an image, turning every failure into InputSkipped with a reason."""
    try:
        if path.stat().st_size == 0:
            raise InputSkipped("empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
            im.load()
    except InputSkipped:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputSkipped(f"declares more than {MAX_PIXELS:,} pixels (possible decompression bomb)")
    except Image.UnidentifiedImageError:
        raise InputSkipped("not an image Pillow can read")
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputSkipped(f"cannot be decoded ({_short(exc)})")
    if im.width < MIN_SIDE or im.height < MIN_SIDE:
        raise InputSkipped(f"is {im.width}x{im.height}; inputs must be at least {MIN_SIDE}x{MIN_SIDE} pixels")
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block is no reason to lose the picture
        return im


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def _wide_to_8bit(im: Image.Image) -> Image.Image:
    """16- or 32-bit grey to 8-bit by the value range actually used (Pillow's convert would clip)."""
    arr = np.asarray(im, dtype=np.float64)
    top = 65535.0 if arr.max() > 255 else 255.0
    return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")


def open_background(path) -> Image.Image:
    """A background as RGB, whatever its mode (palette, CMYK, grey, 16-bit, with or without alpha)."""
    im = _open_checked(Path(path))
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        im = _wide_to_8bit(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        flat = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(flat, im)
    return im.convert("RGB")


open_photo = open_background  # a photo to cut out is opened as a background is: RGB, whatever its mode


def open_foreground(path) -> Image.Image:
    """A foreground as RGBA cropped to its opaque pixels; refuses images without real transparency."""
    im = _open_checked(Path(path))
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if not has_alpha:
        raise InputSkipped("has no transparency: foregrounds must be cut-outs with an alpha channel")
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        raise InputSkipped("is a 16-bit image with a transparency key; save it as 8-bit RGBA")
    im = im.convert("RGBA")
    alpha = im.getchannel("A")
    lo, hi = alpha.getextrema()
    if hi == 0:
        raise InputSkipped("is fully transparent")
    if lo == 255:
        raise InputSkipped("alpha channel is fully opaque: foregrounds must be cut-outs")
    box = alpha.point(lambda a: 255 if a > 0 else 0).getbbox()
    im = im.crop(box)
    if im.width < MIN_SIDE or im.height < MIN_SIDE:
        raise InputSkipped(f"the visible object is {im.width}x{im.height}; it must be at least {MIN_SIDE}x{MIN_SIDE}")
    return im


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Listing:
    """The files an input spec names, before they are opened: (name, path) sorted by name, the entries
    refused while listing, and the files' categories (name → category name) with the category names in
    their ClassLabel order. A local folder or glob is listed by `list_inputs`; a Hub dataset elsewhere."""

    where: str  # for messages: the folder, glob or Hub address
    files: list[tuple[str, Path]]
    skips: list[Skip]
    categories: dict[str, str] | None = None
    category_names: list[str] | None = None


def list_inputs(spec: str, role: str) -> Listing:
    """A local folder or glob; for foregrounds, categories by ImageFolder's folder rule."""
    files, skips = list_image_files(spec, role)
    categories = folder_categories([name for name, _ in files]) if role == "foregrounds" else None
    return Listing(spec, files, skips, categories, sorted(set(categories.values())) if categories else None)


def _validate(role: str, listing: Listing, opener, screen=None) -> tuple[tuple[SourceFile, ...], list[Skip]]:
    skips = list(listing.skips)
    ids = {c: i for i, c in enumerate(listing.category_names or [])}
    usable: list[SourceFile] = []
    seen: dict[str, str] = {}
    for name, path in listing.files:
        try:
            digest = file_sha256(path)
        except OSError as exc:
            skips.append(Skip(role, name, f"cannot be read ({_short(exc)})"))
            continue
        if digest in seen:
            skips.append(Skip(role, name, f"same content as {seen[digest]}"))
            continue
        refused = screen(name, digest) if screen is not None else None
        if listing.categories and name not in listing.categories:
            refused = "has no category (its label is missing) while the others have one"
        if refused:
            skips.append(Skip(role, name, refused))
            continue
        try:
            im = opener(path)
        except InputSkipped as exc:
            skips.append(Skip(role, name, str(exc)))
            continue
        seen[digest] = name
        category = ids[listing.categories[name]] if listing.categories else None
        usable.append(SourceFile(len(usable), name, str(path), digest, im.width, im.height, category))
    if not usable:
        detail = f"; first problem: {skips[0].name}: {skips[0].reason}" if skips else ""
        raise FgBgError(f"no usable {role} in '{listing.where}' ({len(skips)} skipped{detail})")
    return tuple(usable), skips


def load_inputs(backgrounds: str | Listing | None, foregrounds: str | Listing | None, screen_foreground=None) -> Inputs:
    """Validate every input once; unusable files become recorded skips, none usable is an error. Each
    input is a folder or glob (None: the bundled samples) or a Listing made elsewhere (a Hub dataset).
    `screen_foreground(name, sha256)` may refuse a foreground with a reason (a cut-out folder's records)."""
    bg = backgrounds if isinstance(backgrounds, Listing) else list_inputs(backgrounds or default_backgrounds(),
                                                                          "backgrounds")
    fg = foregrounds if isinstance(foregrounds, Listing) else list_inputs(foregrounds or default_foregrounds(),
                                                                          "foregrounds")
    bgs, bg_skips = _validate("backgrounds", bg, open_background)
    fgs, fg_skips = _validate("foregrounds", fg, open_foreground, screen_foreground)
    names = tuple(fg.category_names) if fg.categories else None
    return Inputs(bgs, fgs, tuple(bg_skips + fg_skips), names)
