"""The `chat` and `complete` strategies, and the bounded repair loop around them."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import TYPE_CHECKING

from review_bot.generate.extract import extract_code
from review_bot.generate.mechanical import mechanical_fixes
from review_bot.generate.repair import drop_redefinitions, fix_imports
from review_bot.llm.chat import Message
from review_bot.llm.session import ModelSession
from review_bot.prompts import Prompts
from review_bot.records import Candidate, Strategy, Target, Verdict

if TYPE_CHECKING:
    from review_bot.generate.oracle import Repair

Verifier = Callable[[Candidate], Verdict]
# Oracle repair (generate/oracle.py) bound to the run's sandbox: the repaired candidate's
# code and disagreements, or why it cannot be repaired.
Oracle = Callable[[Candidate], "Repair | str"]
MAX_CONTEXT_CHARS = 8000
INDENT = "    "


class Attempts:
    """What each attempt did, one line each, for the report."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, verdict: Verdict) -> None:
        c = verdict.candidate
        status = "kept" if verdict.kept else f"{verdict.reason}"
        first = verdict.detail.strip().splitlines()[-1:] if verdict.detail.strip() else []
        self.lines.append(
            f"{c.strategy}#{c.attempt}: {status}"
            + (f": {first[0]}" if first and not verdict.kept else "")
        )


def import_line(target: Target) -> str:
    name = target.qualname.split(".")[0]
    return f"from {target.module} import {name}"


def context_of(target: Target) -> str:
    """The module source, or its imports and the target alone when the file is long."""
    source = target.module_source
    if len(source) <= MAX_CONTEXT_CHARS:
        return source.rstrip()
    tree = ast.parse(source)
    imports = [
        ast.get_source_segment(source, node) or ""
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
    ]
    return "\n".join([*imports, "", target.source.rstrip()])


def module_names(target: Target) -> list[str]:
    from review_bot.targets import top_level_names

    return top_level_names(ast.parse(target.module_source))


def checked(verify: Verifier, candidate: Candidate, *, cut_at: int | None = None) -> Verdict:
    """Verify a candidate; one with no code at all is rejected without starting pytest.
    `cut_at`: the reply stopped at this many tokens (max_tokens), which is then the cause
    named (the corpus: a long module's context left a 0.5B model no room to finish)."""
    if not candidate.code.strip():
        detail = "no compilable test code in the model's reply"
        if cut_at is not None:
            detail += f": it was cut off at max_tokens ({cut_at}); raise max_tokens"
        return Verdict(candidate, False, "syntax", detail, 0, 0, frozenset(), frozenset())
    return verify(candidate)


def oracle_step(
    oracle: Oracle | None, verify: Verifier, verdict: Verdict, attempts: Attempts
) -> Verdict | None:
    """A failed candidate with the model's wrong expected literals replaced by the observed
    values, verified like any candidate; None when there is nothing to repair. A kept
    candidate, or one rejected for style, is tried too where it has a blind
    `pytest.raises(Exception)`: the block then names the exception the call raised."""
    from review_bot.generate.oracle import blind_raises

    if oracle is None:
        return None
    c = verdict.candidate
    if verdict.kept or verdict.reason == "style":
        if not blind_raises(c.code):
            return None
    elif verdict.reason != "fail":
        return None
    tag = f"{c.strategy}#{c.attempt}"
    repaired = oracle(c)
    if isinstance(repaired, str):
        if not verdict.kept:
            attempts.lines.append(f"{tag}: oracle: not repaired: {repaired}")
        return None
    result = checked(verify, c._replace(code=repaired.code, disagreements=repaired.disagreements))
    n = len(repaired.disagreements)
    status = "kept" if result.kept else f"{result.reason}"
    narrowed = f", named the exception of {repaired.narrowed} blind pytest.raises"
    attempts.lines.append(
        f"{tag}: oracle-repaired {n} assertion{'s' if n != 1 else ''}"
        f"{narrowed if repaired.narrowed else ''} -> {status}"
    )
    return result


def _named(
    oracle: Oracle | None, verify: Verifier, verdict: Verdict, attempts: Attempts
) -> Verdict:
    """A kept candidate, with its blind `pytest.raises` blocks naming the exception where
    that version is kept too; else the candidate as it was."""
    if not verdict.kept:
        return verdict
    named = oracle_step(oracle, verify, verdict, attempts)
    return named if named is not None and named.kept else verdict


def _repair_request(prompts: Prompts, verdict: Verdict) -> str:
    """What the model is told about a rejected test: pytest's failure, or the mutants a
    passing test did not notice."""
    target = verdict.candidate.target
    score = verdict.mutation
    if verdict.reason in ("no-kill", "low-mutation") and score is not None and score.survived:
        return prompts.render("test_mutants.j2", target=target, survivors=score.survived[:5])
    return prompts.render("test_repair.j2", target=target, failure=verdict.detail)


