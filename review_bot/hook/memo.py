"""The memo: a plan depends only on the staged tree, the diff base, the settings and the
model file, so it is kept in the cache under them. A second run on unchanged staged code
neither starts the worker nor imports the model stack."""

from __future__ import annotations

import hashlib
import typing
from collections.abc import Sequence
from pathlib import Path

from review_bot.cache import Cache, digest
from review_bot.config import Settings, generation_settings
from review_bot.errors import FatalError
from review_bot.hook.plan import PLAN_VERSION, Plan
from review_bot.llm.models import model_identity

# What a plan depends on beyond what every cached result depends on: which outcomes were
# asked for, and the model setting itself (its file is keyed by identity below).
_PLAN_SETTINGS = ("tests", "docstrings", "model")
_PROMPTS = Path(__file__).parent.parent / "prompts"


def prompts_fingerprint() -> str:
    # The templates shipped with review-bot, hashed without importing Jinja2; a project's
    # own templates are files of the staged tree, which the key covers already.
    hasher = hashlib.sha256()
    for path in sorted(_PROMPTS.glob("*.j2")):
        hasher.update(path.name.encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


def plan_key(
    tree: str,
    bases: Sequence[str | None],
    settings: Settings,
    files: Sequence[str],
    analysis_only: bool,
) -> str | None:
    """The memo's key for the plan of `files` in `tree`; None: the model cannot be found."""
    try:
        # No assembly and no hashing here: the default model is keyed by its pinned
        # sha256, a file by its path, size and mtime.
        model = model_identity(settings.model)
    except FatalError:
        return None  # the worker says what is wrong
    values = {
        **generation_settings(settings),
        **{name: str(getattr(settings, name)) for name in _PLAN_SETTINGS},
    }
    return digest(
        "hook-plan",
        PLAN_VERSION,
        tree,
        list(bases),
        values,
        sorted(files),
        analysis_only,
        model,
        prompts_fingerprint(),
    )


class Memo:
    def __init__(self, settings: Settings, enabled: bool) -> None:
        self.cache: Cache | None = None
        if enabled and settings.cache:
            self.cache = Cache(settings.cache_path)

    def get(self, key: str | None) -> Plan | None:
        if self.cache is None or key is None:
            return None
        value = self.cache.peek(key)
        if isinstance(value, dict) and value.get("version") == PLAN_VERSION:
            return typing.cast(Plan, value)
        return None

    def put(self, key: str | None, plan: Plan) -> None:
        if self.cache is not None and key is not None:
            self.cache.put(key, "hook-plan", plan)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
