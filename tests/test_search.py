"""The model-seeded search's candidates (generate/search.py) and what a candidate may be."""

from __future__ import annotations

import json

from review_bot.generate import search
from review_bot.generate.cases import param_schema
from review_bot.generate.cases_cut import fits
from review_bot.records import Param


def test_constants_come_from_the_code_not_its_docstring() -> None:
    source = 'def f(n):\n    """Ten is 10."""\n    if n >= 10 or n == -3:\n        return "x"\n'
    assert search.code_constants(source) == [10, -3, "x"]  # in order, -3 as written
    assert search.code_constants("def f(:") == []


def test_candidates_vary_one_argument_of_each_seed_in_turn() -> None:
    seeds = [((5, "ab"), {}), ((7, "cd"), {"flag": True})]
    found = search.candidates(seeds, [100], limit=6)
    assert len(found) == 6
    keys = {json.dumps([list(a), k]) for a, k in seeds}
    assert not keys & {json.dumps([list(a), k]) for a, k in found}  # no seed again
    # Round-robin: both seeds and both positions vary before any goes deep; the code's
    # constant (100) comes before the generic neighbours.
    assert found[:4] == [
        ((99, "ab"), {}),
        ((99, "cd"), {"flag": True}),
        ((5, ""), {}),
        ((7, ""), {"flag": True}),
    ]
    # A seed's other arguments are tried for each one: clamp(10, 6, 5) turns `upper < lower`.
    clamp = search.candidates([((10, -5, 5), {})], [], limit=100)
    assert (10, 6, 5) in [args for args, _ in clamp] and (10, -5, -6) in [a for a, _ in clamp]
    for args, kwargs in search.candidates(seeds, [100], limit=100):
        seed = next(s for s in seeds if len(s[0]) == len(args) and s[1].keys() == kwargs.keys())
        changed = [a != b for a, b in zip(args, seed[0], strict=True)]
        changed += [kwargs[k] != seed[1][k] for k in kwargs]
        assert sum(changed) == 1  # exactly one argument differs from some seed
    assert search.candidates([], [1]) == []


def test_a_candidate_keeps_to_its_parameters_schema() -> None:
    params = [
        Param("mode", "Literal['a', 'b']", None, "positional"),
        Param("n", "int", None, "positional"),
    ]
    schemas = {p.name: param_schema(p) for p in params}
    assert fits(("a", 3), {}, params, schemas)
    assert not fits(("c", 3), {}, params, schemas)  # an enum stays an enum
    assert not fits(("a", 2.5), {}, params, schemas)
    assert not fits(("a", True), {}, params, schemas)  # a bool is not an int here


def test_a_parameter_every_row_gives_its_default_is_left_out_of_the_call() -> None:
    from review_bot.generate.cases import Row, _columns

    def param(name: str, default: str | None, kind: str = "positional") -> Param:
        return Param(name, None, default, kind)  # type: ignore[arg-type]

    params = [param("name", None), param("greeting", '"Hello"'), param("end", "'!'")]
    # `'Hello'` (a row's repr) is the default `"Hello"`; "?" is not "!".
    rows = [Row(["'Ann'", "'Hello'", "'!'"], "x"), Row(["'Bo'", "'Hello'", "'?'"], "y")]
    assert _columns(params, rows) == [0, 2]
    assert _columns(params, rows[:1]) == [0]
    # A positional-only parameter that is passed keeps every one before it.
    only = [param("a", "1", "positional_only"), param("b", None, "positional_only")]
    assert _columns(only, [Row(["1", "2"], "z")]) == [0, 1]


def test_an_unannotated_parameter_takes_the_type_of_its_default() -> None:
    def schema(default: str | None) -> object:
        return param_schema(Param("p", None, default, "positional"))

    assert schema("False") == {"type": "boolean"}  # not a string the model made up
    assert schema("3") == {"type": "integer"} and schema("0.5") == {"type": "number"}
    assert schema("'-'") == {"type": "string", "maxLength": 40}
    any_value = schema(None)
    assert isinstance(any_value, dict) and "anyOf" in any_value
    assert schema("None") == any_value and schema("float('inf')") == any_value
    assert param_schema(Param("p", "bool", "1", "positional")) == {"type": "boolean"}


def test_a_string_meets_the_codes_strings_and_a_number_the_seeds_lengths() -> None:
    # `word.endswith('ies')`: the seed with the code's suffix appended is a plural; a
    # `max_len` near `len(text)` is where `ellipsize(text, max_len)` starts to cut.
    near = search.neighbours("cherry", ["ies", "s"])
    assert near[:4] == ["ies", "cherryies", "s", "cherrys"] and "iescherry" in near
    assert search.neighbours("", ["ies"]) == ["ies", " ", "é"]  # nothing to append to
    # One less than each length, the length, half of it; then the generic ones.
    lengths = search.neighbours(160, [7, "hello world!", [1, 2]])
    assert lengths == [6, 7, 8, 11, 12, 1, 2, 0, -1, 159, 161, -160]


def test_module_level_tables_the_function_reads_give_constants() -> None:
    module = (
        "IRREGULAR = {'child': 'children', 'ox': 'oxen', 'mouse': 'mice'}\n"
        "VOWELS = {'u', 'e', 'a'}\n"
        "UNITS = ('kB', 'MB', 'GB')\n"
        "DERIVED = {v: k for k, v in IRREGULAR.items()}\n"
        "UNUSED = ['never']\n"
        "LIMIT: int = 40\n"
    )
    source = (
        "def f(word, n):\n"
        "    if word in DERIVED or n > LIMIT:\n"
        "        return UNITS[0]\n"
        "    return IRREGULAR.get(word, word) + str(word[0] in VOWELS)\n"
    )
    found = search.module_constants(source, module)
    # Two items of each table, in the module's order; a set sorted (its order varies);
    # a comprehension is not a literal; a name the function does not read is left out.
    assert found == ["child", "children", "ox", "oxen", "a", "e", "kB", "MB", 40]
    assert search.module_constants("def f(:", module) == []
