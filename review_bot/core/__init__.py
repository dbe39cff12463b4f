"""The core every front end calls: `run(root, settings, files)` -> results and RunStats.

engine.py answers per target (a verified test, a checked docstring); run.py picks the
targets and holds the rules every front end shares; backends.py decides what runs the
model.
"""

from __future__ import annotations

from review_bot.core.backends import BackendFactory
from review_bot.core.engine import Engine, tool_sandbox
from review_bot.core.run import CoreRun, FileChange, run, select_targets
from review_bot.records import ModelRef, RunStats

__all__ = [
    "BackendFactory",
    "CoreRun",
    "Engine",
    "FileChange",
    "ModelRef",
    "RunStats",
    "run",
    "select_targets",
    "tool_sandbox",
]
