"""Parquet shards with Hugging Face `Image` features, written atomically."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import FgBgError

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
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
OBJECTS = pa.list_(pa.field("element", pa.struct(list(OBJECT_FIELDS))))  # Parquet names list items "element"
ROW_GROUP_ROWS = 100  # as `datasets` writes image datasets: the viewer and streaming read one group at a time
ROW_GROUP_BYTES = 64_000_000  # the viewer and streaming want row groups ≤ 100 MB
_DTYPE_NAMES = {pa.int64(): "int64", pa.int32(): "int32", pa.int16(): "int16", pa.string(): "string",
                pa.bool_(): "bool", pa.float32(): "float32"}


def image_columns(with_depth: bool, scene=None) -> tuple[str, ...]:
    """The image columns of a shard: today's four (three without depth), then `alpha` (--alpha) and
    `instances` (--objects K > 1) when asked for."""
    out = IMAGE_COLUMNS if with_depth else IMAGE_COLUMNS[:3]
    if scene is not None and scene.alpha:
        out += ("alpha",)
    if scene is not None and scene.multi:
        out += ("instances",)
    return out


def extra_columns(scene=None) -> tuple[tuple[str, pa.DataType], ...]:
    """Columns after the metadata ones: `objects` (K > 1) and `blend` (a blend mode other than none)."""
    out = ()
    if scene is not None and scene.multi:
        out += (("objects", OBJECTS),)
    if scene is not None and scene.blend != "none":
        out += (("blend", pa.string()),)
    return out


def _feature(dtype: pa.DataType) -> dict:
    if dtype == OBJECTS:
        return {"feature": {name: _feature(t) for name, t in OBJECT_FIELDS}, "_type": "List"}
    return {"dtype": _DTYPE_NAMES[dtype], "_type": "Value"}


def features(with_depth: bool, scene=None) -> dict:
    """The `datasets` Features of a data shard, in `Features.to_dict()` form."""
    out = {name: {"_type": "Image"} for name in image_columns(with_depth, scene)}
    for name, dtype in (*METADATA_COLUMNS, *extra_columns(scene)):
        out[name] = _feature(dtype)
    return out


def schema(with_depth: bool, scene=None) -> pa.Schema:
    fields = [pa.field(name, IMAGE) for name in image_columns(with_depth, scene)]
    fields += [pa.field(name, dtype) for name, dtype in (*METADATA_COLUMNS, *extra_columns(scene))]
    meta = {"huggingface": json.dumps({"info": {"features": features(with_depth, scene)}})}
    return pa.schema(fields, metadata=meta)


SOURCE_COLUMNS = (("id", pa.int32()), ("name", pa.string()), ("sha256", pa.string()),
                  ("width", pa.int32()), ("height", pa.int32()))


def source_features() -> dict:
    out = {"image": {"_type": "Image"}}
    out.update({name: {"dtype": _DTYPE_NAMES[dtype], "_type": "Value"} for name, dtype in SOURCE_COLUMNS})
    return out


def source_schema() -> pa.Schema:
    fields = [pa.field("image", IMAGE)] + [pa.field(n, t) for n, t in SOURCE_COLUMNS]
    return pa.schema(fields, metadata={"huggingface": json.dumps({"info": {"features": source_features()}})})


def _row_group_bounds(byte_sizes: list[int]) -> list[tuple[int, int]]:
    """Consecutive [start, stop) runs of rows, each ≤ ROW_GROUP_ROWS rows and ≈ ROW_GROUP_BYTES."""
    bounds, start, acc = [], 0, 0
    for i, size in enumerate(byte_sizes):
        if i > start and (i - start >= ROW_GROUP_ROWS or acc + size > ROW_GROUP_BYTES):
            bounds.append((start, i))
            start, acc = i, 0
        acc += size
    if start < len(byte_sizes) or not bounds:
        bounds.append((start, len(byte_sizes)))
    return bounds


def _leaves(name: str, dtype: pa.DataType) -> list[str]:
    """Parquet's leaf column paths of an Arrow field (what per-column writer options name)."""
    if pa.types.is_struct(dtype):
        return [leaf for i in range(dtype.num_fields) for leaf in _leaves(f"{name}.{dtype.field(i).name}", dtype.field(i).type)]
    if pa.types.is_list(dtype):
        return _leaves(f"{name}.list.element", dtype.value_type)
    return [name]


def _writer_options(table: pa.Table) -> dict:
    image_leaves = [f"{f.name}.{leaf}" for f in table.schema if f.type == IMAGE for leaf in ("bytes", "path")]
    plain = [leaf for f in table.schema if f.type != IMAGE for leaf in _leaves(f.name, f.type)]
    compression = {leaf: "none" for leaf in image_leaves}  # JPEG and PNG bytes do not shrink further
    compression.update({name: "zstd" for name in plain})
    dictionary = [f"{name}.{leaf}" for name in ("bg",) if name in table.schema.names for leaf in ("bytes", "path")]
    dictionary += [name for name in ("bg_name", "fg_name", "name", "blend") if name in table.schema.names]
    return dict(compression=compression, use_dictionary=dictionary, write_statistics=plain,
                dictionary_pagesize_limit=64 << 20, write_page_checksum=True)


