"""A plan applied to the working tree and the index.

Kept tests are written atomically and staged (the exact bytes written, in one index
update), but only where the working-tree copy equals the staged one (or is absent); kept
docstrings go into the working tree only, into functions whose working-tree text equals
the staged text, leaving every other byte of the file as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from review_bot import git
from review_bot.config import Settings
from review_bot.errors import FatalError
from review_bot.hook.plan import Plan, PlanDocItem, PlanDocs, PlanTests
from review_bot.hook.stash import framework_stashed_paths
from review_bot.targets import targets_in_source
from review_bot.write.files import atomic_write, check_inside

# review_bot.write.docstrings loads libcst: it is imported where a docstring is inserted,
# never at module level, so that a commit without a Python change does not load it.


@dataclasses.dataclass
class ApplyReport:
    staged: list[str] = dataclasses.field(default_factory=list)
    written: list[str] = dataclasses.field(default_factory=list)  # now, not staged
    unstaged: list[str] = dataclasses.field(default_factory=list)  # written earlier
    already: list[str] = dataclasses.field(default_factory=list)  # staged earlier
    blocked: list[str] = dataclasses.field(default_factory=list)  # messages
    docstrings: list[str] = dataclasses.field(default_factory=list)  # inserted now
    docstrings_pending: list[str] = dataclasses.field(default_factory=list)  # inserted earlier
    docstrings_blocked: list[str] = dataclasses.field(default_factory=list)  # messages
    warnings: list[str] = dataclasses.field(default_factory=list)

    def exit_code(self, plan: Plan) -> int:
        if plan["analysis_only"]:
            gaps = [
                t
                for t in plan["targets"]
                if "missing" in (t["test"]["status"], t["docstring"]["status"])
            ]
            return 1 if gaps else 0
        # pre-commit's convention: 1 when this run modified files the user has to look at
        # (tests written for review, docstrings inserted), and when kept tests could not be
        # written because the user's own changes are in the way. What an earlier run wrote
        # and the user chose not to stage is mentioned, not held against the commit.
        return 1 if (self.written or self.blocked or self.docstrings) else 0


def apply_plan(
    repo: git.Repo, settings: Settings, plan: Plan, environ: Mapping[str, str]
) -> ApplyReport:
    report = ApplyReport()
    if plan["analysis_only"]:
        return report
    stashed = framework_stashed_paths(environ)
    for entry in plan["tests"]:
        _apply_tests(repo, settings, entry, stashed, report)
    for doc_entry in plan["docstrings"]:
        _apply_docstrings(repo, doc_entry, report)
    return report


def _read(path: Path) -> bytes | None:
    """The file's bytes; None if there is none. Raises FatalError for a non-file."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise FatalError(f"{path}: not a regular file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _apply_tests(
    repo: git.Repo,
    settings: Settings,
    entry: PlanTests,
    stashed: set[str],
    report: ApplyReport,
) -> None:
    rel = entry["path"]
    if entry["error"] is not None or entry["text"] is None:
        report.blocked.append(f"{rel}: {entry['error']}")
        return
    text, base = entry["text"], entry["base"]
    data = text.encode("utf-8")
    if text == base:
        report.already.append(rel)
        return
    path = repo.root / rel
    try:
        current = _read(path)
    except FatalError as exc:
        report.blocked.append(f"{exc}; not touched")
        return
    if rel in stashed:
        report.blocked.append(
            f"{rel}: has unstaged changes (set aside by pre-commit); not touched: stage or "
            "drop them and commit again"
        )
        return
    clean = current == (None if base is None else base.encode("utf-8"))
    if not clean and current != data:
        what = "is not staged" if base is None else "has unstaged changes"
        if current is None:
            what = "is deleted in the working tree but not in the index"
        report.blocked.append(f"{rel}: {what}; not touched: stage or remove it and commit again")
        return
    if current != data:
        try:
            check_inside(repo.root, path)
        except FatalError as exc:
            report.blocked.append(str(exc))
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        _sweep_temporaries(path)
        atomic_write(path, text, root=repo.root)
    if settings.mode != "stage":
        (report.written if current != data else report.unstaged).append(rel)
        return
    before = git.index_entry(repo, rel)
    if before is None and git.is_ignored(repo, rel):
        (report.written if current != data else report.unstaged).append(rel)
        report.warnings.append(f"{rel}: ignored by .gitignore, so written but not staged")
        return
    sha = git.hash_object(repo, rel, data)
    mode = before.mode if before is not None else git.EMPTY_BLOB_MODE
    git.stage_blob(repo, rel, sha, mode)
    report.staged.append(rel)
    real = git.partial_commit_index(repo)
    if real is not None:
        # `git commit PATH`: the commit is made from a temporary index; the real one is
        # installed after it, so it must hold the file too or the next commit deletes it.
        theirs = git.index_entry(repo, rel, index_file=real)
        if (theirs is None and before is None) or (
            theirs is not None and before is not None and theirs.sha == before.sha
        ):
            git.stage_blob(repo, rel, sha, mode, index_file=real)
        else:
            report.warnings.append(
                f"{rel}: committed, but your index holds another version of it; "
                "see `git status` after the commit"
            )


