"""The JSON schema the model fills, its reply, and rendering the docstring in a convention.

Small local models cannot write lint-clean docstrings as free text, so the model only fills a
JSON object (constrained by a grammar where the backend supports it) and review-bot renders the
text itself. Nothing is kept unless `check_docstring` (check.py) says so.
"""

from __future__ import annotations

import json
import re
import textwrap
import unicodedata
from collections.abc import Mapping
from typing import Any, NamedTuple

from review_bot.config import CONVENTIONS
from review_bot.generate.docstrings.documents import (
    documented_params,
    documents_return,
    documents_yield,
    raise_guards,
    raised_exceptions,
)
from review_bot.records import Param, Target

# Room for the model's prose; the grammar (where honoured) stops runaway text.
SUMMARY_MAX = 100
DESCRIPTION_MAX = 200
PARAM_MAX = 100
EXCEPTION_MAX = 80
MAX_RAISES = 3
# Width of wrapped prose inside the docstring, not counting the function's indentation:
# PEP 8 asks for docstring lines of at most 72 characters.
WRAP_WIDTH = 72
# The docstring's first line as it stands in the file (indentation and quotes included) must
# fit the default line length of ruff and black: a longer summary is a "lint" rejection.
SUMMARY_COLUMNS = 88
RUFF_TIMEOUT_S = 60.0

# -- the schema -------------------------------------------------------------------------------


def docstring_schema(target: Target) -> dict[str, Any]:
    """The JSON schema the model's reply must follow.

    Only keywords llama.cpp's json-schema-to-grammar understands are used (it skips others
    silently), and every key is required so the grammar forces the model to write it.
    """
    text: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": PARAM_MAX}
    params = documented_params(target)
    exceptions = raised_exceptions(target)
    exception: dict[str, Any] = (
        {"type": "string", "enum": exceptions}
        if exceptions
        else {"type": "string", "minLength": 1, "maxLength": EXCEPTION_MAX}
    )
    properties: dict[str, Any] = {
        "summary": {"type": "string", "minLength": 1, "maxLength": SUMMARY_MAX},
        "description": {"type": "string", "maxLength": DESCRIPTION_MAX},
        "params": {
            "type": "object",
            "properties": {name: dict(text) for name in params},
            "required": params,
            "additionalProperties": False,
        },
    }
    if documents_return(target):
        properties["returns"] = dict(text)
    if documents_yield(target):
        properties["yields"] = dict(text)
    properties["raises"] = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"exception": exception, "when": dict(text)},
            "required": ["exception", "when"],
            "additionalProperties": False,
        },
        # maxItems 0 when the function raises nothing by name: the grammar then allows "[]".
        # minItems: each exception the body raises must be documented (pydoclint's DOC503).
        "minItems": min(MAX_RAISES, len(exceptions)),
        "maxItems": min(MAX_RAISES, len(exceptions)),
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


# -- the reply --------------------------------------------------------------------------------


def parse_reply(text: str) -> dict[str, Any] | None:
    """The first JSON object in the model's reply that has a usable summary, validated.

    Leading or trailing prose and code fences are skipped. Returns None when nothing usable is
    found. Fields of the wrong type are dropped rather than trusted: a server may skip the
    grammar without saying so.
    """
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            data = _coerce(value)
            if data is not None:
                return data
    return None


