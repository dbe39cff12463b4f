"""Pull pytest code out of a model reply (repairs without a model call: repair.py).

Everything here is text and `ast`: nothing the model wrote is ever executed. `compile()` is
used to *check* code (it catches errors `ast.parse` misses, such as a misplaced
`from __future__` import or `return` outside a function), never to run it.
"""

from __future__ import annotations

import ast
import codeop
import functools
import re
import textwrap
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from review_bot.generate.pyast import (
    bound_names,
    end_line,
    first_line,
    loaded_names,
)

__all__ = ["extract_code"]

# --- chat artefacts -------------------------------------------------------------------------

# Things a reply may start with when the chat template and the model disagree: a BOS token, the
# assistant's turn header, the end of an echoed [INST] block, a FIM "middle" marker, or a whole
# echoed user/system turn.
_LEADING_ARTEFACT = re.compile(
    r"""\s*(?:
        <s>|<bos>|<\|begin_of_text\|>|<\|endoftext\|>
      | <start_of_turn>\s*model\b
      | <\|im_start\|>\s*assistant\b
      | <\|start_header_id\|>\s*assistant\s*<\|end_header_id\|>
      | <\|assistant\|>
      | \[/INST\]
      | <MID>|<\|fim_middle\|>
      | <start_of_turn>\s*(?:user|system)\b.*?<end_of_turn>
      | <\|im_start\|>\s*(?:user|system)\b.*?<\|im_end\|>
      | \[INST\].*?\[/INST\]
      | <<SYS>>.*?<</SYS>>
      | </s>|<end_of_turn>|<EOT>|<\|im_end\|>|<\|file_separator\|>|<\|eot_id\|>|<eos>|<\|end\|>
    )""",
    re.VERBOSE | re.DOTALL,
)
# An end-of-turn token ends the reply; whatever follows is the model talking to itself, and so
# does the header of a new turn at the start of a line. "</s>" and "<eos>" look like HTML, so
# they count only at the end of a line or before another token: `strip_tags("<s>x</s>")` in a
# test is data.
_TRAILING_ARTEFACT = re.compile(
    r"""<end_of_turn>|<EOT>|<\|im_end\|>|<\|endoftext\|>|<\|file_separator\|>|<\|eot_id\|>
      | <\|end\|>
      | (?:</s>|<eos>)(?=[ \t]*(?:\n|$)|<|\[INST\])
      | ^[ \t]*(?:
            <start_of_turn>(?=\s*(?:user|model|system)\b)
          | <\|im_start\|>(?=\s*(?:user|assistant|system)\b)
          | (?:<s>)?\[INST\]
        )
    """,
    re.VERBOSE | re.MULTILINE,
)


def _strip_chat_artefacts(text: str) -> str:
    while True:
        match = _LEADING_ARTEFACT.match(text)
        if match is None or not match.group().strip():
            break
        # The rest of that line too: "[/INST] ```python" would otherwise indent the fence.
        text = text[match.end() :].lstrip(" \t")
    cut = _TRAILING_ARTEFACT.search(text)
    return text if cut is None else text[: cut.start()]


def _normalise(text: str) -> str:
    # The tokenizer treats "\r\n" and a lone "\r" as line ends; splitting on "\n" alone after
    # this keeps our line numbers equal to the ones in SyntaxError and ast nodes.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return _strip_chat_artefacts(text.removeprefix("\ufeff"))


# --- checking code without running it ------------------------------------------------------


def _check(source: str) -> tuple[ast.Module | None, int]:
    """The module's tree if `source` compiles, else None and the error's line (0: unknown)."""
    with warnings.catch_warnings():
        # Model code is full of "\d" in plain strings and `assert (x, "msg")`: the warnings
        # are not our business, and under `-W error` compile() turns them into SyntaxErrors.
        warnings.simplefilter("ignore")
        try:
            tree = ast.parse(source, "<reply>")
            # The second pass catches what only the compiler checks: `from __future__` after
            # other code, `return`/`await` outside a function, duplicate parameters.
            compile(tree, "<reply>", "exec", dont_inherit=True)
        except SyntaxError as exc:
            return None, exc.lineno or 0
        except (ValueError, MemoryError, RecursionError, OverflowError):
            return None, 0
    return tree, 0