def _sweep_temporaries(path: Path) -> None:
    """Remove what an interrupted atomic write of `path` left behind."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{12}}\.tmp")
    with contextlib.suppress(OSError):
        for leftover in path.parent.iterdir():
            if pattern.fullmatch(leftover.name) and leftover.is_file():
                leftover.unlink()


def _apply_docstrings(repo: git.Repo, entry: PlanDocs, report: ApplyReport) -> None:
    rel = entry["path"]
    path = repo.root / rel
    try:
        current = _read(path)
    except FatalError as exc:
        report.docstrings_blocked.append(f"{exc}; docstrings not inserted")
        return
    if current is None:
        report.docstrings_blocked.append(f"{rel}: deleted in the working tree; not inserted")
        return
    try:
        check_inside(repo.root, path)
    except FatalError as exc:
        report.docstrings_blocked.append(f"{exc}; docstrings not inserted")
        return
    target_text = entry["text"]
    if current == target_text.encode("utf-8"):
        report.docstrings_pending.append(rel)
        return
    _sweep_temporaries(path)
    if hashlib.sha256(current).hexdigest() == entry["base_sha256"]:
        atomic_write(path, target_text, root=repo.root)
        report.docstrings.append(rel)
        return
    # Unstaged edits in the file: insert each docstring into its function if that function
    # reads as staged; everything else in the file stays byte for byte.
    try:
        text = current.decode("utf-8")
    except UnicodeDecodeError:
        report.docstrings_blocked.append(f"{rel}: not UTF-8 in the working tree; not inserted")
        return
    new_text, missing = insert_where_unchanged(path, text, entry["items"])
    if new_text != text:
        if _read(path) != current:  # edited while we worked: never overwrite an edit
            report.docstrings_blocked.append(f"{rel}: changed while the hook ran; not inserted")
            return
        atomic_write(path, new_text, root=repo.root)
        report.docstrings.append(rel)
    for qualname in missing:
        report.docstrings_blocked.append(
            f"{rel}: {qualname} changed in the working tree since it was staged; its "
            "docstring was not inserted"
        )


def insert_where_unchanged(
    path: Path, text: str, items: Sequence[PlanDocItem]
) -> tuple[str, list[str]]:
    """Insert each docstring into the function of the same name whose text equals the
    staged one. Returns the new text and the qualnames that found no such function."""
    from review_bot.write.docstrings import insert_docstring  # libcst: see the note at the top

    try:
        found = targets_in_source(path.parent, path, text)
    except FatalError:
        return text, [item["qualname"] for item in items]
    placed: list[tuple[int, PlanDocItem]] = []
    missing: list[str] = []
    for item in items:
        match = next(
            (t for t in found if t.qualname == item["qualname"] and t.source == item["source"]),
            None,
        )
        if match is None:
            missing.append(item["qualname"])
        else:
            placed.append((match.lineno, item))
    # Bottom up, so each insertion leaves the line numbers above it valid.
    for lineno, item in sorted(placed, key=lambda pair: pair[0], reverse=True):
        text = insert_docstring(text, item["qualname"], item["docstring"], lineno=lineno)
    return text, missing
