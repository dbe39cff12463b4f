"""hook.plan: what the hook process and its worker share."""

from __future__ import annotations

import json
from pathlib import Path

from review_bot.config import Settings
from review_bot.hook.plan import settings_from_json, settings_to_json


def test_settings_round_trip_through_json(tmp_path: Path) -> None:
    settings = Settings(model=tmp_path / "m.gguf", home=tmp_path / "h", runs=3, on_error="fail")
    assert settings_from_json(json.loads(json.dumps(settings_to_json(settings)))) == settings
