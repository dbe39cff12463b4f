"""review-bot: assured generation of pytest tests and docstrings with a local code model."""

from __future__ import annotations

__version__ = "0.1.0"
