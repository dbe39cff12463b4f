"""Is a docstring's prose worth merging? Reasons `placeholder`, `truncated`,
`restates-name` and `filler`.

A linter checks the shape; a small model writes text of the right shape that says nothing or
says it wrong. Real SmolLM2-135M output that passes pydocstyle and names every parameter:

    Return [value] for each word in the input text.        -> placeholder
    text: ... one of the following arguments to be.        -> truncated
    Is_palindrome: Returns True if the given text is ...   -> restates-name
    The computed value is returned by the function.        -> filler

The docstring is split into pieces (summary, description paragraphs, each Args/Returns/
Yields/Raises entry; Examples are code and are skipped) and each piece is checked.

>>> doc = "Add.\\n\\nArgs:\\n    a: First.\\n\\nReturns:\\n    Sum."
>>> [where for where, _ in prose_of(doc)]
['summary', 'a', 'Returns']
>>> quality_problem("word_count", ["text"], "Return [value] per word.\\n\\nArgs:\\n    text: X.")
('placeholder', 'the summary holds a placeholder: [value]')
>>> quality_problem("split", ["sep"], "Split text.\\n\\nArgs:\\n    sep: -.")
('placeholder', 'sep is a value, not a description: -.')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

QualityReason = Literal["placeholder", "truncated", "restates-name", "filler"]

# Sections whose entries start with a name: "name: text" (google), "name -- text"
# (pep257), "name : type" over indented text (numpy).
_NAMED = {
    "args",
    "arguments",
    "parameters",
    "params",
    "keyword arguments",
    "raises",
    "other parameters",
}
_PLAIN = {"returns", "return", "yields", "yield", "note", "notes", "warning", "warnings"}
_CODE = {"examples", "example", "see also", "references", "attributes", "todo"}
_HEADERS = _NAMED | _PLAIN | _CODE


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _header(lines: list[str], i: int) -> tuple[str, int] | None:
    """(section name, lines the header takes) when lines[i] starts a section."""
    line = lines[i].strip()
    if _indent(lines[i]) == 0 and line.endswith(":") and line[:-1].lower() in _HEADERS:
        return line[:-1].lower(), 1
    nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
    if line.lower() in _HEADERS and re.fullmatch(r"-{3,}", nxt):
        return line.lower(), 2
    return None


def prose_of(docstring: str) -> list[tuple[str, str]]:
    """(where, text) for each piece of prose: "summary", "description", a parameter's name,
    "Raises <exception>", "Returns", "Yields", "note"... Each piece's lines are joined."""
    lines = docstring.strip("\n").splitlines()
    pieces: list[tuple[str, str]] = []
    i = 0
    paragraph: list[str] = []

    def flush(where: str) -> None:
        if paragraph:
            pieces.append((where, " ".join(s.strip() for s in paragraph)))
            paragraph.clear()

    while i < len(lines) and lines[i].strip():
        paragraph.append(lines[i])
        i += 1
    flush("summary")
    while i < len(lines):
        header = _header(lines, i)
        if header is None:
            if lines[i].strip():
                paragraph.append(lines[i])
            else:
                flush("description")
            i += 1
            continue
        flush("description")
        name, size = header
        numpy = size == 2
        i += size
        body: list[str] = []
        while i < len(lines) and _header(lines, i) is None:
            if not numpy and lines[i].strip() and _indent(lines[i]) == 0:
                break
            body.append(lines[i])
            i += 1
        if name in _NAMED:
            prefix = "Raises " if name == "raises" else ""
            pieces += [(prefix + entry, text) for entry, text in _entries(body, numpy)]
        elif name in _PLAIN:
            title = (
                name.capitalize().rstrip("s") + "s"
                if name.startswith(("return", "yield"))
                else name
            )
            pieces += [(title, text) for text in _plain(body, numpy, name)]
    flush("description")
    return [(where, text) for where, text in pieces if text]


_ENTRY = re.compile(r"^(\*{0,2}[\w.]+)\s*(?:\([^)]*\))?\s*(?::|--)\s*(.*)$")


def _entries(body: list[str], numpy: bool) -> list[tuple[str, str]]:
    indents = [_indent(s) for s in body if s.strip()]
    if not indents:
        return []
    base = min(indents)
    entries: list[tuple[str, list[str]]] = []
    for line in body:
        if not line.strip():
            continue
        if _indent(line) == base:
            if numpy:
                entries.append((line.split(":", 1)[0].strip(), []))
            else:
                match = _ENTRY.match(line.strip())
                name, text = (match.group(1), match.group(2)) if match else ("", line.strip())
                entries.append((name, [text]))
        elif entries:
            entries[-1][1].append(line.strip())
    return [(name, " ".join(t for t in texts if t)) for name, texts in entries]


