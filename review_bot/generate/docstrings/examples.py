"""Verified examples for a kept docstring (the `docstring_examples` setting).

The calls are the ones the docstring was grounded in (observe.py) where there are any, else
the model proposes calls (the `cases` schema and prompt) and the sandbox runs them
(cases.run_cases); up to MAX_EXAMPLES calls that returned a value whose repr
reads back as an equal literal become `>>>` lines of an Examples section. The docstring with
that section is checked like any other, inserted into a copy of the module in the sandbox,
and its doctests run there with doctest: only if every one passes is the section kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from review_bot.generate.cases import (
    Result,
    case_params,
    case_schema,
    parse_cases,
    run_cases,
)
from review_bot.generate.docstrings.check import check_docstring
from review_bot.generate.docstrings.observe import shown_case, telling
from review_bot.generate.docstrings.render import WRAP_WIDTH
from review_bot.llm.chat import Message
from review_bot.llm.session import ModelSession
from review_bot.prompts import Prompts
from review_bot.records import Target
from review_bot.sandbox import DOCTEST_DRIVER, Sandbox
from review_bot.verify import import_path
from review_bot.write.docstrings import insert_docstring

MAX_EXAMPLES = 3


def example_lines(target: Target, results: list[Result]) -> list[tuple[str, str]]:
    """(call, repr of the value) for up to MAX_EXAMPLES cases that returned a value.

    Only stable results whose value is a faithful literal (the driver checked that it reads
    back equal), lines that fit the docstring's width, and text that needs no escaping in a
    docstring (no backslash, no triple quote); only calls that show a change (a value that
    is not the first argument unchanged and not empty, observe.telling); distinct values
    first.
    """
    params = case_params(target) or []
    chosen: list[tuple[str, str]] = []
    for result in results:
        if result.kind != "returns" or not result.stable or result.value is None:
            continue
        if not telling(result):
            continue  # `flatten([1, 2])` -> `[1, 2]` shows a reader nothing
        call = shown_case(target, params, result.case)
        if call is None:
            continue
        lines = (f">>> {call}", result.value)
        if any(len(line) > WRAP_WIDTH - 4 or "\\" in line or '"""' in line for line in lines):
            continue
        if result.value == "None":
            continue  # doctest shows nothing for None: an example without an answer
        if (call, result.value) not in chosen:
            chosen.append((call, result.value))
    distinct: list[tuple[str, str]] = []
    for item in chosen:  # one example per value first, then the rest
        if item[1] not in {v for _, v in distinct}:
            distinct.append(item)
    distinct += [item for item in chosen if item not in distinct]
    return distinct[:MAX_EXAMPLES]


def examples_section(examples: list[tuple[str, str]], convention: str) -> list[str]:
    body = [line for call, value in examples for line in (f">>> {call}", value)]
    if convention == "numpy":
        return ["", "Examples", "--------", *body]
    return ["", "Examples:", *(f"    {line}" for line in body)]


def add_examples(
    target: Target,
    text: str,
    session: ModelSession,
    prompts: Prompts,
    sandbox: Sandbox,
    *,
    convention: str,
    n_cases: int,
    timeout_s: float,
    recorded: Sequence[Result] = (),
) -> tuple[str | None, str]:
    """`text` with a verified Examples section, or None and why there is none.

    `recorded`: calls already run (the ones the docstring was grounded in): the examples
    are taken from them, with no model call; else the model proposes calls.
    """
    if recorded:
        results, made = list(recorded), len(recorded)
    else:
        schema = case_schema(target, n_cases)
        if schema is None:
            return None, "none: the function cannot be called with JSON values"
        fields = schema["properties"]["cases"]["items"]["properties"]
        example = "{" + ", ".join(f'"{name}": ...' for name in fields) + "}"
        if session.info().chat_template:
            content = prompts.render(
                "cases_user.j2", target=target, n_cases=n_cases, example=example
            )
            messages: list[Message] = [{"role": "user", "content": content}]
            reply = session.chat(messages, json_schema=schema, seed=0)
        else:
            prompt = prompts.render("cases_complete.j2", target=target, n_cases=n_cases)
            reply = session.complete(prompt, json_schema=schema, seed=0)
        cases = parse_cases(reply, target)
        if not cases:
            return None, "none: the model proposed no usable call"
        results, made = run_cases(sandbox, target, cases, timeout_s), len(cases)
    examples = example_lines(target, results)
    if not examples:
        return None, f"none: no call of {made} returned a value with a faithful repr"
    new_text = "\n".join([text, *examples_section(examples, convention)])
    verdict = check_docstring(target, new_text, convention, examples=True)
    if not verdict.kept:
        return None, f"none: {verdict.reason}: {verdict.detail}"
    ran, detail = run_doctests(sandbox, target, new_text, timeout_s)
    if ran != len(examples):
        return None, f"none: doctest failed: {detail}"
    return new_text, f"{ran} verified by doctest"


def run_doctests(sandbox: Sandbox, target: Target, text: str, timeout_s: float) -> tuple[int, str]:
    """How many of the docstring's doctests passed in the sandbox (0 on any failure)."""
    module = insert_docstring(target.module_source, target.qualname, text, lineno=target.def_lineno)
    relpath = target.path.resolve().relative_to(sandbox.root.resolve()).as_posix()
    files = {relpath: module, "_review_bot_doctest.py": DOCTEST_DRIVER.read_text("utf-8")}
    with sandbox.workspace(files) as ws:
        # `-m`: a fork of the sandbox's warm interpreter where it has one.
        argv = ["python", "-m", "_review_bot_doctest", target.module, target.qualname, "_out.json"]
        run = ws.run(argv, timeout_s=timeout_s, pythonpath=import_path(sandbox, target))
        raw = ws.read("_out.json")
    if raw is None:
        return 0, run.output.strip()[-300:] or f"exit code {run.returncode}"
    try:
        record = json.loads(raw)
        attempted, failed = int(record["attempted"]), int(record["failed"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return 0, "unreadable doctest report"
    if failed:
        return 0, str(record.get("output", ""))[-300:]
    return attempted, ""
