"""What a dataset made by fgbg-depth is: the output folder's files and run state, the columns of a shard
and their `datasets` features, the units of depth, and the card's YAML front matter.

The bottom of the package: every module above reads the format from here, and this one imports
nothing of fgbg-depth's. `../shared/DESIGN.md` ("Dataset contract") is the prose of the same facts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa

# -- the output folder (= a Hub dataset repository) -------------------------------------------------
FORMAT_VERSION = 1  # of the shards' layout; in every run's recipe, so a change refuses old folders
STATE_DIR = ".fgbg-depth"  # run state inside OUT: manifest, markers, report, lock; never uploaded
OWN_ENTRIES = frozenset({"README.md", "stats.json", "data", "sources", STATE_DIR})


def state_path(out, *parts: str) -> Path:
    """A path inside OUT's run state: `manifest.json` (the recipe and its fingerprint), `report.json`
    (what the run did), `shards/<split>-<i>.json` (done-markers), `tmp/` (shard temporaries), `lock`."""
    return Path(out).joinpath(STATE_DIR, *parts)


def marker_name(split: str, index: int) -> str:
    return f"{split}-{index:05d}.json"


# -- depth: metres = stored value × depth_scale ------------------------------------------------------
DEPTH_SCALE = 10.0 / 65535.0  # metres per stored unit for a 10 m range (DenseDepth, planar) over 16 bits
DEPTH_QUANTUM = 64  # its step: 64 units, 9.8 mm
DEPTH_STEP_M = 0.01  # the step aimed at, whatever the range: ~1 cm, far finer than any of the models resolve
# (DenseDepth's NYU error is ~12% of the distance; Depth Anything V2's ~5%), coarse enough that the PNG
# stays small.


def depth_scale_for(max_m: float) -> float:
    """Metres per stored unit: 65535 units span the backend's range, so the Hub viewer (which shows a
    16-bit PNG by its high byte) shows all of it."""
    return float(max_m) / 65535.0


def depth_quantum_for(scale: float) -> int:
    """The step in stored units: the largest power of two not above DEPTH_STEP_M (64 for 10 m, 32 for
    20 m, 8 for 80 m; all 9.8 mm)."""
    return 1 << max(0, math.floor(math.log2(DEPTH_STEP_M / scale)))


def quantize_depth(metres: np.ndarray, scale: float, quantum: int = DEPTH_QUANTUM) -> np.ndarray:
    """Metres → uint16 units of `scale`, rounded to multiples of `quantum`; non-positive or
    non-finite depth becomes 0 (unknown)."""
    valid = np.isfinite(metres) & (metres > 0)
    top = 65535 // quantum * quantum
    steps = np.rint(np.where(valid, metres, 0) / (scale * quantum))
    q = np.clip(steps * quantum, quantum, top).astype(np.uint16)
    return np.where(valid, q, 0).astype(np.uint16)


# -- the columns of a data shard ---------------------------------------------------------------------
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # how `datasets` stores an Image
IMAGE_COLUMNS = ("fg_bg", "bg", "mask", "depth")
METADATA_COLUMNS = (
    ("sample_id", pa.int64()), ("bg_id", pa.int32()), ("fg_id", pa.int32()),
    ("bg_name", pa.string()), ("fg_name", pa.string()), ("flipped", pa.bool_()),
    ("placement", pa.int16()), ("x", pa.int32()), ("y", pa.int32()), ("w", pa.int32()),
    ("h", pa.int32()), ("scale", pa.float32()),
)
OBJECT_FIELDS = (("fg_id", pa.int32()), ("fg_name", pa.string()), ("flipped", pa.bool_()), ("x", pa.int32()),
                 ("y", pa.int32()), ("w", pa.int32()), ("h", pa.int32()), ("scale", pa.float32()),
                 ("visible", pa.float32()))
CATEGORY = ("category", pa.int64())  # a ClassLabel: ids into the run's category names, as `datasets` stores one


def objects_type(categories=None) -> pa.DataType:
    """The `objects` column: per object its record, with its `category` when the run has categories."""
    fields = OBJECT_FIELDS + ((CATEGORY,) if categories else ())
    return pa.list_(pa.field("element", pa.struct(list(fields))))  # Parquet names list items "element"
# each image column's stored format and the modes a reader may see, and the unit of its decoded values
STORED_AS = {"fg_bg": ("JPEG", ("RGB",)), "bg": ("JPEG", ("RGB",)), "mask": ("PNG", ("L",)),
             "depth": ("PNG", ("I;16", "I;16B", "I")), "alpha": ("PNG", ("L",)), "instances": ("PNG", ("P",))}
VALUE_UNITS = {"fg_bg": 1 / 255, "bg": 1 / 255, "mask": 1 / 255, "alpha": 1 / 255, "instances": 1}  # depth: depth_scale
_DTYPE_NAMES = {pa.int64(): "int64", pa.int32(): "int32", pa.int16(): "int16", pa.string(): "string",
                pa.bool_(): "bool", pa.float32(): "float32"}


def image_columns(with_depth: bool, scene=None) -> tuple[str, ...]:
    """The image columns of a shard: today's four (three without depth), then `alpha` (--alpha) and
    `instances` (--objects K > 1) when asked for. `scene` is a SceneOptions (or None: the defaults)."""
    out = IMAGE_COLUMNS if with_depth else IMAGE_COLUMNS[:3]
    if scene is not None and scene.alpha:
        out += ("alpha",)
    if scene is not None and scene.multi:
        out += ("instances",)
    return out


def extra_columns(scene=None, categories=None) -> tuple[tuple[str, pa.DataType], ...]:
    """Columns after the metadata ones: `category` (the foregrounds have categories: `categories` is
    their names), `objects` (K > 1) and `blend` (a blend mode other than none)."""
    out = (CATEGORY,) if categories else ()
    if scene is not None and scene.multi:
        out += (("objects", objects_type(categories)),)
    if scene is not None and scene.blend != "none":
        out += (("blend", pa.string()),)
    return out


def _feature(name: str, dtype: pa.DataType, categories=None) -> dict:
    if (name, dtype) == CATEGORY and categories:
        return {"names": list(categories), "_type": "ClassLabel"}
    if pa.types.is_list(dtype):
        item = dtype.value_type
        return {"feature": {item.field(i).name: _feature(item.field(i).name, item.field(i).type, categories)
                            for i in range(item.num_fields)}, "_type": "List"}
    return {"dtype": _DTYPE_NAMES[dtype], "_type": "Value"}


def features(with_depth: bool, scene=None, categories=None) -> dict:
    """The `datasets` Features of a data shard, in `Features.to_dict()` form."""
    out = {name: {"_type": "Image"} for name in image_columns(with_depth, scene)}
    for name, dtype in (*METADATA_COLUMNS, *extra_columns(scene, categories)):
        out[name] = _feature(name, dtype, categories)
    return out


def schema(with_depth: bool, scene=None, categories=None) -> pa.Schema:
    """The Arrow schema of a data shard, with the `huggingface` metadata key that declares its features."""
    fields = [pa.field(name, IMAGE) for name in image_columns(with_depth, scene)]
    fields += [pa.field(name, dtype) for name, dtype in (*METADATA_COLUMNS, *extra_columns(scene, categories))]
    meta = {"huggingface": json.dumps({"info": {"features": features(with_depth, scene, categories)}})}
    return pa.schema(fields, metadata=meta)


# -- categories ---------------------------------------------------------------------------------------
def folder_categories(names: list[str]) -> dict[str, str] | None:
    """ImageFolder's rule: a file's category is its parent folder's name, when every file sits at the
    same depth and there is more than one such name; else there are none (None)."""
    parents = {name: name.rsplit("/", 1)[0].rsplit("/", 1)[-1] if "/" in name else None for name in names}
    depths = {name.count("/") for name in names}
    labels = set(parents.values())
    if len(depths) != 1 or len(labels) < 2 or None in labels:
        return None
    return parents


# -- the `sources` config: the input files themselves -------------------------------------------------
SOURCE_COLUMNS = (("id", pa.int32()), ("name", pa.string()), ("sha256", pa.string()),
                  ("width", pa.int32()), ("height", pa.int32()))


def source_features() -> dict:
    out = {"image": {"_type": "Image"}}
    out.update({name: {"dtype": _DTYPE_NAMES[dtype], "_type": "Value"} for name, dtype in SOURCE_COLUMNS})
    return out


def source_schema() -> pa.Schema:
    fields = [pa.field("image", IMAGE)] + [pa.field(n, t) for n, t in SOURCE_COLUMNS]
    return pa.schema(fields, metadata={"huggingface": json.dumps({"info": {"features": source_features()}})})


# -- the dataset card -----------------------------------------------------------------------------
def read_card_metadata(text: str) -> dict:
    """The YAML front matter of a dataset (or model) card, as a dict (empty if there is none)."""
    import yaml
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    return yaml.safe_load(text[3:end]) or {}