def _plain(body: list[str], numpy: bool, name: str) -> list[str]:
    nonblank = [s for s in body if s.strip()]
    if not nonblank:
        return []
    if numpy and name.startswith(("return", "yield")):
        # "type" lines at the section's indent, their text indented under them.
        base = min(_indent(s) for s in nonblank)
        deeper = [s.strip() for s in nonblank if _indent(s) > base]
        return [" ".join(deeper)] if deeper else [" ".join(s.strip() for s in nonblank)]
    text = " ".join(s.strip() for s in nonblank)
    if name.startswith(("return", "yield")):
        # Google allows "bool: True if ...": the type is not prose.
        text = re.sub(r"^[\w.\[\], |]+:\s+", "", text)
    return [text]


# -- the checks -----------------------------------------------------------------------------

_PLACEHOLDERS = (
    re.compile(r"(?<![\w\]\)])\[[A-Za-z_][\w ]*\]"),  # [value], [word_count]; not list[int]
    re.compile(r"<[A-Za-z_][\w ]*>"),  # <name>
    re.compile(r"\{\w*\}"),  # {returns_true}, {}: a template's slot
    re.compile(r"\b(?:TODO|TBD|FIXME|XXX)\b"),
    re.compile(r"\.\.\.|\u2026"),  # an ellipsis
    re.compile(r"(?i)\blorem ipsum\b|\b(?:description|text|summary) (?:goes )?here\b"),
    # A format slot copied from an exception's message: "If expected text, not %r."
    re.compile(r"(?<![\w%])%(?:\(\w+\))?[-#0 +]?\d*(?:\.\d+)?[rsdifxXeEgG](?!\w)"),
    # A piece that is only a sentinel's name: "ref: _UNSET." (the default's source).
    re.compile(r"^`?(?:_\w+|[A-Z][A-Z0-9]*_[A-Z0-9_]*)`?\.?$"),
)

# A sentence ending on one of these was cut off ("to be.", "False for.", "and the.").
_DANGLING = {
    "a", "an", "the", "and", "or", "nor", "but", "of", "than", "which", "whose",
    "following", "such", "its", "their", "your", "our", "my", "if", "whether", "because",
    "unless", "be", "e.g", "i.e", "is a", "with the",
}  # fmt: skip
_FOR_OK = {"look", "looking", "search", "searching", "wait", "waiting", "ask", "account"}
# A sentence may end on "to" after a verb that takes it ("the number of places to round
# to.", issue 21); after anything else it was cut off ("the value to.").
_TO_OK = {
    "round", "convert", "compare", "refer", "refers", "apply", "map", "add", "append",
    "prepend", "point", "points", "belong", "belongs", "limit", "clamp", "cast", "pad",
    "scale", "resize", "switch", "write", "send", "listen", "go", "set", "default",
    "defaults", "fall", "falls", "back", "up", "due", "close", "equal", "similar",
    "attach", "bind", "join", "reply", "respond", "jump", "move", "truncate", "cut",
}  # fmt: skip
_TERMINAL = re.compile(r"[.!?][)\]\"'`]*$")

# Words that would fit any function: a piece made only of these says nothing.
_GENERIC = set(
    """
    a an the this that these those it its is are was were be been being will would can could
    may might should must shall do does done has have had of to in on at by for from with as
    into and or not no if when whether than then which who what there here all any some each
    every one single given specified provided passed supplied input inputs output outputs value
    values result results data object objects item items thing things variable variables
    parameter parameters param params argument arguments arg args function functions method
    methods return returns returned returning compute computes computed computing calculate
    calculates calculated accept accepts accepted take takes taken get gets use used uses
    using apply applies applied applying perform performs performed process processes
    processed operation specific certain appropriate corresponding relevant respective
    optional optionally type types based upon according way string strings str integer int
    number numbers float list dict dictionary bool boolean tuple none true false expression
    concise produce produced produces describe describes described called call calls
    """.split()
)
_SELF_REFERENCE = re.compile(r"(?i)\b(?:this|the) (?:function|method)\b")
_CALLABLE_PARAM = re.compile(r"(?i)func|fn$|method|callback|call")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", text.lower())


def _name_words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name.lstrip("*"))
    return {w for w in re.split(r"[\W_]+", spaced.lower()) if w}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


# A piece that is only a value, where a description belongs: the model filled the field as
# an argument, from the calls it was shown ("range_delim": "-", "lower": "True", a Returns
# of "(1, 2), (4, 3)"); it read as a cut-off sentence ("...-.") and the retry was told so.
_VALUE = re.compile(r"[^A-Za-z]*|(?i:true|false|none|null)")


def _placeholder(text: str) -> str:
    for pattern in _PLACEHOLDERS:
        match = pattern.search(text)
        if match:
            return match.group()
    return ""


