"""The `cases` strategy's loop: ask the model for inputs, run them, cut the rows, render,
verify; ask again (naming the surviving mutants) while a kept test can still gain."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from review_bot.generate.cases import (
    MAX_SURVIVORS_SHOWN,
    Case,
    Result,
    case_schema,
    parse_cases,
    render_test,
    run_cases,
    unusable_causes,
)
from review_bot.generate.cases_cut import CUT_MAY_CAUSE, Cut, cut_rows, search_rows
from review_bot.generate.tests import Attempts, Verifier
from review_bot.llm.chat import Message
from review_bot.llm.session import ModelSession
from review_bot.mutation import Mutant
from review_bot.prompts import Prompts
from review_bot.records import Candidate, Target, Verdict
from review_bot.sandbox import Sandbox
from review_bot.verify import executable_lines


def _better(verdict: Verdict, best: Verdict | None) -> bool:
    """More mutants killed, then more lines covered."""
    if best is None:
        return True

    def key(v: Verdict) -> tuple[int, int]:
        return (v.mutation.killed if v.mutation else 0, len(v.covered))

    return key(verdict) > key(best)


class Reach(NamedTuple):
    kills: frozenset[int]  # of the function's mutants, as the cut counted them
    lines: frozenset[int]  # of the function, run by the rows


def _reach(cut: Cut) -> Reach:
    return Reach(cut.kills, frozenset().union(*(r.lines for r in cut.results)))


def _within(reach: Reach, best: Reach) -> bool:
    return reach.kills <= best.kills and reach.lines <= best.lines


def cases_strategy(
    target: Target,
    session: ModelSession,
    prompts: Prompts,
    verify: Verifier,
    repair_attempts: int,
    attempts: Attempts,
    *,
    sandbox: Sandbox,
    n_cases: int,
    timeout_s: float,
    mutants: Callable[[], Sequence[Mutant]] | None = None,
    improve_calls: int | None = None,
    search: bool = True,
    record: Callable[[Sequence[Result]], None] | None = None,
) -> Verdict | None:
    """Propose, run, render, verify.

    A kept test that leaves lines uncovered or mutants alive is not the end: later
    attempts ask for more cases (at a higher temperature), keep the old ones, and the
    best kept test wins (most mutants killed, then most lines); at most `improve_calls`
    such calls once a test is kept (None: no limit but the attempts). With `mutants`, the
    search (`search`, generate/search.py) adds inputs near the model's, and the cases are
    cut to the shortest set that kills the same mutants before they are rendered and
    verified (if the cut alone fails, the model's cases are verified instead). `record`
    is given every call that ran on the unchanged code (the docstring's grounding).
    """
    schema = case_schema(target, n_cases)
    if schema is None:
        attempts.lines.append("cases: skipped: parameters JSON cannot express")
        return None
    fields = schema["properties"]["cases"]["items"]["properties"]
    example = "{" + ", ".join(f'"{name}": ...' for name in fields) + "}"
    info = session.info()
    collected: list[Case] = []
    recorded: list[Case] = []  # the calls given to `record`
    verdict: Verdict | None = None
    best: Verdict | None = None  # the kept test covering most lines so far
    best_cases: list[Case] = []
    wanted = executable_lines(target)
    survivors: tuple[str, ...] = ()  # the mutants the last scored test missed
    improving = 0  # model calls spent on a test that was already kept
    best_reach: Reach | None = None  # what the best test's cut rows kill and run
    for attempt in range(repair_attempts + 1):
        if best is not None:
            if improve_calls is not None and improving >= improve_calls:
                break
            improving += 1
        temperature = session.temperature + 0.4 * attempt
        if info.chat_template:
            content = prompts.render(
                "cases_user.j2",
                target=target,
                n_cases=n_cases,
                example=example,
                survivors=survivors[:MAX_SURVIVORS_SHOWN],
            )
            messages: list[Message] = [{"role": "user", "content": content}]
            reply = session.chat(
                messages, json_schema=schema, seed=attempt, temperature=temperature
            )
        else:
            prompt = prompts.render("cases_complete.j2", target=target, n_cases=n_cases)
            reply = session.complete(
                prompt, json_schema=schema, seed=attempt, temperature=temperature
            )
        fresh = [c for c in parse_cases(reply, target) if c not in collected]
        collected.extend(fresh)
        if not fresh and verdict is not None:
            continue  # nothing new to try
        problems: list[str] = []
        results = run_cases(sandbox, target, collected, timeout_s, problems=problems)
        # With mutants: the search's inputs join the model's, and only the rows that kill
        # what the others do not (or run a line they do not) are rendered.
        cut = None
        found: list[Result] = []
        if mutants:
            found = search_rows(sandbox, target, results, timeout_s) if search else []
            cut = cut_rows(sandbox, target, results, mutants(), timeout_s, found)
        if record is not None:
            # Each call once: `collected` holds the earlier attempts' cases too.
            new = [r for r in (*results, *found) if r.case not in recorded]
            recorded.extend(r.case for r in new)
            record(new)
        reach = None if cut is None else _reach(cut)
        if best_reach is not None and reach is not None and _within(reach, best_reach):
            # Nothing the kept test lacks: its verification and score could not beat it,
            # and asking again seldom helps (the peer bench: 1 gain in 9 such asks).
            attempts.lines.append(
                f"cases#{attempt}: no mutant or line the kept test misses: not verified, "
                "no more calls"
            )
            break
        code, rows = render_test(target, cut.results if cut else results, prompts)
        # The cut ran each row's call on each mutant: the test's score starts from that.
        candidate = Candidate(
            target, "cases", code, attempt, seen_kills=None if cut is None else cut.kills
        )
        if rows == 0:
            why = problems[0] if problems else unusable_causes(target, collected, results)
            detail = f"no usable case among {len(collected)} proposed: {why}"
            verdict = Verdict(candidate, False, "collect", detail, 0, 0, frozenset(), frozenset())
        else:
            verdict = verify(candidate)
            if cut is not None and verdict.reason in CUT_MAY_CAUSE:
                # The cut rows alone did not pass where every row might: verify those.
                attempts.add(verdict)
                code, rows = render_test(target, results, prompts)
                verdict = verify(Candidate(target, "cases", code, attempt))
                cut = reach = None
        attempts.add(verdict)
        if cut is not None and verdict.kept:
            searched = f", {cut.searched} of them found by the search" if cut.searched else ""
            attempts.lines.append(
                f"cases#{attempt}: kept {len(cut.results)} cases{searched} of the "
                f"{len(results)} proposed, killing {cut.killed} mutants"
            )
        if verdict.mutation is not None:
            survivors = verdict.mutation.survived
        if verdict.kept:
            if _better(verdict, best):
                best, best_cases, best_reach = verdict, list(collected), reach
            alive = verdict.mutation is not None and bool(verdict.mutation.survived)
            if wanted <= verdict.covered | verdict.baseline and not alive:
                break  # every line covered, every mutant killed: nothing left to gain
        elif best is not None:
            # The new cases spoiled a kept test (e.g. one varies between runs): go on
            # from the cases that passed.
            collected = list(best_cases)
    return best or verdict
