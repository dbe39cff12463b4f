"""Plain records that flow through the pipeline: targets -> candidates -> verdicts -> outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, NamedTuple

Strategy = Literal["chat", "complete", "cases"]
STRATEGIES: tuple[Strategy, ...] = ("chat", "complete", "cases")

# Why a candidate test was rejected.
TestReason = Literal[
    "import",
    "syntax",
    "unsafe",
    "style",
    "collect",
    "fail",
    "flaky",
    "no-gain",
    "timeout",
    "no-kill",
    "low-mutation",
]
# Why a candidate docstring was rejected.
DocReason = Literal[
    "empty",
    "ast",
    "placeholder",
    "truncated",
    "restates-name",
    "filler",
    "mismatch",
    "contradicted",
    "lint",
]
Status = Literal["kept", "rejected", "skipped"]

# What each reason means: the one text of the README's table, the console, the PR review.
REASONS: dict[str, str] = {
    "import": "the module under test cannot be imported by the Python that runs the tests; "
    "no model call was made",
    "syntax": "no code in the reply, or code that does not compile",
    "unsafe": "the test's own text does what generated tests may not: spawn processes, open "
    "sockets or URLs, load native code, read the environment, write outside pytest's "
    "temporary directories, or import or run code by name (docs/sandbox.md)",
    "style": "fails the project's own lint or formatting (ruff, isort, black as it configures "
    "them) even after their fixes were applied",
    "collect": "pytest collected no test, or collection failed (an import error)",
    "fail": "a test failed on the first run",
    "flaky": "passed the first run but failed a later one",
    "no-gain": "passed, but covers no line of the function the existing tests miss",
    "timeout": "ran past the wall-clock limit",
    "no-kill": "passed, but would not catch a bug: it fails against none of the function's "
    "mutants (small bugs made in its body), or passes when the body only returns a "
    "constant (`return False`)",
    "low-mutation": "kills fewer of the function's mutants than `min_mutation_score` asks",
    "empty": "no usable reply",
    "ast": "the text would change the code",
    "placeholder": (
        "the text holds a placeholder: `[value]`, `<name>`, `{slot}`, `%r`, `TODO`, `XXX`, "
        "`...`, or a value where a description belongs (`delim: -.`, `lower: True.`, a "
        "recorded call's argument or result)"
    ),
    "truncated": "a sentence is cut off (`... arguments to be.`) or a bracket left open",
    "restates-name": "the text only restates a name (`Is_palindrome: ...`, `text: The text.`)",
    "filler": (
        "the text would fit any function (`The computed value is returned by the function.`)"
    ),
    "mismatch": (
        "the docstring disagrees with the code: parameters, Returns, Yields or Raises"
        " (pydoclint), or a name the code does not have"
    ),
    "contradicted": (
        "a recorded call of the function contradicts it: the kind of value it returns,"
        " when it raises, how the value compares with a parameter, an exclusive bound (the"
        " call is named)"
    ),
    "lint": "pydocstyle rejected it, or the summary line is over 88 columns",
}


ParamKind = Literal["positional_only", "positional", "vararg", "keyword_only", "varkw"]


class Param(NamedTuple):
    name: str
    annotation: str | None  # source text of the annotation, e.g. "list[int]"
    default: str | None  # source text of the default value
    kind: ParamKind


class Target(NamedTuple):
    """One function (or method) in a source file."""

    root: Path  # import root: the directory that goes on sys.path
    path: Path  # absolute path of the source file
    module: str  # dotted import name, e.g. "example" or "pkg.util"
    qualname: str  # "slugify" or "Parser.parse"
    lineno: int  # first line of the function, decorators included (1-based)
    def_lineno: int  # line of the `def` keyword
    end_lineno: int  # last line of the function
    source: str  # the function's source text, dedented
    module_source: str  # the whole file's text
    params: tuple[Param, ...]
    returns: str | None  # return annotation source text
    docstring: str | None
    is_method: bool
    is_async: bool

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def display(self) -> str:
        return f"{self.module}.{self.qualname}"

    @property
    def relpath(self) -> str:
        return self.path.relative_to(self.root).as_posix()


class Disagreement(NamedTuple):
    """An expected value the model wrote and the code does not return (generate/oracle.py)."""

    call: str  # "slugify('A B')"
    expected: str  # what the model wrote: "'a-b'"
    actual: str  # what the code returned, as a literal: "'a b'"


class Candidate(NamedTuple):
    """A candidate pytest module for one target."""

    target: Target
    strategy: Strategy
    code: str  # the whole test module
    attempt: int  # 0 for the first try, 1.. for repairs
    # the model's expected values that oracle repair replaced by the observed ones
    disagreements: tuple[Disagreement, ...] = ()
    # indices (into mutation.mutants) of the mutants its rows were seen to fail on when
    # each row's call ran on each mutant (the cases cut); mutation.score trusts these
    # after one check and runs the test only on the rest
    seen_kills: frozenset[int] | None = None


class MutationScore(NamedTuple):
    """How many of the target's mutants a kept test kills (review_bot/mutation.py)."""

    killed: int
    total: int
    survived: tuple[str, ...] = ()  # descriptions of the mutants it missed
    stub_survived: str | None = None  # the first stub (`return <constant>`) it missed


class Verdict(NamedTuple):
    """What running a candidate in the sandbox showed."""

    candidate: Candidate
    kept: bool
    reason: TestReason | None  # None when kept
    detail: str  # short explanation: the pytest failure tail, the timeout, ...
    collected: int  # tests pytest collected
    passes: int  # runs that passed (of Settings.runs)
    covered: frozenset[int]  # lines of the target executed by the candidate
    baseline: frozenset[int]  # lines of the target executed by the existing tests
    mutation: MutationScore | None = None  # None: not measured


class DocVerdict(NamedTuple):
    target: Target
    text: str  # the docstring body, without quotes or indentation
    kept: bool
    reason: DocReason | None
    detail: str


class Outcome(NamedTuple):
    status: Status
    reason: str | None
    code: str | None  # the kept test code or docstring text
    attempts: tuple[str, ...] = ()  # one line per attempt, e.g. "chat#0: fail: NameError ..."
    disagreements: tuple[Disagreement, ...] = ()  # of the kept test (generate/oracle.py)
    # a test's mutants killed and made, (killed, total); None: not measured
    mutation: tuple[int, int] | None = None


class TargetResult(NamedTuple):
    target: Target
    test: Outcome
    docstring: Outcome


class ModelRef(NamedTuple):
    path: str  # the model file (a server's model: the name it gives)
    arch: str
    bundled: bool


class RunStats(NamedTuple):
    """What one run of the core cost: the one record of every front end."""

    model: ModelRef | None  # None when no target needed the model
    model_calls: int
    model_s: float
    cache_hits: int
    cache_misses: int
    total_s: float
    jail: str | None = None  # the jail generated code ran in; None when nothing ran