def write_table_atomic(table: pa.Table, final_path: Path, tmp_dir: Path) -> tuple[int, str, int]:
    """Write `table` to a temporary file, read it back, fsync it, then rename it to `final_path`.

    Returns (size in bytes, sha256, `arrow_nbytes` of the table as read back: the `num_bytes` the
    card reports). A crash leaves at most a file in `tmp_dir`, never a partial shard under its final
    name. A full disk becomes a one-line FgBgError.
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{final_path.name}.{uuid.uuid4().hex[:8]}.tmp"
    sizes = _row_image_bytes(table)
    try:
        with pq.ParquetWriter(tmp, table.schema, **_writer_options(table)) as writer:
            for start, stop in _row_group_bounds(sizes):
                writer.write_table(table.slice(start, stop - start), row_group_size=stop - start)
        arrow_bytes = arrow_nbytes(pq.read_table(tmp))  # also proves the file reads back whole
        digest = hashlib.sha256()
        with open(tmp, "rb+") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
            os.fsync(f.fileno())
        os.replace(tmp, final_path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise FgBgError(f"disk full while writing {final_path.name}; free space and run the same "
                            "command again (finished shards are kept)") from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final_path.stat().st_size, digest.hexdigest(), arrow_bytes


def arrow_nbytes(table: pa.Table) -> int:
    """The Arrow size of a table's values laid out as one chunk per column: the card's `num_bytes`.

    It is counted from the values (lengths and null counts), not from the buffers a reader happened
    to allocate, so a shard read back in any chunking (per row group, per batch) gives the figure it
    had when it was written. `generate`, `verify` and the sources writer all take it from here."""
    return sum(_values_nbytes(column.type, column.chunks) for column in table.columns)


def split_figures(parts, splits=()) -> dict:
    """{split: {"num_examples", "num_bytes", "download_size"}}: the card's dataset_info figures, summed
    over (split, rows, arrow_nbytes, file bytes) per Parquet file. `finalize` feeds it what the
    writers recorded, `verify` what it reads back from the files, so the two cannot define them apart.
    Every name in `splits` is present, with zeros if no file belongs to it."""
    out: dict = {split: {"num_examples": 0, "num_bytes": 0, "download_size": 0} for split in splits}
    for split, rows, nbytes, file_bytes in parts:
        fig = out.setdefault(split, {"num_examples": 0, "num_bytes": 0, "download_size": 0})
        fig["num_examples"] += rows
        fig["num_bytes"] += nbytes
        fig["download_size"] += file_bytes
    return out


def _values_nbytes(dtype: pa.DataType, chunks: list) -> int:
    rows = sum(len(c) for c in chunks)
    validity = (rows + 7) // 8 if any(c.null_count for c in chunks) else 0
    if pa.types.is_dictionary(dtype):
        return _values_nbytes(dtype.value_type, [c.dictionary_decode() for c in chunks])
    if pa.types.is_struct(dtype):
        return validity + sum(_values_nbytes(dtype.field(i).type, [c.field(i) for c in chunks])
                              for i in range(dtype.num_fields))
    if pa.types.is_large_binary(dtype) or pa.types.is_large_string(dtype):
        return validity + 8 * (rows + 1) + _value_lengths(chunks)
    if pa.types.is_binary(dtype) or pa.types.is_string(dtype):
        return validity + 4 * (rows + 1) + _value_lengths(chunks)
    if pa.types.is_list(dtype):
        return validity + 4 * (rows + 1) + _values_nbytes(dtype.value_type, [c.flatten() for c in chunks])
    if pa.types.is_boolean(dtype):
        return validity + (rows + 7) // 8
    return validity + rows * (dtype.bit_width // 8)


def _value_lengths(chunks: list) -> int:
    return sum(int(pc.sum(pc.binary_length(c)).as_py() or 0) for c in chunks if len(c))


def _row_image_bytes(table: pa.Table) -> list[int]:
    """Encoded image bytes per row, the part of a row that decides a row group's size."""
    total = np.zeros(table.num_rows, dtype=np.int64)
    for f in table.schema:
        if f.type == IMAGE and table.num_rows:
            lengths = pc.binary_length(table.column(f.name).combine_chunks().field("bytes"))
            total += lengths.fill_null(0).to_numpy(zero_copy_only=False)
    return total.tolist()


def _replace_atomic(final_path: Path, write) -> None:
    """Call write(tmp_path), fsync, then rename onto `final_path`; a full disk is a one-line error."""
    final_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = final_path.with_name(f".{final_path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final_path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise FgBgError(f"disk full while writing {final_path.name}; free space and run again") from None
        raise


def write_json_atomic(obj, final_path: Path) -> None:
    _replace_atomic(final_path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n",
                                                           encoding="utf-8"))


def write_text_atomic(text: str, final_path: Path) -> None:
    _replace_atomic(final_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