def _coerce(data: Mapping[str, Any]) -> dict[str, Any] | None:
    summary = data.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        return None
    description = data.get("description")
    params = data.get("params")
    result: dict[str, Any] = {
        "summary": summary,
        "description": description if isinstance(description, str) else "",
        "params": (
            {k: v for k, v in params.items() if isinstance(k, str) and isinstance(v, str)}
            if isinstance(params, Mapping)
            else {}
        ),
        "raises": [],
    }
    for key in ("returns", "yields"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            result[key] = value
    raises = data.get("raises")
    if isinstance(raises, list):
        result["raises"] = [
            {"exception": item["exception"], "when": item["when"]}
            for item in raises
            if isinstance(item, Mapping)
            and isinstance(item.get("exception"), str)
            and isinstance(item.get("when"), str)
        ]
    return result


def cut_fields(target: Target, data: Mapping[str, Any]) -> list[str]:
    """The fields the grammar's maxLength cut off mid-sentence ("truncated").

    Rendering ends every sentence with a period, which would hide the cut.
    """
    clean = _coerce(data)
    if clean is None:
        return []
    limits = {"summary": SUMMARY_MAX, "returns": PARAM_MAX, "yields": PARAM_MAX}
    texts = [(key, clean.get(key, ""), limit) for key, limit in limits.items()]
    texts += [(name, text, PARAM_MAX) for name, text in clean["params"].items()]
    texts += [(f"Raises {i['exception']}", i["when"], PARAM_MAX) for i in clean["raises"]]
    return [
        key
        for key, text, limit in texts
        if isinstance(text, str)
        and len(text.strip()) >= limit - 1
        and not text.strip().endswith((".", "!", "?"))
    ]


# -- rendering --------------------------------------------------------------------------------


class _Parts(NamedTuple):
    summary: str
    description: list[str]  # paragraphs
    params: list[tuple[str, str]]  # (documented name, sentence)
    returns: str | None
    yields: str | None
    raises: list[tuple[str, str]]  # (exception, sentence)


def render_docstring(target: Target, data: Mapping[str, Any], convention: str) -> str:
    """The docstring body for `target` in `convention`: no quotes, no indentation.

    The text is escaped so that it is safe inside triple double quotes. Returns "" when the
    data holds no usable summary (check_docstring then rejects it as "empty").
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown docstring convention: {convention!r}")
    parts = _parts(target, data, convention)
    if parts is None:
        return ""
    lines = [parts.summary]
    for paragraph in parts.description:
        lines += ["", *_wrap(paragraph)]
    if convention == "google":
        lines += _google_sections(parts)
    elif convention == "numpy":
        lines += _numpy_sections(target, parts)
    else:
        lines += _pep257_sections(target, parts)
    return _escape("\n".join(lines))


def _parts(target: Target, data: Mapping[str, Any], convention: str) -> _Parts | None:
    clean = _coerce(data)
    if clean is None:
        return None
    summary_text = _clean_text(clean["summary"])
    # One sentence only: anything after the first sentence becomes description.
    first, *more = re.split(r"(?<=[.!?])\s+(?=[A-Z])", summary_text, maxsplit=1)
    rest = more[0] if more else ""
    summary = _summary(first, convention)
    if not summary or _only_repeats_name(summary, target.name):
        return None
    description = _clean_paragraphs(rest) + _clean_paragraphs(clean["description"])
    # Small models like to repeat the summary as the description.
    description = [p for p in description if _sentence(p).lower() != summary.lower()]
    params: list[tuple[str, str]] = []
    given: Mapping[str, str] = clean["params"]
    for param in documented_params(target):
        sentence = _sentence(_clean_text(given.get(param, given.get(param.lstrip("*"), ""))))
        if sentence:
            params.append((param, sentence))
    returns = None
    if "returns" in clean and documents_return(target):
        returns = _sentence(_clean_text(clean["returns"])) or None
    yields = None
    if "yields" in clean and documents_yield(target):
        yields = _sentence(_clean_text(clean["yields"])) or None
    raises: list[tuple[str, str]] = []
    allowed = raised_exceptions(target)
    guards = raise_guards(target)
    for item in clean["raises"]:
        exception = _exception_name(item["exception"], allowed)
        when = _sentence(_condition(_clean_text(item["when"])))
        if exception in guards:
            when = f"If {guards[exception]}."  # the code's own condition, not a guess
        seen = [name for name, _ in raises]
        if exception and when and exception not in seen and len(raises) < MAX_RAISES:
            raises.append((exception, when))
    return _Parts(summary, description, params, returns, yields, raises)


def _google_sections(parts: _Parts) -> list[str]:
    lines: list[str] = []
    if parts.params:
        lines += ["", "Args:"]
        for name, text in parts.params:
            lines += _wrap(f"{name}: {text}", indent="    ", hanging="        ")
    if parts.returns:
        lines += ["", "Returns:", *_wrap(parts.returns, indent="    ")]
    if parts.yields:
        lines += ["", "Yields:", *_wrap(parts.yields, indent="    ")]
    if parts.raises:
        lines += ["", "Raises:"]
        for name, text in parts.raises:
            lines += _wrap(f"{name}: {text}", indent="    ", hanging="        ")
    return lines


def _numpy_sections(target: Target, parts: _Parts) -> list[str]:
    lines: list[str] = []
    if parts.params:
        lines += ["", "Parameters", "----------"]
        for name, text in parts.params:
            param = _param(target, name)
            annotation = _one_line(param.annotation) if param and param.annotation else None
            optional = param is not None and param.default is not None
            if annotation:
                lines.append(f"{name} : {annotation}{', optional' if optional else ''}")
            else:
                lines.append(name)
            lines += _wrap(text, indent="    ")
    if parts.returns:
        lines += ["", "Returns", "-------"]
        if target.returns:
            lines += [_one_line(target.returns), *_wrap(parts.returns, indent="    ")]
        else:
            lines += _wrap(parts.returns)
    if parts.yields:
        # The annotation (Iterator[int]) is not the type of what is yielded: text only.
        lines += ["", "Yields", "------", *_wrap(parts.yields)]
    if parts.raises:
        lines += ["", "Raises", "------"]
        for name, text in parts.raises:
            lines += [name, *_wrap(text, indent="    ")]
    return lines


def _pep257_sections(target: Target, parts: _Parts) -> list[str]:
    # PEP 257's own example: "Keyword arguments:\n real -- the real part (default 0.0)".
    lines: list[str] = []
    if parts.params:
        lines += ["", "Arguments:"]
        for name, text in parts.params:
            param = _param(target, name)
            if param and param.default is not None and len(param.default) <= 30:
                text = f"{text.removesuffix('.')} (default {_one_line(param.default)})."
            lines += _wrap(f"{name} -- {text}", indent="    ", hanging="        ")
    if parts.returns:
        lines += ["", "Returns:", *_wrap(parts.returns, indent="    ")]
    if parts.yields:
        lines += ["", "Yields:", *_wrap(parts.yields, indent="    ")]
    if parts.raises:
        lines += ["", "Raises:"]
        for name, text in parts.raises:
            lines += _wrap(f"{name} -- {text}", indent="    ", hanging="        ")
    return lines


def _param(target: Target, name: str) -> Param | None:
    bare = name.lstrip("*")
    return next((p for p in target.params if p.name == bare), None)


def _wrap(text: str, indent: str = "", hanging: str | None = None) -> list[str]:
    return textwrap.wrap(
        text,
        width=WRAP_WIDTH,
        initial_indent=indent,
        subsequent_indent=indent if hanging is None else hanging,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent.rstrip()]


_NAMED_CHARS = {"\n": "a newline", "\t": "a tab", "\r": "a carriage return"}


def _clean_text(text: str) -> str:
    """One line of plain text: control characters gone, whitespace collapsed.

    Format characters go too: bidi overrides in a docstring would make the source read
    differently from what it is ("Trojan Source"). A quoted newline or tab (the model's
    JSON "'\\n'", a default) becomes words: a blank between quotes reads as a space, and
    a backslash would make the docstring fail D301.
    """
    for char, words in _NAMED_CHARS.items():
        text = re.sub(rf"(['\"`]){char}\1", words, text)
    chars = []
    for char in text:
        category = unicodedata.category(char)
        if char in "\t\n\r\f\v" or category in ("Zl", "Zp"):
            chars.append(" ")
        elif category not in ("Cc", "Cf", "Cs", "Co", "Cn"):
            chars.append(char)
    return " ".join("".join(chars).split())


def _clean_paragraphs(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (_clean_text(p) for p in re.split(r"\n\s*\n", text))
    return [_sentence(p) for p in paragraphs if _plausible(p)]


def _plausible(paragraph: str) -> bool:
    """Drop the fragments small models leave: ", and it also ...", "It can be."."""
    if len(paragraph.split()) < 4:
        return False
    return paragraph[0].isalnum() or paragraph[0] in "`'\"("


def _sentence(text: str) -> str:
    """Capitalised, ending with a period."""
    text = text.strip().rstrip(",;:").rstrip()
    if not text:
        return ""
    if text[0].islower():
        text = text[0].upper() + text[1:]
    if not text.endswith((".", "!", "?")):
        text += "."
    return text


def _summary(text: str, convention: str) -> str:
    text = _imperative(_clean_text(text))
    text = _sentence(text)
    # Only google (D415) accepts "?" and "!"; numpy and pep257 (D400) want a period.
    if convention != "google" and text.endswith(("!", "?")):
        text = text[:-1].rstrip() + "."
    return text


_CONDITION_WORDS = {"if", "when", "whenever", "unless", "on", "for", "in", "while", "after"}


def _condition(text: str) -> str:
    """ "x is negative" -> "if x is negative": the section reads "ValueError: If x is ..."."""
    word = text.split(" ", 1)[0]
    if not text or word.lower() in _CONDITION_WORDS or word.lower().startswith(("raise", "throw")):
        return text
    if len(word) > 1 and word[0].isupper() and word[1:].islower():
        text = text[0].lower() + text[1:]  # "The text is empty" -> "if the text is empty"
    return f"if {text}"


def _only_repeats_name(summary: str, name: str) -> bool:
    words = re.findall(r"[a-z0-9]+", summary.lower())
    return words == [w for w in name.lower().split("_") if w]


def _exception_name(text: str, allowed: list[str]) -> str | None:
    match = re.match(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", text.strip().strip("`'\""))
    if match is None:
        return None
    name = match.group()
    for candidate in allowed:
        if name == candidate or name.rsplit(".", 1)[-1] == candidate.rsplit(".", 1)[-1]:
            return candidate
    return None


_VERBS = """
    accept add allow append apply assert attach build calculate call cast check clean clear
    close collect combine compare compile compute concatenate configure construct convert copy
    count create decode decorate define delete describe detect determine divide download draw
    drop dump emit enable encode ensure escape evaluate execute expand extract fetch fill
    filter find fit flatten format generate get give group guess handle hash import increment
    initialise initialize insert invert iterate join keep list load look lookup make map mark
    match merge move multiply normalise normalize open pad parse pass patch perform pick
    prepare print process produce pull push put raise read record reduce register remove
    rename render repeat replace report reset resolve restore retrieve return reverse round
    run sanitize save scale search select send serialize set shift show skip sort split start
    stop store strip subtract sum swap take test tokenize transform translate trim truncate
    try turn update upload use validate verify wait walk wrap write yield
""".split()


def _third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if len(verb) > 1 and verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


_IMPERATIVE = {_third_person(verb): verb for verb in _VERBS}


def _imperative(text: str) -> str:
    """ "Returns the sum" -> "Return the sum": numpy and pep257 check the mood (D401).

    Only verbs from a fixed list are touched, so a noun is never mangled.
    """
    match = re.match(r"(?i)(?:this|the)\s+(?:function|method)\s+(\w+)\b\s*", text)
    if match and match.group(1).lower() in _IMPERATIVE:
        text = text[match.start(1) :]
    word = re.match(r"[A-Za-z]+", text)
    if word and word.group().lower() in _IMPERATIVE:
        verb = _IMPERATIVE[word.group().lower()]
        text = verb.capitalize() + text[word.end() :]
    return text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _escape(text: str) -> str:
    """Make the body safe inside triple double quotes.

    Backslashes are doubled (ruff's D301 then asks for a raw string, so such a docstring is
    rejected, but the code stays what it was). In a run of quotes every third one is escaped
    with a backslash in front of the three, the one form besides escaping all three that
    D301 accepts; the rest of the run goes first, so no three unescaped quotes ever meet.
    A final quote would merge with the closing quotes, so it is escaped too.
    """
    text = text.replace("\\", "\\\\")
    text = re.sub(
        r'"{3,}', lambda m: '"' * (len(m.group()) % 3) + '\\"""' * (len(m.group()) // 3), text
    )
    if text.endswith('"'):
        text = text[:-1] + '\\"'
    return text
