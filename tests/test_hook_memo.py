"""hook.memo: the plan's key covers the templates shipped with review-bot."""

from __future__ import annotations

import hashlib
from pathlib import Path

from review_bot.hook import memo

PROMPTS = Path(__file__).resolve().parent.parent / "review_bot" / "prompts"


def test_prompts_fingerprint_hashes_the_shipped_templates() -> None:
    templates = sorted(PROMPTS.glob("*.j2"))
    assert templates
    expected = hashlib.sha256()
    for path in templates:
        expected.update(path.name.encode())
        expected.update(path.read_bytes())
    assert memo.prompts_fingerprint() == expected.hexdigest()
