"""Jinja2 prompt templates, shipped here and overridable from a repo's .review-bot/prompts/."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from review_bot.errors import FatalError

PACKAGE_DIR = Path(__file__).parent
OVERRIDE_DIR = Path(".review-bot") / "prompts"


class Prompts:
    def __init__(self, project_root: Path | None = None) -> None:
        searchpath = [str(PACKAGE_DIR)]
        if project_root is not None and (project_root / OVERRIDE_DIR).is_dir():
            searchpath.insert(0, str(project_root / OVERRIDE_DIR))
        # A repository's own templates are data from that repository (a pull request can
        # change them): render them in Jinja2's sandbox, never with full Python access.
        self.env = jinja2.sandbox.SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(searchpath),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
        )

    def render(self, name: str, **context: Any) -> str:
        try:
            return self.env.get_template(name).render(**context)
        except jinja2.TemplateError as exc:
            raise FatalError(f"prompt template {name}: {exc}") from None

    def source(self, name: str) -> str:
        loader = self.env.loader
        assert loader is not None
        try:
            text, _, _ = loader.get_source(self.env, name)
        except jinja2.TemplateNotFound:
            raise FatalError(f"prompt template {name} not found") from None
        return text

    def fingerprint(self) -> str:
        """A hash of every template in force, so an edited prompt misses the cache."""
        digest = hashlib.sha256()
        for name in sorted(self.env.list_templates(extensions=["j2"])):
            digest.update(name.encode())
            digest.update(self.source(name).encode())
        return digest.hexdigest()
