"""fgbg-depth: synthetic foreground/background compositing data with masks and depth, as Hub-ready Parquet."""

from __future__ import annotations

from .version import __version__


def __getattr__(name: str):
    """`read_card_metadata` lives in the contract (which imports NumPy and pyarrow); fetched on first
    use, so `import fgbg_depth` and `fgbg-depth --help` stay quick."""
    if name == "read_card_metadata":
        from .contract import read_card_metadata
        return read_card_metadata
    raise AttributeError(f"module 'fgbg_depth' has no attribute '{name}'")


class ChannelStats(dict):
    """The card's `channel_stats` mapping, which also knows the dataset's `depth_scale` (metres per
    stored depth unit; None without a depth column), so `training.normalized(ds, load_stats(repo))`
    converts depth with the dataset's own scale."""

    depth_scale: float | None = None


def load_stats(path_or_repo_id: str, revision: str | None = None) -> ChannelStats:
    """The card's `channel_stats`: {split: {column: {"mean": [...], "std": [...], "count": n}}}, with
    the card's `depth_scale` as an attribute.

    Accepts a local folder made by `fgbg-depth generate` or a Hub dataset id ("user/name").
    """
    from pathlib import Path

    from .errors import FgBgError

    local = Path(path_or_repo_id).expanduser()
    if local.is_dir():
        card = local / "README.md"
        if not card.exists():
            raise FgBgError(f"'{local}' has no README.md: not a folder made by fgbg-depth")
        text = card.read_text(encoding="utf-8")
    else:
        from .hub import download_card
        text = download_card(path_or_repo_id, revision=revision)
    from .contract import read_card_metadata
    meta = read_card_metadata(text)
    if not meta.get("channel_stats"):
        raise FgBgError(f"the card of '{path_or_repo_id}' has no channel_stats")
    stats = ChannelStats(meta["channel_stats"])
    stats.depth_scale = meta.get("depth_scale")
    return stats


__all__ = ["ChannelStats", "__version__", "load_stats", "read_card_metadata"]
