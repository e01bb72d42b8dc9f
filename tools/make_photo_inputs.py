"""Photo-like benchmark inputs, licence-clean: crops of the photographs scikit-image ships (each public
domain or CC0, see SOURCES) as 10 backgrounds, and 10 cut-outs made of other crops of them under
soft-edged alpha shapes.

    pip install scikit-image && python tools/make_photo_inputs.py

writes bench/photos/backgrounds/*.jpg, bench/photos/foregrounds/*.png and bench/photos/LICENSE.md.
The committed files are what the benchmarks use (bench/pipeline_bench.py --inputs photos); this
script documents how they were made, deterministically for given scikit-image and Pillow builds.
Photographs compress far worse than the bundled drawings, so they show what a user's real inputs
cost: JPEG, resizing and compositing work on detail, not flat colour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1] / "bench" / "photos"
BACKGROUND_SIDE = 320
# (skimage.data function, credit, licence as scikit-image's docstrings state it)
SOURCES = {
    "astronaut": ("NASA (Great Images database)", "public domain"),
    "coffee": ("Rachel Michetti", "CC0"),
    "chelsea": ("Stefan van der Walt", "CC0"),
    "rocket": ("SpaceX", "public domain"),
    "hubble_deep_field": ("NASA", "public domain"),
    "retina": ("Häggström, Mikael (2014), WikiJournal of Medicine", "CC0"),
}
# (source, left, top, side) in source pixels: two squares from each of five photographs
BACKGROUNDS = [("astronaut", 0, 0, 300), ("astronaut", 190, 180, 320), ("coffee", 0, 0, 400),
               ("coffee", 180, 40, 340), ("chelsea", 0, 0, 300), ("chelsea", 140, 0, 300),
               ("rocket", 0, 0, 427), ("rocket", 150, 120, 300), ("hubble_deep_field", 100, 100, 600),
               ("hubble_deep_field", 300, 200, 500)]
# (source, left, top, width, height, shape): the cut-outs' pictures and the shapes that cut them
FOREGROUNDS = [("astronaut", 140, 20, 220, 260, "ellipse"), ("coffee", 200, 90, 240, 220, "blob"),
               ("chelsea", 60, 40, 230, 240, "rounded"), ("rocket", 170, 40, 160, 320, "capsule"),
               ("retina", 400, 400, 420, 420, "blob"), ("hubble_deep_field", 350, 350, 300, 260, "star"),
               ("astronaut", 20, 300, 260, 200, "rounded"), ("coffee", 20, 220, 250, 170, "ellipse"),
               ("chelsea", 150, 120, 140, 170, "star"), ("retina", 100, 650, 380, 300, "capsule")]


def load_photo(name: str) -> Image.Image:
    """One of scikit-image's sample photographs, as RGB."""
    from skimage import data
    arr = getattr(data, name)()
    return Image.fromarray(arr if arr.ndim == 3 else np.stack([arr] * 3, -1)).convert("RGB")


def shape_alpha(kind: str, w: int, h: int, seed: int) -> np.ndarray:
    """A soft-edged silhouette filling most of a w×h frame: values 0..255, ~2 px of soft edge."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = (xx + 0.5) / w * 2 - 1, (yy + 0.5) / h * 2 - 1  # -1..1 across the frame
    rng = np.random.default_rng(seed)
    if kind == "ellipse":
        inside = 1 - np.hypot(u / 0.95, v / 0.95)
    elif kind == "rounded":
        inside = 1 - (np.abs(u / 0.93) ** 6 + np.abs(v / 0.93) ** 6) ** (1 / 6)
    elif kind == "capsule":
        inside = 1 - np.hypot(u / 0.9, np.maximum(np.abs(v) - 0.5, 0) / 0.45)
    elif kind == "star":
        angle, radius = np.arctan2(v, u), np.hypot(u, v)
        inside = 0.6 + 0.3 * np.cos(5 * angle + rng.uniform(0, 6.3)) - radius
    else:  # blob: a few overlapping round lobes
        lobes = [(rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), rng.uniform(0.35, 0.55)) for _ in range(4)]
        inside = np.max([r - np.hypot(u - cx, v - cy) for cx, cy, r in lobes], axis=0)
    hard = np.clip(inside * min(w, h) / 2, 0, 1)  # about one pixel of ramp
    alpha = Image.fromarray((hard * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.5))
    return np.asarray(alpha)


def write_licence(root: Path, title: str, script: str, sources: dict, backgrounds: list, foregrounds: list) -> None:
    """root/LICENSE.md: each photograph's credit and licence, and the files made from it (an entry of
    `backgrounds` or `foregrounds` names its photograph first)."""
    lines = [f"# {title}", "",
             f"Made by `tools/{script}` from the sample photographs that scikit-image ships",
             "(`skimage.data`), whose licences its documentation states as follows. The crops, the alpha",
             "shapes and this folder are released under CC0 as well.", "",
             "| photograph (`skimage.data`) | by | licence | used in |", "| --- | --- | --- | --- |"]
    for name, (credit, licence) in sources.items():
        used = [f"bg{i:02d}" for i, b in enumerate(backgrounds) if b[0] == name]
        used += [f"fg{i:02d}" for i, f in enumerate(foregrounds) if f[0] == name]
        lines.append(f"| `{name}` | {credit} | {licence} | {', '.join(used)} |")
    (root / "LICENSE.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    photos = {name: load_photo(name) for name in SOURCES}
    (ROOT / "backgrounds").mkdir(parents=True, exist_ok=True)
    (ROOT / "foregrounds").mkdir(parents=True, exist_ok=True)
    for i, (name, left, top, side) in enumerate(BACKGROUNDS):
        im = photos[name].crop((left, top, left + side, top + side)).resize((BACKGROUND_SIDE, BACKGROUND_SIDE),
                                                                           Image.Resampling.LANCZOS)
        im.save(ROOT / "backgrounds" / f"bg{i:02d}_{name}.jpg", quality=92)
    for i, (name, left, top, w, h, kind) in enumerate(FOREGROUNDS):
        rgb = np.asarray(photos[name].crop((left, top, left + w, top + h)))
        rgba = np.dstack([rgb, shape_alpha(kind, w, h, seed=i)])
        Image.fromarray(rgba, "RGBA").save(ROOT / "foregrounds" / f"fg{i:02d}_{name}_{kind}.png", optimize=True)
    write_licence(ROOT, "Photo-like benchmark inputs", "make_photo_inputs.py", SOURCES, BACKGROUNDS, FOREGROUNDS)
    print(f"wrote {len(BACKGROUNDS)} backgrounds and {len(FOREGROUNDS)} cut-outs to {ROOT}")


if __name__ == "__main__":
    main()
