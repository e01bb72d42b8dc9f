"""Training-loop adapters: normalised float32 arrays from a (streaming or not) fgbg-depth dataset.

    inputs  = concat(bg, fg_bg)  float32 6×S×S, each channel (value/255 - mean) / std (train stats)
    targets = (mask, depth)      float32 2×S×S: mask in {0, 1}, depth in metres (0 = unknown)
                                 (1×S×S, the mask alone, for a dataset made with --depth none)

Depth units become metres with the dataset's `depth_scale`: taken from `stats` when it came from
`fgbg_depth.load_stats` (which reads it from the card), else pass `depth_scale=` yourself.
"""

from __future__ import annotations

import numpy as np

from .contract import DEPTH_SCALE


def _chw(image) -> np.ndarray:
    arr = np.asarray(image, dtype=np.float32)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _scale_of(stats, depth_scale: float | None) -> float:
    return depth_scale or getattr(stats, "depth_scale", None) or DEPTH_SCALE


def normalizer(stats: dict, split: str = "train", depth_scale: float | None = None):
    """The per-example function behind `normalized`: a row of the dataset → {"inputs", "targets"}."""
    depth_scale = _scale_of(stats, depth_scale)
    st = stats.get(split, stats)
    scale = {}
    for col in ("bg", "fg_bg"):
        mean = np.asarray(st[col]["mean"], np.float32)[:, None, None]
        std = np.asarray(st[col]["std"], np.float32)[:, None, None]
        scale[col] = (mean, np.where(std > 0, std, 1.0).astype(np.float32))

    def normalize(row: dict) -> dict:
        parts = [(_chw(row[col]) / 255.0 - scale[col][0]) / scale[col][1] for col in ("bg", "fg_bg")]
        targets = [_chw(row["mask"]) / 255.0]
        if row.get("depth") is not None:
            targets.append(_chw(row["depth"]) * np.float32(depth_scale))
        return {"inputs": np.concatenate(parts).astype(np.float32),
                "targets": np.concatenate(targets).astype(np.float32)}

    return normalize


def normalized(ds, stats: dict, split: str = "train", depth_scale: float | None = None):
    """Map a `datasets` Dataset or IterableDataset (one split) to {"inputs", "targets"} float32 arrays,
    normalised with `stats[split]` (the card's channel_stats; see `fgbg_depth.load_stats`)."""
    import datasets

    fn = normalizer(stats, split, depth_scale)
    columns = list(ds.column_names or [])
    if isinstance(ds, datasets.Dataset):
        first = fn(ds[0])
        feats = datasets.Features({k: datasets.Array3D(v.shape, "float32") for k, v in first.items()})
        return ds.map(fn, remove_columns=columns, features=feats).with_format("numpy")
    return ds.map(fn, remove_columns=columns or None)


def as_tf_dataset(ds, batch_size: int, stats: dict | None = None, split: str = "train",
                  depth_scale: float | None = None, drop_remainder: bool = False):
    """A batched, prefetched `tf.data.Dataset` of (inputs, targets): float32 B×6×S×S and B×2×S×S.
    `ds` is a normalised dataset, or a raw one together with `stats`."""
    import tensorflow as tf

    fn = None
    first_row = next(iter(ds))
    if "inputs" not in first_row:
        if stats is None:
            raise ValueError("pass stats= (fgbg_depth.load_stats(...)) or a dataset made by normalized()")
        fn = normalizer(stats, split, depth_scale)
        first_row = fn(first_row)
    shapes = {k: np.asarray(first_row[k]).shape for k in ("inputs", "targets")}

    def rows():
        for row in ds:
            row = fn(row) if fn else row
            yield np.asarray(row["inputs"], np.float32), np.asarray(row["targets"], np.float32)

    signature = (tf.TensorSpec(shapes["inputs"], tf.float32), tf.TensorSpec(shapes["targets"], tf.float32))
    out = tf.data.Dataset.from_generator(rows, output_signature=signature)
    return out.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