def copied_value(docstring: str, values: Sequence[str]) -> str:
    """The first Args, Returns or Yields piece of `docstring` that is one of `values` (the
    arguments and results of the function's recorded calls, as text), or "": a 0.5B model
    fills "word" with "Hello world." and Returns with "Hello worlds.", a call it was shown.

    >>> copied_value("Pluralize.\\n\\nArgs:\\n    word: Hello world.", ["hello world", "x"])
    'word: Hello world.'
    """
    seen = {value.strip().lower() for value in values if value.strip()}
    for where, text in prose_of(docstring):
        if where in ("summary", "description") or where.startswith("Raises "):
            continue
        if _bare(text).strip().lower() in seen:
            return f"{where}: {text.strip()}"
    return ""


def _bare(text: str) -> str:
    """A piece without its period and quotes: `'-'.` -> `-`."""
    return text.strip().removesuffix(".").strip().strip("`'\"")


def _value(text: str) -> str:
    bare = _bare(text)
    if any(bare.count(pair[0]) != bare.count(pair[1]) for pair in ("()", "[]", "{}")):
        return ""  # a bracket left open: cut off (`truncated`)
    return text.strip() if _VALUE.fullmatch(bare) else ""


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z`\"'(])", text) if s]


def _truncated(where: str, text: str, names: Sequence[str] = ()) -> str:
    """The cut-off ending, or "".

    Every section's text ends with terminal punctuation; the summary's is pydocstyle's
    business (D400/D415: `lint`).
    """
    if where != "summary" and not _TERMINAL.search(text):
        return text[-30:]
    for pair in ("()", "[]", "{}"):
        if text.count(pair[0]) != text.count(pair[1]):
            return f"unbalanced {pair[0]}"
    if text.count("`") % 2:
        return "unbalanced `"
    for sentence in _sentences(text):
        words = _words(sentence.rstrip(".!?)\"'`"))
        if not words:
            return sentence
        last_two = " ".join(words[-2:])
        if re.search(rf"\b(?:{'|'.join(map(re.escape, names))})\W*$", sentence) and names:
            continue  # "Subtract b from a.": `a` is a parameter, not an article
        if words[-1] in _DANGLING or last_two in _DANGLING:
            return " ".join(sentence.split()[-4:])
        if words[-1] == "for" and (len(words) < 2 or words[-2] not in _FOR_OK):
            return " ".join(sentence.split()[-4:])
        if words[-1] == "to" and (len(words) < 2 or words[-2] not in _TO_OK):
            return " ".join(sentence.split()[-4:])
    return ""


def _restates(where: str, text: str, function: str, params: Sequence[str]) -> str:
    if where == "summary":
        name = re.escape(function)
        verbs = "is|returns|function|method|takes|will|checks|computes"
        subject = rf"(?i)^`?{name}`?(?:\(\))?\s*(?::|-|\u2014|\b(?:{verbs})\b)"
        if re.match(subject, text):
            return f"the summary starts with the function's name: {text[:40]}..."
        return ""
    if where.lstrip("*") not in params:
        return ""
    content = {_stem(w) for w in _words(text)} - _GENERIC
    named = {_stem(w) for w in _name_words(where)}
    if content <= named and (content or named & {_stem(w) for w in _words(text)}):
        return f"{where}: {text}"
    return ""


def _filler(text: str, params: Sequence[str]) -> str:
    callable_param = any(_CALLABLE_PARAM.search(p) for p in params)
    for sentence in _sentences(text):
        if not callable_param and _SELF_REFERENCE.search(sentence):
            return sentence
    if not {w for w in _words(text)} - _GENERIC:
        return text
    return ""


def quality_problem(
    function: str, params: Sequence[str], docstring: str
) -> tuple[QualityReason, str] | None:
    """The first quality problem of `docstring` (cleaned) as (reason, detail), or None.

    `function` is the function's name, `params` the names it must document (with stars).
    """
    pieces = prose_of(docstring)
    bare = [p.lstrip("*") for p in params]

    def label(where: str) -> str:
        return f"the {where}" if where in ("summary", "description") else where

    for where, text in pieces:
        found = _placeholder(text)
        if found:
            return "placeholder", f"{label(where)} holds a placeholder: {found}"
        found = _value(text)
        if found and not where.startswith("Raises "):
            return "placeholder", f"{label(where)} is a value, not a description: {found}"
    for where, text in pieces:
        found = _truncated(where, text, bare)
        if found:
            return "truncated", f"{label(where)} is cut off: ...{found}"
    for where, text in pieces:
        found = _restates(where, text, function, bare)
        if found:
            return "restates-name", found
    for where, text in pieces:
        if where.startswith("Raises "):
            continue  # a condition, not a description: "If x is negative."
        found = _filler(text, bare)
        if found:
            return "filler", f"{label(where)}: {found}"
    return None
