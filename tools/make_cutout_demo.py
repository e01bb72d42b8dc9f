"""Plain photos and a stand-in matting model for trying `fgbg-depth cutout` where BiRefNet cannot be fetched.

    python tools/make_cutout_demo.py DEMO

writes
    DEMO/photos/<category>/*.jpg   objects (the CC0 / public-domain crops of bench/photos) photographed, so to
                                   speak, in front of a saturated green backdrop with a soft edge, in two
                                   categories; and five photos that a careful user would want flagged: an
                                   empty backdrop, an object cut by the frame, two objects, a photo with no
                                   backdrop at all, and a ghostly half-transparent object
    DEMO/chroma-key/               a model folder in BiRefNet's ONNX layout (onnx/model.onnx,
                                   preprocessor_config.json, README.md) whose network is a green-screen
                                   key: logits = 0.25 · (distance of the pixel from the backdrop green − 70)

The key is no BiRefNet: it finds whatever is not green. It exists so that every step after the model
(checks, colour estimate, records, review page, `generate --foregrounds`) can be run and looked at on
a machine that cannot download model weights. Needs the `onnx` package (`pip install onnx`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
CUTOUTS = ROOT / "bench" / "photos" / "foregrounds"
GREEN = (20, 200, 40)  # the backdrop, and the colour the stand-in model keys out
SIZE = (360, 270)
MODEL_SIZE = 256
CATEGORIES = {"round": ("ellipse", "blob", "rounded"), "pointed": ("star", "capsule")}


def backdrop(seed: int, size: tuple[int, int] = SIZE) -> Image.Image:
    """A green studio backdrop: the colour, a gentle vertical falloff and a little sensor noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    shade = np.linspace(1.0, 0.85, h)[:, None, None]
    pixels = np.asarray(GREEN, np.float64)[None, None] * shade + rng.normal(0, 3, (h, w, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def soften(cutout: Image.Image, radius: float = 1.5) -> Image.Image:
    """The cut-out with a slightly blurred alpha: the soft edge a lens and motion give a real object."""
    alpha = cutout.getchannel("A").filter(ImageFilter.GaussianBlur(radius))
    out = cutout.copy()
    out.putalpha(alpha)
    return out


def place(photo: Image.Image, cutout: Image.Image, centre: tuple[float, float], height: float,
          opacity: float = 1.0) -> Image.Image:
    """`cutout` pasted with its alpha at `centre` (fractions of the frame), `height` of the frame tall."""
    h = max(8, round(height * photo.height))
    w = max(8, round(cutout.width * h / cutout.height))
    piece = soften(cutout.resize((w, h), Image.Resampling.LANCZOS))
    if opacity < 1:
        piece.putalpha(piece.getchannel("A").point(lambda a: round(a * opacity)))
    x, y = round(centre[0] * photo.width - w / 2), round(centre[1] * photo.height - h / 2)
    photo = photo.copy()
    photo.paste(piece, (x, y), piece)
    return photo


def category_of(name: str) -> str:
    return next(c for c, shapes in CATEGORIES.items() if any(s in name for s in shapes))


def make_photos(folder: Path, size: tuple[int, int] = SIZE) -> list[Path]:
    cutouts = {p.stem: Image.open(p).convert("RGBA") for p in sorted(CUTOUTS.glob("*.png"))}
    names = sorted(cutouts)
    written = []

    def save(image: Image.Image, name: str) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=92)
        written.append(path)

    for i, name in enumerate(names[:6]):  # good photos: one object, whole, in the middle
        centre = (0.5 + 0.08 * ((i % 3) - 1), 0.52)
        save(place(backdrop(i, size), cutouts[name], centre, 0.62), f"{category_of(name)}/{name[5:]}.jpg")
    first, second = cutouts[names[6]], cutouts[names[7]]
    save(backdrop(10, size), "doubtful/empty_backdrop.jpg")
    save(place(backdrop(11, size), first, (0.08, 0.5), 0.7), "doubtful/cut_by_the_frame.jpg")
    save(place(place(backdrop(12, size), first, (0.25, 0.5), 0.45), second, (0.75, 0.5), 0.45),
         "doubtful/two_objects.jpg")
    no_backdrop = Image.open(ROOT / "bench" / "photos" / "backgrounds" / "bg02_coffee.jpg").convert("RGB")
    save(no_backdrop.resize(size, Image.Resampling.BILINEAR), "doubtful/no_backdrop.jpg")
    save(place(backdrop(13, size), second, (0.5, 0.5), 0.6, opacity=0.35), "doubtful/ghost.jpg")
    return written


def make_model(folder: Path, model_size: int = MODEL_SIZE) -> Path:
    """The chroma key as an ONNX file in BiRefNet's layout (input_image N×3×S×S → output_image N×1×S×S)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def constant(name, values, shape=()):
        return numpy_helper.from_array(np.asarray(values, np.float32).reshape(shape), name)

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    nodes = [
        helper.make_node("Mul", ["input_image", "std"], ["unit_scaled"]),
        helper.make_node("Add", ["unit_scaled", "mean"], ["unit"]),
        helper.make_node("Mul", ["unit", "to_255"], ["pixel"]),
        helper.make_node("Sub", ["pixel", "key"], ["difference"]),
        helper.make_node("Mul", ["difference", "difference"], ["squared"]),
        helper.make_node("ReduceSum", ["squared", "channel_axis"], ["distance_squared"], keepdims=1),
        helper.make_node("Sqrt", ["distance_squared"], ["distance"]),
        helper.make_node("Sub", ["distance", "threshold"], ["margin"]),
        helper.make_node("Mul", ["margin", "gain"], ["output_image"]),
    ]
    initializers = [constant("std", std, (1, 3, 1, 1)), constant("mean", mean, (1, 3, 1, 1)),
                    constant("to_255", 255.0), constant("key", GREEN, (1, 3, 1, 1)),
                    numpy_helper.from_array(np.asarray([1], np.int64), "channel_axis"),
                    constant("threshold", 70.0), constant("gain", 0.25)]
    shape_in = ["N", 3, model_size, model_size]
    graph = helper.make_graph(nodes, "chroma_key",
                              [helper.make_tensor_value_info("input_image", TensorProto.FLOAT, shape_in)],
                              [helper.make_tensor_value_info("output_image", TensorProto.FLOAT,
                                                             ["N", 1, model_size, model_size])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9,
                              producer_name="fgbg-depth tools/make_cutout_demo.py")
    onnx.checker.check_model(model)
    path = folder / "onnx" / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "do_resize": True, "size": {"height": model_size, "width": model_size}, "resample": 2, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": list(mean), "image_std": list(std)}, indent=2))
    (folder / "README.md").write_text("---\nlicense: cc0-1.0\n---\nA green-screen key in BiRefNet's ONNX layout, "
                                      "made by fgbg-depth's tools/make_cutout_demo.py: not a trained model.\n")
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = Path(argv[0])
    photos = make_photos(out / "photos")
    model = make_model(out / "chroma-key")
    print(f"wrote {len(photos)} photos under {out / 'photos'} and the stand-in model {model.parent.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