def _completable(source: str) -> bool:
    """Whether `source` is Python or the start of it: whether more lines could make it valid.

    `codeop` answers this for an interactive prompt ("incomplete input"); it compiles
    without running anything.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            codeop.compile_command(source, "<reply>", "exec")
        except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
            return False
    return True


# --- what a piece of code contains ---------------------------------------------------------


def _is_test_def(node: ast.stmt) -> TypeGuard[ast.FunctionDef | ast.AsyncFunctionDef]:
    # pytest's default `python_functions = test*`, not just `test_*`.
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
        "test"
    )


def _test_names(tree: ast.Module) -> frozenset[str]:
    """Test functions pytest would collect: top level, or methods of a top-level class."""
    names: set[str] = set()
    for node in tree.body:
        if _is_test_def(node):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(f"{node.name}.{item.name}" for item in node.body if _is_test_def(item))
    return frozenset(names)


def _terminal_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _has_fixture(tree: ast.Module) -> bool:
    return any(
        _terminal_name(decorator) == "fixture"
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for decorator in node.decorator_list
    )


def _has_check(node: ast.AST) -> bool:
    """Whether a (possibly cut-off) test still checks something."""
    for child in ast.walk(node):
        if isinstance(child, ast.Assert):
            return True
        if isinstance(child, ast.Call):
            name = _terminal_name(child.func) or ""
            if name in {"raises", "warns", "fail"} or name.startswith("assert"):
                return True
    return False


# --- chunks of code found in a reply -------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Chunk:
    """A piece of a reply that compiles on its own."""

    code: str  # no leading or trailing blank lines, no final newline
    tree: ast.Module

    @functools.cached_property
    def tests(self) -> frozenset[str]:
        return _test_names(self.tree)

    @functools.cached_property
    def bound(self) -> frozenset[str]:
        return frozenset(bound_names(self.tree))

    @functools.cached_property
    def loaded(self) -> frozenset[str]:
        return frozenset(loaded_names(self.tree))


def _is_junk(node: ast.stmt) -> bool:
    """A statement that is prose or harm at the edge of a chunk.

    Prose that happens to parse: a lone word ("Explanation"), "This is it" (a comparison),
    "...", "Result: passed" (a bare annotation, evaluated on import). And an unguarded
    `pytest.main()` / `unittest.main()`, which would run a test session (or exit) while
    pytest imports the file.
    """
    if isinstance(node, ast.AnnAssign):
        return node.value is None
    if not isinstance(node, ast.Expr):
        return False
    value = node.value
    if isinstance(value, ast.Call):
        func = value.func
        return (
            isinstance(func, ast.Attribute)
            and func.attr == "main"
            and isinstance(func.value, ast.Name)
            and func.value.id in {"pytest", "unittest"}
        )
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return False  # the module docstring
    # Only a call (or an await) at the top of a test module does anything worth keeping.
    return not isinstance(value, (ast.Await, ast.Yield, ast.YieldFrom))


def _make_chunk(lines: Sequence[str], tree: ast.Module) -> _Chunk | None:
    """A chunk of `lines` (which compile to `tree`) without prose-like statements at its edges."""
    body = tree.body
    lo, hi = 0, len(body)
    while lo < hi and _is_junk(body[lo]):
        lo += 1
    while hi > lo and _is_junk(body[hi - 1]):
        hi -= 1
    if lo == hi:
        return None
    first = 0 if lo == 0 else first_line(body[lo]) - 1
    last = len(lines) if hi == len(body) else end_line(body[hi - 1])
    code = "\n".join(lines[first:last]).strip("\n").rstrip(" \t\n")
    # Compiled again, so that the tree's line numbers are the chunk's own.
    final, _ = _check(code + "\n")
    if final is None:  # e.g. `Sure; import os` on one line
        return None
    return _Chunk(code, final)


def _drop_last_statement(chunk: _Chunk) -> _Chunk | None:
    """The chunk without its last statement, or, in a class of tests, its last method."""
    body = chunk.tree.body
    last = body[-1]
    if isinstance(last, ast.ClassDef) and len(last.body) > 1:
        cut = first_line(last.body[-1])
    elif len(body) > 1:
        cut = first_line(last)
    else:
        return None
    lines = chunk.code.split("\n")[: cut - 1]
    tree, _ = _check("\n".join(lines) + "\n")
    return None if tree is None else _make_chunk(lines, tree)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


_BLOCK_HEADER = re.compile(
    r"\s*(?:async\s+def|def|class|if|elif|else|for|while|with|try|except|finally|match|case)\b"
    r".*:\s*(?:#.*)?$"
)


def _may_start(lines: Sequence[str], i: int) -> bool:
    """Whether code could begin at line `i` (and not in the middle of a broken block)."""
    indent = _indent(lines[i])
    if not indent:
        return True
    # An indented line starts code only where an indented region begins after prose, as in a
    # Markdown reply with indented code; never inside the body of a block whose header failed.
    k = i - 1
    while k >= 0 and not lines[k].strip():
        k -= 1
    if k < 0:
        return True
    previous = lines[k]
    if len(_indent(previous)) >= len(indent):
        return False
    # "with the following code:" is prose; "with open(p) as f:" is a header.
    return _BLOCK_HEADER.match(previous) is None or not _completable(previous.strip())


_WINDOW = 64  # lines; grows fourfold while the code in it may go on
_MAX_TRIES = 64  # compiles per starting line; a real reply needs a handful
_BUDGET = 5000  # failed compiles per search, so that no reply, however odd, takes seconds


@dataclass
class _Budget:
    left: int = _BUDGET

    def spend(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _longest_prefix(
    lines: Sequence[str], start: int, stop: int, indent: str, budget: _Budget
) -> tuple[list[str], ast.Module] | None:
    """The longest run of lines from `start` (before `stop`) that compiles once `indent` is
    removed from each: those lines, dedented, and their tree."""

    def dedented(end: int) -> list[str]:
        if not indent:
            return list(lines[start:end])
        return [line[len(indent) :] if line.startswith(indent) else "" for line in lines[start:end]]

    # On a syntax error CPython tokenizes the rest of the source, so each try costs the whole
    # remaining reply. Look at a window first: when no continuation can make the window
    # valid, no longer run can compile either, and the answer lies inside it.
    end, size = stop, _WINDOW
    while start + size < stop:
        if not _completable("\n".join(dedented(start + size))):
            end = start + size
            break
        size *= 4
    body = dedented(end)
    j = len(body)
    for _ in range(_MAX_TRIES):
        while j > 0 and not body[j - 1].strip():
            j -= 1
        if j == 0:
            break
        tree, error_line = _check("\n".join(body[:j]) + "\n")
        if tree is not None:
            return body[:j], tree
        if not budget.spend():
            break
        # A prefix that still holds the line the error was found on fails the same way, so
        # jump there instead of dropping one line at a time.
        j = min(j - 1, error_line - 1) if error_line >= 1 else j - 1
    return None


def _segments(lines: Sequence[str], *, cut: bool = False) -> list[_Chunk]:
    """The maximal compiling runs of lines, left to right, with prose between them skipped.

    `cut`: the last line was cut off mid-line (max_tokens), so it is never trusted.
    """
    usable = len(lines) - 1 if cut and lines and lines[-1].strip() else len(lines)
    chunks: list[_Chunk] = []
    budget = _Budget()
    i = 0
    while i < usable and budget.left > 0:
        indent = _indent(lines[i])
        if (
            not lines[i].strip()
            or not _may_start(lines, i)
            # Cheap, and it turns most prose away without compiling the rest of the reply.
            or not _completable(lines[i][len(indent) :])
        ):
            i += 1
            continue
        stop = usable
        if indent:  # an indented run ends where the indentation does
            stop = next(
                (
                    k
                    for k in range(i + 1, usable)
                    if lines[k].strip() and not lines[k].startswith(indent)
                ),
                usable,
            )
        found = _longest_prefix(lines, i, stop, indent, budget)
        if found is None:
            i += 1
            continue
        body, tree = found
        j = len(body)
        chunk = _make_chunk(body, tree)
        k = i + j
        while k < len(lines) and not lines[k].strip():
            k += 1
        following = lines[k] if k < len(lines) else None
        if (
            chunk is not None
            and following is not None
            and len(_indent(following)) > len(indent)
            and following.startswith(indent)
        ):
            # The next line continues the chunk's last statement, so that statement was cut
            # short: a test function missing its last lines would pass without checking.
            shorter = _drop_last_statement(chunk)
            if shorter is not None and (shorter.tests or not chunk.tests):
                chunk = shorter
            elif not _has_check(chunk.tree.body[-1]):
                # Nothing earlier to keep, and what is left of the test checks nothing.
                chunk = shorter
        if chunk is not None:
            chunks.append(chunk)
        i += j
    return chunks


# --- Markdown fences -----------------------------------------------------------------------

_FENCE_OPEN = re.compile(r"(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*?)[ \t]*")
_PYTHON_INFO = frozenset({"", "python", "py", "python3", "py3", "pytest"})


@dataclass(frozen=True)
class _Block:
    lines: list[str]
    python: bool
    truncated: bool


def _fenced_blocks(lines: Sequence[str]) -> list[_Block]:
    blocks: list[_Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE_OPEN.fullmatch(lines[i])
        if match is None or (match["fence"][0] == "`" and "`" in match["info"]):
            i += 1
            continue
        char, size, indent = match["fence"][0], len(match["fence"]), match["indent"]
        language = re.match(r"\w*", match["info"])
        python = language is not None and language.group().lower() in _PYTHON_INFO
        close = next(
            (
                k
                for k in range(i + 1, len(lines))
                if len(lines[k].strip()) >= size and not lines[k].strip().strip(char)
            ),
            None,
        )
        content = list(lines[i + 1 : close])
        truncated = close is None
        if truncated:
            # A closing fence glued to the last code line ("    assert x == 1```") still
            # closes the block.
            for k, line in enumerate(content):
                stripped = line.rstrip()
                if stripped.endswith(char * size) and stripped.strip(char).strip():
                    content = [*content[:k], stripped.rstrip(char)]
                    truncated = False
                    break
        content = [line[len(indent) :] if line.startswith(indent) else line for line in content]
        content = textwrap.dedent("\n".join(content)).split("\n")
        blocks.append(_Block(content, python, truncated))
        i = len(lines) if close is None else close + 1
    return blocks


def _block_chunks(block: _Block) -> list[_Chunk]:
    if not block.truncated:
        tree, _ = _check("\n".join(block.lines) + "\n")
        if tree is not None:
            chunk = _make_chunk(block.lines, tree)
            return [] if chunk is None else [chunk]
    # Truncated (max_tokens) or broken: keep the parts that compile.
    return _segments(block.lines, cut=block.truncated)


# --- choosing what to keep -----------------------------------------------------------------


def _join(chunks: Iterable[_Chunk]) -> str:
    unique = list(dict.fromkeys(chunk.code for chunk in chunks))
    if not unique:
        return ""
    code = "\n\n\n".join(unique).rstrip(" \t\n") + "\n"
    tree, _ = _check(code)
    return code if tree is not None and tree.body else ""


def _union(sets: Iterable[frozenset[str]]) -> frozenset[str]:
    return frozenset().union(*sets)


def _select(chunks: Sequence[_Chunk], *, require_tests: bool) -> str:
    """The test chunks and the chunks they need; all chunks when none has tests."""
    tests = [chunk for chunk in chunks if chunk.tests]
    if not tests:
        return "" if require_tests else _join(chunks)
    # "Here is an improved version": a test chunk whose tests are all defined again later.
    later: frozenset[str] = frozenset()
    for n in reversed(range(len(tests))):
        chunk = tests[n]
        if chunk.tests <= later:
            del tests[n]
        later |= chunk.tests
    needed = _union(c.loaded for c in tests) - _union(c.bound for c in tests)
    # A chunk without tests stays when it provides something the tests use (imports, a
    # fixture, a helper); one that only repeats the code under test, which the tests import,
    # goes. If the tests forgot that import, the repeated code stays: drop_redefinitions()
    # and fix_imports() turn it into an import later.
    wanted = {id(chunk) for chunk in tests}
    kept = [
        chunk
        for chunk in chunks
        if id(chunk) in wanted
        or (not chunk.tests and (_has_fixture(chunk.tree) or chunk.bound & needed))
    ]
    for candidate in (kept, tests, sorted(tests, key=lambda c: -len(c.tests))[:1]):
        code = _join(candidate)
        if code:
            return code
    return ""


def extract_code(text: str) -> str:
    """The pytest code in a model reply, or "" when it holds none.

    Handles fenced blocks (several, truncated by max_tokens, indented), unfenced code between
    prose, and chat-template artefacts. The result compiles and ends with one newline.
    """
    lines = _normalise(text).split("\n")
    fenced: list[_Chunk] = []
    for block in _fenced_blocks(lines):
        if block.python:
            fenced.extend(_block_chunks(block))
    code = _select(fenced, require_tests=True)
    if code:
        return code
    # No tests in Python fences: maybe the code is unfenced, or in a fence labelled oddly
    # ("```test_example.py"); the fence lines themselves never compile, so they act as prose.
    code = _select(_segments(lines), require_tests=True)
    if code:
        return code
    # Unsure what the fenced code is for: hand all of it over rather than nothing.
    return _select(fenced, require_tests=False)
