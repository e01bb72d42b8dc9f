"""Small real-photo benchmark inputs, licence-clean: what a new user tries first. 224 px square
background photographs and 200 px cut-outs of people with soft alpha, all made from the photographs
scikit-image ships (each public domain or CC0, see SOURCES).

    pip install scikit-image && python tools/make_small_photo_inputs.py

writes bench/small_photos/backgrounds/*.jpg, bench/small_photos/foregrounds/*.png and
bench/small_photos/LICENSE.md. The committed files are what the benchmarks use
(bench/pipeline_bench.py --inputs small_photos); this script documents how they were made,
deterministically for given scikit-image and Pillow builds. Beside bench/photos (320 px backgrounds,
cut-outs of 140–420 px) they are the cheap end for the notebook way: it pastes small pictures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from make_photo_inputs import load_photo, write_licence  # tools/ is on the path when run as a script

ROOT = Path(__file__).resolve().parents[1] / "bench" / "small_photos"
BACKGROUND_SIDE = 224
CUTOUT_SIDE = 200  # the longer side of every cut-out
# (skimage.data function, credit, licence as scikit-image's docstrings state it)
SOURCES = {
    "astronaut": ("NASA (Great Images database)", "public domain"),
    "camera": ("Lav Varshney", "CC0"),
    "coffee": ("Rachel Michetti", "CC0"),
    "chelsea": ("Stefan van der Walt", "CC0"),
    "rocket": ("SpaceX", "public domain"),
    "hubble_deep_field": ("NASA", "public domain"),
    "grass": ("CC0Textures", "CC0"),
    "gravel": ("CC0Textures", "CC0"),
}
# (source, left, top, side) in source pixels: square crops, each resized to BACKGROUND_SIDE
BACKGROUNDS = [("coffee", 0, 0, 400), ("coffee", 200, 0, 400), ("chelsea", 0, 0, 300),
               ("rocket", 0, 0, 427), ("rocket", 213, 0, 427), ("hubble_deep_field", 200, 150, 600),
               ("astronaut", 330, 0, 182), ("camera", 300, 100, 212), ("grass", 0, 0, 512),
               ("gravel", 0, 0, 512)]
# (source, left, top, width, height, bust): a person in each crop, and the bust drawn around them as
# (head centre across -1..1, head centre down 0..1, head half-width, head half-height, neck down 0..1)
PEOPLE = [("astronaut", 100, 0, 300, 330, (-0.17, 0.27, 0.5, 0.28, 0.45)),
          ("astronaut", 130, 0, 200, 210, (-0.02, 0.48, 0.75, 0.45, 0.85)),
          ("astronaut", 10, 0, 370, 512, (0.16, 0.19, 0.41, 0.19, 0.33)),
          ("camera", 20, 50, 320, 330, (0.19, 0.26, 0.38, 0.22, 0.38)),
          ("camera", 140, 55, 140, 150, (0.0, 0.5, 0.75, 0.45, 0.9)),
          ("camera", 0, 50, 420, 462, (0.0, 0.18, 0.29, 0.17, 0.3))]


def person_alpha(w: int, h: int, bust: tuple[float, float, float, float, float]) -> np.ndarray:
    """A soft-edged bust in a w×h frame (values 0..255): a head ellipse on a torso that widens from
    the neck to the frame's bottom edge, edges ramped over about 3 px."""
    head_u, head_v, head_rx, head_ry, neck = bust
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = (xx + 0.5) / w * 2 - 1, (yy + 0.5) / h  # u: -1..1 across, v: 0..1 down
    head = 1 - np.hypot((u - head_u) / head_rx, (v - head_v) / head_ry)
    half_width = 0.45 + 0.53 * np.clip((v - neck) / max(1 - neck, 1e-6) * 2, 0, 1)  # shoulders below the neck
    torso = np.minimum(half_width - np.abs(u - head_u * (1 - np.clip((v - neck) * 3, 0, 1))), (v - neck) * 4)
    inside = np.maximum(head, torso) * min(w, h) / 2
    alpha = Image.fromarray((np.clip(inside, 0, 1) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2.0))
    return np.asarray(alpha)


def main() -> None:
    photos = {name: load_photo(name) for name in SOURCES}
    for sub in ("backgrounds", "foregrounds"):
        (ROOT / sub).mkdir(parents=True, exist_ok=True)
    for i, (name, left, top, side) in enumerate(BACKGROUNDS):
        im = photos[name].crop((left, top, left + side, top + side))
        im.resize((BACKGROUND_SIDE, BACKGROUND_SIDE), Image.Resampling.LANCZOS).save(
            ROOT / "backgrounds" / f"bg{i:02d}_{name}.jpg", quality=90)
    for i, (name, left, top, w, h, bust) in enumerate(PEOPLE):
        scale = CUTOUT_SIDE / max(w, h)
        size = (round(w * scale), round(h * scale))
        rgb = np.asarray(photos[name].crop((left, top, left + w, top + h)).resize(size, Image.Resampling.LANCZOS))
        alpha = person_alpha(*size, bust)
        rgb = np.where(alpha[..., None] > 0, rgb, 0).astype(np.uint8)  # hidden colours as a matting tool leaves them
        Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(ROOT / "foregrounds" / f"fg{i:02d}_{name}_person.png",
                                                              optimize=True)
    write_licence(ROOT, "Small real-photo benchmark inputs", "make_small_photo_inputs.py", SOURCES, BACKGROUNDS,
                  PEOPLE)
    print(f"wrote {len(BACKGROUNDS)} backgrounds and {len(PEOPLE)} cut-outs to {ROOT}")


if __name__ == "__main__":
    main()
