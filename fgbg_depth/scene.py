"""A sample's scene: which objects, where, in what order, and who hides whom.

With `--objects K` a scene is the sample's own object (its (bg, fg, flip, k) in the plan, placed as
ever) and K − 1 more, drawn from the sample's own generator stream and placed by the same rule (the
lower in the frame, the larger). They are painted far to near: the higher an object's foot (the
bottom of its box), the farther it is, so it is painted first and nearer ones may hide it, which
is the depth cue the size rule and the planar prior use too. Each is blended (blend.py) and pasted
with its alpha; the instance map holds, per pixel, the 1-based paint-order index of the object seen
there (its silhouette, alpha > 0, unless a nearer silhouette covers it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .blend import BLEND_VERSION, MODES, Blend, apply_blend, check_blend
from .compose import COMPOSE_VERSION, Silhouette
from .errors import FgBgError
from .plan import Placement, place_foreground, place_with

OBJECTS_STREAM = 2  # default_rng([seed, sample_id, OBJECTS_STREAM]) draws a scene's other objects
MAX_OBJECTS = 8
# instance colours for the palette PNG (the Hub viewer shows them): 0 black, then distinct hues
PALETTE = ((0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230))


@dataclass(frozen=True)
class SceneOptions:
    """What a composite is made of beyond one plainly pasted object; the defaults are today's data."""

    blend: str = "none"
    alpha: bool = False
    objects: int = 1

    def check(self) -> None:
        check_blend(self.blend)
        if not 1 <= self.objects <= MAX_OBJECTS:
            raise FgBgError(f"--objects must be between 1 and {MAX_OBJECTS}")

    @property
    def is_default(self) -> bool:
        return self == SceneOptions()

    @property
    def multi(self) -> bool:
        return self.objects > 1

    def recipe(self) -> dict:
        """Only what differs from the defaults, so the fingerprints of default runs stay as they were."""
        return {k: v for k, v in (("blend", self.blend), ("alpha", self.alpha), ("objects", self.objects))
                if v != getattr(SceneOptions(), k)}

    # the recipe keys `versions` writes: what each is called in a message, and its value in a recipe
    # written before the key existed (compositing version 1 wrote none)
    VERSION_KEYS = {"compose_version": ("compositing version", 1), "blend_version": ("blend versions", None)}

    def versions(self) -> dict:
        """The versions of the code that makes these options' pixels, for the recipe: compositing's
        (compose.COMPOSE_VERSION) always, and each blend's that has one (blend.BLEND_VERSION). A
        folder an earlier version wrote then has another fingerprint, and resuming it is refused."""
        modes = MODES if self.blend == "mixed" else (self.blend,)
        versions = {m: BLEND_VERSION[m] for m in modes if m in BLEND_VERSION}
        return {"compose_version": COMPOSE_VERSION, **({"blend_version": versions} if versions else {})}

    @classmethod
    def from_recipe(cls, recorded: dict) -> SceneOptions:
        """The options back from a recipe or the card's arguments (which hold `recipe()`'s keys)."""
        return cls(**{k: recorded[k] for k in ("blend", "alpha", "objects") if k in recorded})


@dataclass(frozen=True)
class SceneObject:
    fg_id: int
    flipped: bool
    placement: Placement
    own: bool = False  # the sample's own object, described by the row's scalar columns


def scene_objects(seed: int, sample_id: int, own_fg: int, own_flip: bool, n_foregrounds: int, aspect_of,
                  count: int) -> list[SceneObject]:
    """The scene's objects in paint order (far to near). `aspect_of(fg_id)` is a cut-out's w / h."""
    objects = [SceneObject(own_fg, own_flip, place_foreground(seed, sample_id, aspect_of(own_fg)), True)]
    if count == 1:
        return objects  # nothing to draw or order (a generator costs more to make than the rest of this)
    rng = np.random.default_rng([seed, sample_id, OBJECTS_STREAM])
    for _ in range(count - 1):
        pick, flip = (float(v) for v in rng.random(2))
        fg = min(int(pick * n_foregrounds), n_foregrounds - 1)
        objects.append(SceneObject(fg, flip < 0.5, place_with(rng, aspect_of(fg))))
    order = sorted(range(len(objects)), key=lambda i: (objects[i].placement.y + objects[i].placement.h, i))
    return [objects[i] for i in order]


