"""The Hugging Face Hub side: reading cards (and, later, pushing and verifying)."""

from __future__ import annotations

from .errors import FgBgError


def download_card(repo_id: str, revision: str | None = None) -> str:
    """The README.md of a Hub dataset repository, as text."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        raise FgBgError("huggingface_hub is not installed; pip install huggingface_hub") from None
    try:
        path = hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=revision)
    except RepositoryNotFoundError:
        raise FgBgError(f"dataset '{repo_id}' not found on the Hub (or it is private: log in with "
                        "`hf auth login` or set HF_TOKEN)") from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", "?")
        raise FgBgError(f"the Hub answered HTTP {status} for '{repo_id}'") from None
    except OSError as exc:
        raise FgBgError(f"cannot reach the Hub for '{repo_id}' ({type(exc).__name__}); check the network "
                        "or pass a local folder") from None
    with open(path, encoding="utf-8") as f:
        return f.read()
