"""The package version: its own module at the bottom, so that anything may name it without importing
the package root (which reaches the Hub code through `load_stats`)."""

__version__ = "0.2.0"  # 0.2.0: compositing version 2 (compose.COMPOSE_VERSION)