@dataclass
class Composite:
    """One sample composited at one resolution."""

    image: np.ndarray  # uint8 res×res×3 (RGB), or ×4 (RGBX: compose.paste_cutout's, the fourth byte filler)
    mask: np.ndarray  # uint8 res×res: 255 where an object is (its silhouette, alpha > 0)
    box: tuple[int, int, int, int]  # the sample's own object
    alpha: np.ndarray | None = None  # uint8 res×res: the weight the objects got
    instances: np.ndarray | None = None  # uint8 res×res: paint-order index of the object seen, 0 none
    objects: list[dict] | None = None  # per object in paint order, boxes in pixels at this resolution
    blend: str | None = None
    extra: dict = field(default_factory=dict)
    # one object pasted as it is (the default scene): its silhouette, which the mask holds at `box` and
    # nowhere else (so its counts are the mask's; the planar prior stands the object on its foot)
    silhouette: Silhouette | None = None


def compose_scene(background: Image.Image, objects: list[SceneObject], cutout, blend: Blend, scale: float,
                  options: SceneOptions) -> Composite:
    """Paint `objects` far to near onto a copy of `background` (RGB, res×res; left as it was).
    `cutout(fg_id, flipped, w, h)` gives a cut-out resized to its box as a Pillow image of the kind
    the blend starts from (blend.CUTOUT_KIND; its fourth band is the alpha); `scale` = res / output
    size (the blend's sizes scale with it)."""
    res = background.height
    # composited by Pillow in C (blend.Layer): its paste rounds exactly as compose.paste, clipped at
    # the frame, and through an RGBa mask it is the premultiplied over operator (tests/test_hot_path.py
    # and tests/test_scene.py hold both to NumPy definitions); pasting 255 through a layer's weight
    # is the coverage update
    canvas = background.copy()
    coverage = Image.new("L", canvas.size, 0) if options.alpha else None
    ids = np.zeros((res, res), np.uint8)  # paint-order index of the object seen; the mask is ids > 0
    boxes, silhouettes, own_box = [], [], None
    for i, obj in enumerate(objects):
        x, y, w, h = obj.placement.box(res)
        cut = cutout(obj.fg_id, obj.flipped, w, h)
        layer = apply_blend(blend, cut, x, y, canvas, scale)  # Poisson reads the frame so far
        layer.paste_onto(canvas)
        if coverage is not None:
            weight = layer.alpha()
            coverage.paste(255, (layer.x, layer.y, layer.x + weight.width, layer.y + weight.height), weight)
        silhouette = np.asarray(cut.getchannel(3)) > 0
        if options.multi:
            ids[y:y + h, x:x + w][silhouette] = i + 1
        else:  # one object: its silhouette is the mask
            ids[y:y + h, x:x + w] = silhouette
        boxes.append((x, y, w, h))
        silhouettes.append(silhouette)
        if obj.own:
            own_box = (x, y, w, h)
    canvas, coverage = np.asarray(canvas), (np.asarray(coverage) if coverage is not None else None)
    records = None
    if options.multi:
        records = []
        for i, (obj, (x, y, w, h), silhouette) in enumerate(zip(objects, boxes, silhouettes)):
            seen = int(np.count_nonzero(ids[y:y + h, x:x + w][silhouette] == i + 1))
            records.append({"fg_id": obj.fg_id, "flipped": obj.flipped, "x": x, "y": y, "w": w, "h": h,
                            "scale": w * h / (res * res), "visible": seen / max(1, int(silhouette.sum()))})
    mask = ids * np.uint8(255) if not options.multi else np.where(ids > 0, 255, 0).astype(np.uint8)
    return Composite(canvas, mask, own_box, alpha=coverage, instances=ids if options.multi else None,
                     objects=records, blend=blend.mode)
