"""Depth backends: `get_backend(name, **options)` returns an object with `input_size` and `predict`."""

from .base import DepthBackend, get_backend

__all__ = ["DepthBackend", "get_backend"]
