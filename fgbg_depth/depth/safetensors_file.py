"""Read a `.safetensors` file into NumPy arrays, with errors that say what is wrong with the file.

The format is an 8-byte little-endian header length, a JSON header ({name: {"dtype", "shape",
"data_offsets": [begin, end]}}, plus an optional "__metadata__"), then the raw little-endian data.
It is read here rather than through the `safetensors` package because that package's NumPy reader
cannot return bfloat16 tensors (it needs PyTorch for them), and because a truncated or foreign file
should be one line naming the problem: bfloat16 and float16 become float32, which is what the
model's variables are loaded as anyway.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from ..errors import FgBgError

_DTYPES = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
           "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
           "U8": np.dtype("u1"), "BOOL": np.dtype("?")}
MAX_HEADER = 100 << 20


class SafetensorsError(FgBgError):
    """The file is not a readable safetensors file; the message says why."""


class SafetensorsFile:
    """`shapes` (name → shape) from the header alone; `read(name)` → float32 (or integer) array."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    raise SafetensorsError(f"'{self.path}' is {size} bytes: too short for a safetensors file")
                (length,) = struct.unpack("<Q", head)
                if length > MAX_HEADER or 8 + length > size:
                    raise SafetensorsError(f"'{self.path}' is not a safetensors file, or is truncated (its header "
                                           f"claims {length} bytes; the file has {size})")
                header = json.loads(f.read(length).decode("utf-8"))
        except OSError as exc:
            raise SafetensorsError(f"cannot read '{self.path}' ({exc.strerror})") from None
        except (UnicodeDecodeError, ValueError):
            raise SafetensorsError(f"'{self.path}' is not a safetensors file (its header is not JSON)") from None
        if not isinstance(header, dict):
            raise SafetensorsError(f"'{self.path}' is not a safetensors file (its header is not a table)")
        self.metadata = header.pop("__metadata__", None) or {}
        self._base = 8 + length
        self._entries: dict[str, tuple[np.dtype, str, tuple[int, ...], int, int]] = {}
        for name, info in header.items():
            try:
                kind, shape, (begin, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
            except (KeyError, TypeError, ValueError):
                raise SafetensorsError(f"'{self.path}': tensor '{name}' has a malformed header entry") from None
            if kind not in _DTYPES:
                raise SafetensorsError(f"'{self.path}': tensor '{name}' has dtype {kind}, which is not supported")
            dtype = _DTYPES[kind]
            if end - begin != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize or begin < 0:
                raise SafetensorsError(f"'{self.path}': tensor '{name}' has {end - begin} bytes for shape {shape}")
            if self._base + end > size:
                raise SafetensorsError(f"'{self.path}' is truncated: it has {size} bytes, tensor '{name}' ends at "
                                       f"{self._base + end}; download it again")
            self._entries[name] = (dtype, kind, shape, begin, end)
        self._data = None

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: entry[2] for name, entry in self._entries.items()}

    def read(self, name: str) -> np.ndarray:
        dtype, kind, shape, begin, end = self._entries[name]
        if self._data is None:
            self._data = np.memmap(self.path, dtype=np.uint8, mode="r")
        raw = np.frombuffer(self._data[self._base + begin:self._base + end], dtype=dtype).reshape(shape)
        if kind == "BF16":  # the high half of a float32
            return (raw.astype(np.uint32) << 16).view(np.float32)
        if kind in ("F16", "F64"):
            return raw.astype(np.float32)
        return np.array(raw)


def write_safetensors(path, tensors: dict[str, np.ndarray], metadata: dict | None = None) -> None:
    """Write arrays (float32, float16, int) as a safetensors file; used by the tests and tools."""
    codes = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("float64"): "F64",
             np.dtype("int64"): "I64", np.dtype("int32"): "I32", np.dtype("uint8"): "U8"}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        data = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": codes[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)
