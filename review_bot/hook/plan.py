"""What the hook process and its worker share: the plan (plain JSON from the worker), the
settings as JSON (to the worker), and the seam through which the worker runs the core."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from review_bot.config import Settings

if TYPE_CHECKING:  # pragma: no cover
    from review_bot.core import CoreRun, FileChange
    from review_bot.progress import Progress

PLAN_VERSION = 1


class PlanOutcome(TypedDict):
    status: str  # kept | rejected | skipped | missing (check mode: what the code lacks)
    reason: str | None
    attempts: list[str]


class PlanTarget(TypedDict):
    file: str  # path in the repository
    name: str  # module.qualname
    line: int
    test: PlanOutcome
    docstring: PlanOutcome


class PlanTests(TypedDict):
    path: str  # the generated test file, relative to the repository root
    module: str
    names: list[str]  # the targets whose kept tests it carries
    base: str | None  # the staged version the text was merged into (None: not staged)
    text: str | None  # the file to write; None with an error
    error: str | None


class PlanDocItem(TypedDict):
    qualname: str
    source: str  # the function's staged text (dedented), to find it in the working tree
    docstring: str


class PlanDocs(TypedDict):
    path: str
    base_sha256: str  # of the staged file
    text: str  # the staged file with every kept docstring inserted
    items: list[PlanDocItem]


class Plan(TypedDict):
    version: int
    analysis_only: bool
    notes: list[str]  # files left out and why
    targets: list[PlanTarget]
    tests: list[PlanTests]
    docstrings: list[PlanDocs]
    model_calls: int
    model_s: float
    cache_hits: int
    cache_misses: int
    jail: str | None  # the jail generated code ran in; None when nothing ran


def empty_plan(analysis_only: bool, notes: Sequence[str] = ()) -> Plan:
    return Plan(
        version=PLAN_VERSION,
        analysis_only=analysis_only,
        notes=list(notes),
        targets=[],
        tests=[],
        docstrings=[],
        model_calls=0,
        model_s=0.0,
        cache_hits=0,
        cache_misses=0,
        jail=None,
    )


# -- the core's seam -------------------------------------------------------------------------


class RunCore(Protocol):
    """core.run, or a stand-in with its signature (tests of git mechanics)."""

    def __call__(
        self,
        root: Path,
        settings: Settings,
        files: Sequence[FileChange],
        *,
        progress: Progress | None = None,
        checkout: Path | None = None,
    ) -> CoreRun: ...


# -- settings, to the worker -----------------------------------------------------------------


def settings_to_json(settings: Settings) -> dict[str, Any]:
    return {
        f.name: str(value) if isinstance(value, Path) else value
        for f in dataclasses.fields(settings)
        for value in [getattr(settings, f.name)]
    }


def settings_from_json(data: Mapping[str, Any]) -> Settings:
    hints = typing.get_type_hints(Settings)
    values: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints.get(name)
        wants_path = hint is Path or Path in typing.get_args(hint)
        values[name] = Path(value) if wants_path and value is not None else value
    if "ignored" in values:
        values["ignored"] = tuple(values["ignored"])
    return Settings(**values)
