"""JSON schema -> llama.cpp GBNF grammar, for servers that take a grammar (llama-cpp-python).

llama-cpp-python's own converter needs llama-cpp-python installed, and xllamacpp's
`json_schema_to_grammar` writes llguidance syntax (`%llguidance`), which llama-cpp-python's
grammar parser rejects. This converter writes plain GBNF for the keywords review-bot's
schemas use: `type` (one or a list), `properties` with `required` (required properties
first, each group in the schema's order, as llama.cpp's converter does),
`additionalProperties`, `items` with `minItems`/`maxItems`, `minLength`/`maxLength`,
`enum`, `const`, `anyOf`/`oneOf`. Like llama.cpp, it ignores keywords it does not know
(an object without `properties` is any object): callers validate what comes back.

Between tokens the grammar allows at most one space: pretty-printed JSON costs the model a
token for every newline and indent (issue 23: a cases reply was 20 % shorter compact, and
its call that much faster).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

_PRIMITIVES = {
    "space": '| " "',
    "boolean": '("true" | "false") space',
    "null": '"null" space',
    "integral-part": "[0] | [1-9] [0-9]{0,15}",
    "decimal-part": "[0-9]{1,16}",
    "integer": '("-"? integral-part) space',
    "number": '("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space',
    "char": '[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\bfnrt] | "u" [0-9a-fA-F]{4})',
    "string": '"\\"" char* "\\"" space',
    "value": "object | array | string | number | boolean | null",
    "object": '"{" space ( string ":" space value ("," space string ":" space value)* )? "}" space',
    "array": '"[" space ( value ("," space value)* )? "]" space',
}
# Which primitives each one needs.
_NEEDS = {
    "boolean": ("space",),
    "null": ("space",),
    "integer": ("integral-part", "space"),
    "number": ("integral-part", "decimal-part", "space"),
    "string": ("char", "space"),
    "value": ("object", "array", "string", "number", "boolean", "null"),
    "object": ("string", "value", "space"),
    "array": ("value", "space"),
}


def literal(text: str) -> str:
    """A GBNF string literal matching `text` exactly."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


class _Grammar:
    def __init__(self) -> None:
        self.used: dict[str, None] = {}

    def use(self, name: str) -> str:
        if name not in self.used:
            self.used[name] = None
            for need in _NEEDS.get(name, ()):
                self.use(need)
        return name

    def json_literal(self, value: Any) -> str:
        return f"{literal(json.dumps(value, ensure_ascii=False))} {self.use('space')}"

    def visit(self, schema: Any) -> str:
        if not isinstance(schema, Mapping):
            return self.use("value")  # `true` or something unknown: any JSON value
        if "const" in schema:
            return self.json_literal(schema["const"])
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return "(" + " | ".join(self.json_literal(v) for v in schema["enum"]) + ")"
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return "(" + " | ".join(self.visit(option) for option in options) + ")"
        kind = schema.get("type")
        if isinstance(kind, list):
            if not kind:
                return self.use("value")
            return "(" + " | ".join(self.visit({**schema, "type": k}) for k in kind) + ")"
        if kind == "object":
            return self._object(schema)
        if kind == "array":
            return self._array(schema)
        if kind == "string":
            return self._string(schema)
        if kind in ("integer", "number", "boolean", "null"):
            return self.use(str(kind))
        return self.use("value")

    def _string(self, schema: Mapping[str, Any]) -> str:
        low = _count(schema.get("minLength"), 0) or 0
        high = _count(schema.get("maxLength"), None)
        if low == 0 and high is None:
            return self.use("string")
        char = self.use("char")
        self.use("space")
        times = f"{{{low},}}" if high is None else f"{{{low},{max(high, low)}}}"
        return f'"\\"" {char}{times} "\\"" space'

    def _array(self, schema: Mapping[str, Any]) -> str:
        item = self.visit(schema.get("items", True))
        self.use("space")
        low = _count(schema.get("minItems"), 0) or 0
        high = _count(schema.get("maxItems"), None)
        if high == 0:
            return '"[" space "]" space'
        more_low = max(low - 1, 0)
        more = f"{{{more_low},}}" if high is None else f"{{{more_low},{max(high, low) - 1}}}"
        items = f'({item}) ("," space ({item})){more}'
        if low == 0:
            items = f"({items})?"
        return f'"[" space {items} "]" space'

    def _object(self, schema: Mapping[str, Any]) -> str:
        properties = schema.get("properties")
        if not isinstance(properties, Mapping) or not properties:
            return self.use("object")
        self.use("space")
        required = set(schema.get("required") or ())
        pairs = {
            name: f'{literal(json.dumps(name, ensure_ascii=False))} space ":" space '
            f"({self.visit(sub)})"
            for name, sub in properties.items()
        }
        mandatory = [pairs[n] for n in pairs if n in required]
        optional = [pairs[n] for n in pairs if n not in required]
        extra = schema.get("additionalProperties")
        if extra is not None and extra is not False:
            value = self.visit(extra if isinstance(extra, Mapping) else True)
            optional.append(f'{self.use("string")} ":" space ({value})')
            optional[-1] = f'({optional[-1]} ("," space {optional[-1]})*)'
        if mandatory:
            body = ' "," space '.join(mandatory)
            body += "".join(f' ("," space {pair})?' for pair in optional)
        else:
            body = f"({_optional_chain(optional)})?"
        return f'"{{" space {body} "}}" space'


def _optional_chain(pairs: Sequence[str]) -> str:
    """Any ordered, non-empty subset of `pairs`, comma-separated."""
    options = []
    for index, pair in enumerate(pairs):
        rest = pairs[index + 1 :]
        tail = f' ("," space ({_optional_chain(rest)}))?' if rest else ""
        options.append(pair + tail)
    return " | ".join(f"({option})" for option in options)


def _count(value: Any, default: int | None) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return default


def schema_to_gbnf(schema: Mapping[str, Any]) -> str:
    """The GBNF grammar whose `root` is a JSON text matching `schema`."""
    grammar = _Grammar()
    root = grammar.visit(schema)
    lines = [f"root ::= {root}"]
    lines += [f"{name} ::= {_PRIMITIVES[name]}" for name in grammar.used]
    return "\n".join(lines) + "\n"
