r"""A unified diff -> per file: its status, the changed new-side lines and the hunks.

One parser serves both diffs review-bot reads: the hook's staged diff (`git diff --cached
-U0`, no context lines) and the pull request's (`git diff base...head -U3`, with context).
A function is a target when one of its lines is in the `ranges` of its file:

- every line added or changed on the new side;
- for removed lines with nothing added in their place, the new-side line ABOVE them (line 1
  when they were at the top of the file). Deleting the last statements of a function must
  mark that function, not the one after it.

The same deletion gives the same ranges whether or not the diff carries context lines:

>>> staged = '''diff --git a/m.py b/m.py
... --- a/m.py
... +++ b/m.py
... @@ -3 +2,0 @@
... -    print(x)
... '''
>>> pull_request = '''diff --git a/m.py b/m.py
... --- a/m.py
... +++ b/m.py
... @@ -1,5 +1,4 @@
...  def first(x):
...      x += 1
... -    print(x)
...  def second(y):
...      return y
... '''
>>> [d.ranges for d in parse_diff(staged)], [d.ranges for d in parse_diff(pull_request)]
([((2, 2),)], [((2, 2),)])

Line 2 is inside first(), which lost a line; second() (line 3 now) is untouched. The `hunks`
are what GitHub accepts review comments on: the new-side lines of each hunk, context
included (none for a hunk that only removes lines).

>>> parse_diff(pull_request)[0].hunks
(Hunk(start=1, end=4),)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

from review_bot.errors import FatalError

Status = Literal["added", "modified", "renamed", "deleted"]
Range = tuple[int, int]  # first and last line, 1-based, inclusive


class Hunk(NamedTuple):
    """The new-side lines of one hunk, context included: 1-based, inclusive."""

    start: int
    end: int


class FileDiff(NamedTuple):
    path: str  # the new-side path (the new name of a renamed file); the old name if deleted
    old_path: str | None  # the path before: None for an added file
    status: Status
    binary: bool
    ranges: tuple[Range, ...]  # changed new-side lines and deletion anchors, sorted, disjoint
    hunks: tuple[Hunk, ...] = ()  # the new-side lines of each hunk (what GitHub comments on)

    def hunk_of(self, start: int, end: int) -> Hunk | None:
        """The one hunk holding every line of [start, end], if any."""
        for hunk in self.hunks:
            if hunk.start <= start and end <= hunk.end:
                return hunk
        return None


_ESCAPES = {
    "a": 7,
    "b": 8,
    "t": 9,
    "n": 10,
    "v": 11,
    "f": 12,
    "r": 13,
    '"': 34,
    "\\": 92,
}


def unquote_path(text: str) -> str:
    """Undo git's C-style quoting of a path ("tab\\there.py", octal bytes); plain paths
    are returned as they are. Bytes that are not UTF-8 become surrogates, as os.fsdecode
    makes them."""
    if not (len(text) >= 2 and text[0] == '"' and text[-1] == '"'):
        return text
    body = text[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out += char.encode("utf-8", "surrogateescape")
            i += 1
            continue
        following = body[i + 1 : i + 2]
        if following in _ESCAPES:
            out.append(_ESCAPES[following])
            i += 2
        elif body[i + 1 : i + 4].isdigit() and len(body[i + 1 : i + 4]) == 3:
            out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        else:  # not an escape git writes; keep it literally
            out += b"\\"
            i += 1
    return os.fsdecode(bytes(out))


def _strip_prefix(name: str, prefix: str) -> str | None:
    name = unquote_path(name)
    if name == "/dev/null":
        return None
    return name[len(prefix) :] if name.startswith(prefix) else name


def to_ranges(lines: Iterable[int]) -> tuple[Range, ...]:
    """Sorted, merged ranges covering exactly `lines`."""
    out: list[list[int]] = []
    for line in sorted(set(lines)):
        if out and line == out[-1][1] + 1:
            out[-1][1] = line
        else:
            out.append([line, line])
    return tuple((a, b) for a, b in out)


def lines_of(ranges: Iterable[Range]) -> set[int]:
    return {line for first, last in ranges for line in range(first, last + 1)}


def intersects(ranges: Sequence[Range], first: int, last: int) -> bool:
    """Whether any changed line lies in [first, last]."""
    return any(a <= last and first <= b for a, b in ranges)


def parse_diff(text: str) -> list[FileDiff]:
    """The files of a unified diff (git's format, `a/` and `b/` prefixes, with or without
    context lines): status, changed new-side lines and hunks, as the module docstring says."""
    from unidiff.errors import UnidiffParseError
    from unidiff.patch import PatchSet

    try:
        patch = PatchSet(_unambiguous(text))
    except UnidiffParseError as exc:
        raise FatalError(f"cannot read the output of git diff: {exc}") from None
    files: list[FileDiff] = []
    for patched in patch:
        old = _strip_prefix(patched.source_file, "a/")
        new = _strip_prefix(patched.target_file, "b/")
        status: Status
        if old is None:
            status = "added"
        elif new is None:
            status = "deleted"
        elif patched.is_rename or old != new:
            status = "renamed"
        else:
            status = "modified"
        touched: set[int] = set()
        hunks: list[Hunk] = []
        for hunk in patched:
            if hunk.target_length > 0:
                hunks.append(Hunk(hunk.target_start, hunk.target_start + hunk.target_length - 1))
            # The new-side line above the next line of the hunk: where a deletion lands.
            above = hunk.target_start - 1 if hunk.target_length else hunk.target_start
            # Removed lines replaced by added ones are covered by those; a removal with no
            # replacement marks the line above it.
            pending = False
            for line in hunk:
                if line.is_removed:
                    pending = True
                    continue
                if line.target_line_no is None:  # "\ No newline at end of file"
                    continue
                if line.is_added:
                    touched.add(line.target_line_no)
                    pending = False
                elif pending:
                    touched.add(max(above, 1))
                    pending = False
                above = line.target_line_no
            if pending:
                touched.add(max(above, 1))
        path = new if new is not None else old
        assert path is not None
        binary = bool(patched.is_binary_file)
        files.append(FileDiff(path, old, status, binary, to_ranges(touched), tuple(hunks)))
    return files


def _unambiguous(text: str) -> str:
    """git's diff as unidiff can read it when a path holds a space (issue 22: a path with
    ` b/` in it stopped the commit). git ends such a `---`/`+++` name with a tab, which
    unidiff takes for a timestamp that is missing; and `diff --git a/x b/y b/x b/y` splits
    at the wrong ` b/`: that header is dropped where the block's `---` and `+++` lines
    name the files (they are unambiguous, one name a line)."""
    lines = text.split("\n")
    out: list[str] = []
    skipping = False  # inside a dropped header, up to its `---` line
    for index, line in enumerate(lines):
        if line.startswith(("--- ", "+++ ")) and line.endswith("\t"):
            line = line[:-1]
        if line.startswith("diff --git "):
            skipping = False
            if line.count(" b/") > 1:
                block = []
                for later in lines[index + 1 :]:
                    if later.startswith("diff --git "):
                        break
                    block.append(later)
                names = [b for b in block if b.startswith(("--- ", "+++ "))]
                skipping = len(names) >= 2
                if skipping:
                    continue
        if skipping and not line.startswith("--- "):
            continue  # its mode, index and rename lines: the `---`/`+++` lines say it all
        skipping = False
        out.append(line)
    return "\n".join(out)


def common_changes(per_parent: Sequence[Sequence[FileDiff]]) -> list[FileDiff]:
    """For a merge commit: the lines changed relative to every parent, i.e. what the merge
    itself introduces (conflict resolutions, edits made while merging).

    A file that equals one parent's version has no such lines and is left out.
    """
    if not per_parent:
        return []
    first, *others = per_parent
    out: list[FileDiff] = []
    for candidate in first:
        lines = lines_of(candidate.ranges)
        for diffs in others:
            match = next((d for d in diffs if d.path == candidate.path), None)
            lines &= lines_of(match.ranges) if match is not None else set()
        if lines:
            out.append(candidate._replace(ranges=to_ranges(lines)))
    return out