def _has_tests(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(
        (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"))
        or (isinstance(node, ast.ClassDef) and node.name.startswith("Test"))
        for node in tree.body
    )


def finish(target: Target, code: str) -> tuple[str, list[str]]:
    """Deterministic repairs that need no model: redefinitions out, the mechanical fixes
    (generate/mechanical.py), missing imports in; and what was fixed that the log should
    show (not the routine: a dropped copy of the function, its forgotten import)."""
    if not _has_tests(code):
        return "", []  # e.g. a stray `pass` from a reply whose real code does not compile
    code = drop_redefinitions(code, {target.qualname.split(".")[0]})
    code, fixes = mechanical_fixes(code, target.name, None if target.is_method else target.params)
    code, added = fix_imports(code, target.module, module_names(target))
    fixes = [*(f"added {line}" for line in added if line == "import pytest"), *fixes]
    return (code if _has_tests(code) else ""), fixes


def log_fixes(attempts: Attempts, strategy: Strategy, attempt: int, fixes: list[str]) -> None:
    if fixes:
        attempts.lines.append(f"{strategy}#{attempt}: fixed without the model: {'; '.join(fixes)}")


def skeleton(target: Target) -> str:
    name = target.qualname.replace(".", "_")
    return f"import pytest\n\n{import_line(target)}\n\n\ndef test_{name}():\n"


def chat_strategy(
    target: Target,
    session: ModelSession,
    prompts: Prompts,
    verify: Verifier,
    repair_attempts: int,
    attempts: Attempts,
    *,
    oracle: Oracle | None = None,
) -> Verdict | None:
    """Ask an instruct model for a test module; feed pytest's failure back to repair it.

    A candidate that fails only on expected literals is first repaired from execution
    (`oracle`), without a model call.
    """
    messages: list[Message] = [
        {"role": "system", "content": prompts.render("test_system.j2", target=target)},
        {
            "role": "user",
            "content": prompts.render(
                "test_user.j2",
                target=target,
                context=context_of(target),
                import_line=import_line(target),
            ),
        },
    ]
    verdict: Verdict | None = None
    for attempt in range(repair_attempts + 1):
        reply = session.chat(messages, seed=attempt)
        code, fixes = finish(target, extract_code(reply))
        log_fixes(attempts, "chat", attempt, fixes)
        cut = session.max_tokens if session.last_cut else None
        verdict = checked(verify, Candidate(target, "chat", code, attempt), cut_at=cut)
        attempts.add(verdict)
        if verdict.kept or verdict.reason == "no-gain":
            # A passing test with no gain will not gain from a repair; a kept one may name
            # the exceptions of its blind `pytest.raises` blocks.
            return _named(oracle, verify, verdict, attempts)
        repaired = oracle_step(oracle, verify, verdict, attempts)
        if repaired is not None and (repaired.kept or repaired.reason == "no-gain"):
            return repaired
        if repaired is not None and repaired.reason in ("no-kill", "low-mutation"):
            # The repaired test passes but misses mutants: ask about those, from its code.
            verdict, code = repaired, repaired.candidate.code
        # Repair keeps the conversation short: the first request, the last try, the failure.
        messages = [
            *messages[:2],
            {"role": "assistant", "content": f"```python\n{code or reply}\n```"},
            {
                "role": "user",
                "content": _repair_request(prompts, verdict),
            },
        ]
    return verdict


def complete_strategy(
    target: Target,
    session: ModelSession,
    prompts: Prompts,
    verify: Verifier,
    repair_attempts: int,
    attempts: Attempts,
    *,
    oracle: Oracle | None = None,
) -> Verdict | None:
    """A base or code-completion model completes a test skeleton review-bot writes.

    Base models do not follow repair instructions, so a retry samples again with another
    seed and a higher temperature instead of showing the failure.
    """
    info = session.info()
    head = skeleton(target)
    rendered = prompts.render(
        "test_complete.j2", target=target, context=context_of(target), skeleton=head
    )
    # The prompt ends inside the test body, indented, so the model writes the body.
    prefix = rendered.rstrip() + "\n" + INDENT
    stops: list[str] = ["\ndef ", "\nclass ", "\nif __name__", "\n```", "\n# "]
    if info.fim is not None:
        suffix = prompts.render("test_suffix.j2", target=target)
        fim = info.fim
        if fim.family == "codellama":
            prompt = f"{fim.prefix} {prefix}{fim.suffix}{suffix} {fim.middle}"
        else:
            prompt = f"{fim.prefix}{prefix}{fim.suffix}{suffix}{fim.middle}"
        stops.extend(fim.stop)
    else:
        prompt = prefix
    verdict: Verdict | None = None
    for attempt in range(repair_attempts + 1):
        body = session.complete(
            prompt, stop=stops, seed=attempt, temperature=session.temperature + 0.3 * attempt
        )
        code, fixes = (
            finish(target, head + INDENT + body.rstrip() + "\n") if body.strip() else ("", [])
        )
        log_fixes(attempts, "complete", attempt, fixes)
        cut = session.max_tokens if session.last_cut else None
        verdict = checked(verify, Candidate(target, "complete", code, attempt), cut_at=cut)
        attempts.add(verdict)
        if verdict.kept or verdict.reason == "no-gain":
            return _named(oracle, verify, verdict, attempts)
        repaired = oracle_step(oracle, verify, verdict, attempts)
        if repaired is not None and (repaired.kept or repaired.reason == "no-gain"):
            return repaired
    return verdict


STRATEGY_FUNCTIONS: dict[Strategy, Callable[..., Verdict | None]] = {
    "chat": chat_strategy,
    "complete": complete_strategy,
}
