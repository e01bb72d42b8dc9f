"""Parquet files written atomically: row groups the Hub viewer and streaming can read, per-column
encodings, checksums, and the Arrow size the card reports (their schema is the contract's)."""

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

from .contract import IMAGE
from .errors import FgBgError

ROW_GROUP_ROWS = 100  # as `datasets` writes image datasets: the viewer and streaming read one group at a time
ROW_GROUP_BYTES = 64_000_000  # the viewer and streaming want row groups ≤ 100 MB


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


# Arrays laid out from their values' buffers: pyarrow's converters from Python objects and NumPy
# (pa.array, Table.from_pydict) check for pandas objects first, which imports pandas: ~0.25 s of a
# command's start.
def binary_array(values: list[bytes], dtype: pa.DataType = pa.binary()) -> pa.Array:
    """A binary (or string: UTF-8 bytes) Arrow array of `values`: offsets and one buffer."""
    offsets = np.zeros(len(values) + 1, np.int32)
    np.cumsum([len(v) for v in values], out=offsets[1:])
    return pa.Array.from_buffers(dtype, len(values), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(values))])


def image_array(data: pa.Array) -> pa.StructArray:
    """An Image column (struct of bytes and a null path) around its encoded bytes."""
    return pa.StructArray.from_arrays([data, pa.nulls(len(data), pa.string())], names=["bytes", "path"])


def numeric_array(values: np.ndarray, dtype: pa.DataType) -> pa.Array:
    """A numeric or boolean Arrow array of a NumPy array's values in `dtype` (floats rounded to its
    width; an integer that does not fit is an error, as in pyarrow's own conversion)."""
    if pa.types.is_boolean(dtype):
        bits = np.packbits(values.astype(bool), bitorder="little")
        return pa.Array.from_buffers(dtype, len(values), [None, pa.py_buffer(bits)])
    target = np.dtype(dtype.to_pandas_dtype())
    if target.kind in "iu" and values.size and not (np.iinfo(target).min <= values.min() and
                                                    values.max() <= np.iinfo(target).max):
        raise OverflowError(f"values out of {dtype}'s range")
    return pa.Array.from_buffers(dtype, len(values), [None, pa.py_buffer(values.astype(target))])


def write_table_atomic(table: pa.Table, final_path: Path, tmp_dir: Path) -> tuple[int, str, int]:
    """Write `table` to a temporary file, read it back, fsync it, then rename it to `final_path`.

    Returns (size in bytes, sha256, `arrow_nbytes` of the table: the `num_bytes` the card reports,
    the same for the table as read back, since it counts values). The file is read back row group by
    row group (a shard's worth of memory is not taken twice). A crash leaves at most a file in
    `tmp_dir`, never a partial shard under its final name. A full disk becomes a one-line FgBgError.
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{final_path.name}.{uuid.uuid4().hex[:8]}.tmp"
    sizes = _row_image_bytes(table)
    options = _writer_options(table)
    try:
        with pq.ParquetWriter(tmp, table.schema, **options) as writer:
            for start, stop in _row_group_bounds(sizes):
                writer.write_table(table.slice(start, stop - start), row_group_size=stop - start)
        # it reads back whole, a row group at a time; the columns written with a dictionary are read
        # as one (every page is still decoded, and a background's bytes are not copied out per row)
        with pq.ParquetFile(tmp, read_dictionary=options["use_dictionary"]) as written:
            if sum(written.read_row_group(i).num_rows for i in range(written.num_row_groups)) != table.num_rows:
                raise OSError(errno.EIO, f"{tmp.name} did not read back whole")
        digest = hashlib.sha256()
        with open(tmp, "rb+") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
            os.fsync(f.fileno())
        os.replace(tmp, final_path)
        arrow_bytes = arrow_nbytes(table)  # counted from the values, which the file has just given back
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
    """Encoded image bytes per row, the part of a row that decides a row group's size; a null
    counts 0. Read from the columns' offsets (pyarrow's null filling would import pandas)."""
    total = np.zeros(table.num_rows, dtype=np.int64)
    for f in table.schema:
        if f.type == IMAGE and table.num_rows:
            lengths = []
            for chunk in table.column(f.name).chunks:
                data = chunk.field("bytes")
                offsets = np.frombuffer(data.buffers()[1], np.int32, len(data) + 1, data.offset * 4)
                part = np.diff(offsets).astype(np.int64)
                if data.null_count:
                    part[~np.asarray(data.is_valid())] = 0
                lengths.append(part)
            total += np.concatenate(lengths)
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
