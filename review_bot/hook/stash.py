"""pre-commit's stash: the paths whose unstaged changes it set aside before the hook ran."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from review_bot.diff import unquote_path

_DIFF_HEADER = re.compile(rb"^diff --git (.*)$", re.MULTILINE)


def framework_stashed_paths(environ: Mapping[str, str]) -> set[str]:
    """Paths whose unstaged changes pre-commit set aside before running this hook.

    pre-commit stashes unstaged changes as a patch named after its own process id and
    applies it again afterwards; a generated test file that is in that patch must not be
    rewritten, or the patch would no longer apply. Outside pre-commit: empty.
    """
    if environ.get("PRE_COMMIT") != "1":
        return set()
    home = environ.get("PRE_COMMIT_HOME")
    if not home:
        cache = environ.get("XDG_CACHE_HOME") or os.path.join(
            environ.get("HOME", os.path.expanduser("~")), ".cache"
        )
        home = os.path.join(cache, "pre-commit")
    patches = sorted(Path(home).glob(f"patch*-{os.getppid()}"), key=lambda p: p.name)
    if not patches:
        return set()
    try:
        data = patches[-1].read_bytes()
    except OSError:
        return set()
    return {path for match in _DIFF_HEADER.finditer(data) for path in _header_paths(match[1])}


def _header_paths(header: bytes) -> list[str]:
    """The paths of a `diff --git a/X b/Y` header (no renames in pre-commit's patch)."""
    text = os.fsdecode(header)
    if text.startswith('"'):
        quoted = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', text)
        return list(dict.fromkeys(unquote_path(part)[2:] for part in quoted[:2]))
    # `a/P b/P`: both halves have the same length.
    half = (len(text) - 1) // 2
    if text[half : half + 3] == " b/" and text.startswith("a/"):
        return [text[2:half]]
    return []
