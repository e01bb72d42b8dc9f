"""The package version: its own module at the bottom, so that anything may name it without importing
the package root (which reaches the Hub code through `load_stats`)."""

__version__ = "0.1.0"
