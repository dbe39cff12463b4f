"""Writing one docstring: ask the model (a grammar-constrained JSON object), render it in the
convention, check it; up to `1 + repair_attempts` tries at a rising temperature.

The prompt shows recorded calls of the function (observe.py), so that the model describes what
it did rather than what its name suggests; a candidate that passes the checks of form and
names is then checked against those calls (claims.py): one a call contradicts is rejected as
`contradicted`, and the next try is shown that call; a try whose prose was rejected
(filler, a restated name, a placeholder, a cut-off sentence or field) tells the next one.
When no try passes, nothing is inserted: the outcome is "rejected" with the last try's
reason, never a template sentence.
With `docstring_examples` a kept docstring may gain an Examples section whose doctests were
executed in the sandbox (examples.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from review_bot.generate.docstrings import check, quality, render
from review_bot.generate.docstrings.claims import Runner, contradiction
from review_bot.generate.docstrings.observe import Call, call_values, select
from review_bot.llm.chat import Message
from review_bot.llm.models import SMALL_MODEL_PARAMS
from review_bot.llm.session import ModelSession
from review_bot.prompts import Prompts
from review_bot.records import Outcome, Target

# Adds a verified Examples section to a kept docstring body, or says why it could not:
# (new body or None, one line for the attempts).
ExamplesHook = Callable[[Target, str], tuple[str | None, str]]


def write_docstring(
    target: Target,
    session: ModelSession,
    prompts: Prompts,
    *,
    convention: str,
    repair_attempts: int,
    temperature: float,
    examples: ExamplesHook | None = None,
    calls: Sequence[Call] = (),
    run: Runner | None = None,
) -> Outcome:
    """A checked docstring for `target`, or a rejection with the reason of the last try.

    `calls`: recorded calls of the function, checked against, a few of them (`select`)
    shown to the model; `run` makes the calls a claim needs that none of them made.
    """
    schema = model_schema(target, session)
    lines: list[str] = []
    reason: str | None = None
    shown = select(calls)
    values = call_values(calls)  # what a description must not merely repeat
    wrong: str | None = None  # what was wrong with the last try, told to the next
    for attempt in range(repair_attempts + 1):
        data = ask_model(
            target,
            session,
            prompts,
            schema,
            attempt,
            temperature + 0.3 * attempt,
            calls=[c.shown() for c in shown],
            wrong=wrong,
        )
        if data is None:
            reason = "empty"
            lines.append(f"docstring#{attempt}: empty: the reply held no usable JSON")
            continue
        cut = render.cut_fields(target, data)
        if cut:
            reason = "truncated"
            lines.append(
                f"docstring#{attempt}: truncated: {', '.join(cut)} reached the length limit"
            )
            wrong = f"its {', '.join(cut)} ran past the length limit and was cut off"
            continue
        text = render.render_docstring(target, data, convention)
        verdict = check.check_docstring(target, text, convention)
        if not verdict.kept:
            reason = verdict.reason
            lines.append(f"docstring#{attempt}: {verdict.reason}: {verdict.detail}")
            told = _TOLD.get(verdict.reason or "")
            wrong = told.format(detail=verdict.detail) if told else None
            continue
        copied = quality.copied_value(text, values)
        if copied:
            reason = "placeholder"
            wrong = f"{copied} is a value from a call, not a description"
            lines.append(f"docstring#{attempt}: placeholder: {wrong}")
            continue
        found = contradiction(target, data, calls, run)
        if found is not None:
            reason, wrong = "contradicted", f"it {found.detail}"
            lines.append(f"docstring#{attempt}: contradicted: {found.detail}")
            if found.call not in shown:
                shown.insert(0, found.call)
            continue
        lines.append(f"docstring#{attempt}: kept")
        if examples is not None:
            with_examples, note = examples(target, text)
            lines.append(f"examples: {note}")
            text = with_examples or text
        return Outcome("kept", None, text, tuple(lines))
    return Outcome("rejected", reason, None, tuple(lines))


# What the next try is told of a rejection of the prose (a blind retry at a higher
# temperature wrote "name: A string." again): the piece and why; not the rejections of
# structure or lint, which the model cannot act on in a sentence.
_TOLD = {
    "filler": '"{detail}" says nothing this function alone does',
    "restates-name": '"{detail}" only repeats a name',
    "placeholder": "{detail}",
    "truncated": "{detail}",
}


def model_schema(target: Target, session: ModelSession) -> dict[str, Any]:
    """The JSON schema the model fills for `target`."""
    schema = render.docstring_schema(target)
    n_params = session.info().n_params
    if n_params is not None and n_params < SMALL_MODEL_PARAMS:
        # Small models fill a free "description" with plausible nonsense; the
        # summary, parameters and return value are what they can get right.
        schema = without_description(schema)
    return schema


def ask_model(
    target: Target,
    session: ModelSession,
    prompts: Prompts,
    schema: dict[str, Any],
    attempt: int,
    temperature: float,
    *,
    calls: Sequence[str] = (),
    wrong: str | None = None,
) -> dict[str, Any] | None:
    """One model call for the docstring's JSON; None when the reply holds none.

    `calls`: recorded calls and what they did, shown in the prompt; `wrong`: what was
    wrong with the last try (the claim a call contradicted, the piece of prose rejected).
    """
    properties = schema.get("properties", {})
    if session.info().chat_template:
        content = prompts.render(
            "docstring_user.j2",
            target=target,
            documents_description="description" in properties,
            documents_return="returns" in properties,
            documents_yield="yields" in properties,
            calls=calls,
            wrong=wrong,
        )
        messages: list[Message] = [{"role": "user", "content": content}]
        reply = session.chat(messages, json_schema=schema, seed=attempt, temperature=temperature)
    else:
        prompt = prompts.render("docstring_complete.j2", target=target, calls=calls)
        reply = session.complete(prompt, json_schema=schema, seed=attempt, temperature=temperature)
    return render.parse_reply(reply)


def without_description(schema: dict[str, Any]) -> dict[str, Any]:
    properties = {k: v for k, v in schema["properties"].items() if k != "description"}
    required = [k for k in schema.get("required", []) if k != "description"]
    return {**schema, "properties": properties, "required": required}
