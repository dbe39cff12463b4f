"""The Engine: what one run of the core shares (settings, the lazy model, the sandbox,
the cache) and the two questions it answers per target: a verified test, a checked
docstring. Which targets to ask about is run.py's business."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Sequence
from pathlib import Path

from review_bot import mutation, verify
from review_bot.cache import Cache, digest
from review_bot.config import Settings, generation_settings
from review_bot.core.backends import NO_URL, BackendFactory, uses_server
from review_bot.core.backends import backend_factory as choose_backend
from review_bot.errors import FatalError
from review_bot.generate.cases import Case, Result, run_cases
from review_bot.generate.cases_strategy import cases_strategy
from review_bot.generate.docstrings import CHECKS_VERSION, add_examples, write_docstring
from review_bot.generate.docstrings.observe import Call, probes, usable
from review_bot.generate.oracle import Repair, oracle_repair
from review_bot.generate.tests import STRATEGY_FUNCTIONS, Attempts, Oracle
from review_bot.importable import import_problem
from review_bot.llm.models import (
    auto_strategies,
    describe,
    model_identity,
    model_notice,
    reports_disagreements,
    resolve_model,
)
from review_bot.llm.session import ModelSession
from review_bot.paths import generated_test_path
from review_bot.progress import Progress, SilentProgress
from review_bot.prompts import Prompts
from review_bot.records import (
    Candidate,
    Disagreement,
    ModelRef,
    Outcome,
    Strategy,
    Target,
    Verdict,
)
from review_bot.sandbox import Limits, Sandbox, interpreter
from review_bot.sandbox.screen import unsafe_construct
from review_bot.source import code_fingerprint
from review_bot.style import conform, project_style, raise_messages

OWN_PYTHON_NOTICE = (
    "review-bot: no project environment found (.venv, venv, $VIRTUAL_ENV, $CONDA_PREFIX, "
    "Poetry): the tests run with review-bot's own Python; set python (--python, "
    "REVIEW_BOT_PYTHON) to the project's interpreter"
)


class Engine:
    """Everything one run shares: settings, the lazy model, the sandbox, the cache."""

    def __init__(
        self,
        project_root: Path,
        settings: Settings,
        *,
        backend_factory: BackendFactory | None = None,
        progress: Progress | None = None,
        checkout: Path | None = None,
    ) -> None:
        self.root = project_root
        self.settings = settings
        self.progress = progress or SilentProgress()
        if settings.ignored_notice:
            self.progress.notice(settings.ignored_notice)
        self.prompts = Prompts(project_root)
        self.cache = Cache(settings.cache_path if settings.cache else None)
        factory = backend_factory or choose_backend(settings)
        # With a server the model lives there: `model`, if set, only names it (issue 5).
        self.remote = uses_server(settings)
        notice: str | None = None  # said when the model is first used, not before (issue 21)
        if self.remote:
            if not settings.base_url:
                raise FatalError(NO_URL)
            self.model_path, self.bundled = settings.model or Path(), False
            self.model_identity = f"{settings.base_url} {settings.model or ''}"
            starting = f"connecting to the model server at {settings.base_url}"
        else:
            notice = model_notice(settings.model)
            self.model_path, self.bundled = resolve_model(
                settings.model, settings.home, self.progress
            )
            if not self.model_path.is_file():
                raise FatalError(f"{self.model_path}: model file not found")
            # The default's pinned sha256, else the file's path, size and mtime.
            self.model_identity = model_identity(settings.model)
            starting = f"loading model {self.model_path.name}"
        self.session = ModelSession(
            lambda: factory(self.model_path, self.bundled, settings),
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            on_first_use=lambda: self._first_use(starting, notice),
        )
        self._sandbox: Sandbox | None = None
        self._baselines: dict[str, verify.Baseline] = {}
        self._import_problems: dict[str, str | None] = {}
        # Calls of a function that its test generation ran in this run, by function:
        # what its docstring is grounded in (issue 25).
        self._ran: dict[str, list[Result]] = {}
        # The project's own lint and formatting tools, which kept tests must obey.
        self.style = project_style(project_root)
        self._style_notes: set[str] = set()
        # Where the project's environment lives: the hook and the review run on an export
        # of the tree, whose .venv stayed in the checkout.
        self.checkout = checkout
        self.python = interpreter.find_python(checkout or project_root, settings.python)
        self.interpreter: interpreter.Interpreter | None = None
        # Where generated code runs, and how: whatever decides a verdict besides the
        # model (issue 21: the project's pytest configuration and plugins, what is
        # installed beside its interpreter, the warm runner and the jail).
        self.environment_key = digest(
            interpreter.identity(self.python, checkout or project_root),
            verify.pytest_config_fingerprint(project_root),
            interpreter.distributions_fingerprint(self.python),
            settings.warm,
            settings.jail,
        )
        self.context_key = digest(
            self.model_identity,
            self.prompts.fingerprint(),
            generation_settings(settings),
            self.environment_key,
        )

    def _first_use(self, starting: str, notice: str | None) -> None:
        if notice:
            self.progress.notice(notice)
        self.progress.status(starting)

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            interp = interpreter.prepare(self.python, self.settings.jail)
            limits = Limits(self.settings.timeout_s, self.settings.memory_mb, self.settings.cpu_s)
            sandbox = Sandbox(
                self.root,
                limits,
                python=interp.python,
                jail=self.settings.jail,
                warm=self.settings.warm,
                checkout=self.checkout,
            )
            if sandbox.jail.kind == "none" and self.settings.jail != "none":
                # Once per run: generated code runs with the basic guards only.
                self.progress.notice(
                    f"no jail for generated code ({sandbox.jail.why}); it runs with "
                    "the basic sandbox guards only (docs/sandbox.md)"
                )
            if interp.lent:
                # Inside the sandbox's private directory: removed with it.
                tools = interpreter.lend_tools(interp.lent, sandbox.private_dir / "lent")
                sandbox.extra_path.append(str(tools))
            self.interpreter, self._sandbox = interp, sandbox
        return self._sandbox

    def import_problem(self, target: Target) -> str | None:
        """Why the target's module cannot be imported where the tests run (the whole
        `import` line of the report), or None; asked once per module."""
        if target.module not in self._import_problems:
            self.progress.status(f"importing {target.module} with the project's Python")
            sandbox = self.sandbox
            cause = import_problem(
                sandbox,
                target.module,
                self.settings.tests_dir,
                verify.import_path(sandbox, target),
                self.settings.timeout_s,
            )
            if cause is not None:
                cause = f"import: {cause} -- the tests run with {sandbox.python}; " + (
                    _import_advice(cause, target)
                )
            self._import_problems[target.module] = cause
        return self._import_problems[target.module]

    @property
    def jail_used(self) -> str | None:
        """The jail this run's generated code ran in; None when nothing ran."""
        return None if self._sandbox is None else self._sandbox.jail.kind

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
        self.session.close()
        self.cache.close()

    def model_ref(self) -> ModelRef:
        key = digest("model-info", self.model_identity)
        cached = self.cache.peek(key)
        if isinstance(cached, list) and len(cached) == 2:
            path, arch = str(cached[0]), str(cached[1])
        else:
            # A server names its model (asking it costs no model load); a file is read here.
            if self.remote:
                path = self.session.info().path
            else:
                path = str(self.model_path)
            if self.remote or self.session.started:
                arch = self.session.info().arch
            else:
                arch = describe(self.model_path).arch
            self.cache.put(key, "model-info", [path, arch])
        return ModelRef(path, arch, self.bundled)

    # -- tests ---------------------------------------------------------------

    def test_relpath(self, target: Target) -> str:
        path = generated_test_path(self.root, self.settings.tests_dir, target.module)
        return path.relative_to(self.root).as_posix()

    def _tests_fingerprint(self, test_files: Sequence[str]) -> str:
        return digest([(f, (self.root / f).read_text("utf-8", "replace")) for f in test_files])

    def baseline(self, target: Target, test_files: Sequence[str]) -> verify.Baseline:
        """Lines of the module the existing tests execute (or why that is unknown),
        cached by content."""
        module_rel = target.path.relative_to(self.root).as_posix()
        memo = module_rel
        if memo in self._baselines:
            return self._baselines[memo]
        key = digest(
            "baseline",
            self.environment_key,
            self.settings.timeout_s,
            module_rel,
            # The exact text: the lines are line numbers, which a docstring shifts.
            target.module_source,
            self._tests_fingerprint(test_files),
        )
        cached = self.cache.peek(key)
        if isinstance(cached, dict) and isinstance(cached.get("lines"), list):
            problem = cached.get("problem")
            found = verify.Baseline(
                frozenset(int(n) for n in cached["lines"]),
                problem if isinstance(problem, str) else None,
            )
        else:
            self.progress.status(f"measuring coverage of existing tests for {target.module}")
            found = verify.baseline_coverage(
                self.sandbox,
                module_rel,
                test_files,
                self.settings.timeout_s * 4,
                pythonpath=verify.import_path(self.sandbox, target),
            )
            self.cache.put(
                key, "baseline", {"lines": sorted(found.lines), "problem": found.problem}
            )
        self._baselines[memo] = found
        return found

    def strategies(self) -> tuple[Strategy, ...]:
        if self.settings.strategy != "auto":
            return (self.settings.strategy,)  # type: ignore[return-value]
        return auto_strategies(self.session.info())

    def test_outcome(self, target: Target) -> Outcome:
        if target.is_async and target.is_method:
            return Outcome("skipped", "async method", None)
        test_files = verify.existing_test_files(self.root, target.module, self.settings.tests_dir)
        key = digest(
            "test",
            self.context_key,
            code_fingerprint(target.module_source),
            target.qualname,
            self._tests_fingerprint(test_files),
        )
        cached = self.cache.get(key)
        if cached is not None and cached.get("code") and unsafe_construct(cached["code"]):
            cached = None  # stored before the screening policy knew it: judged again
        if cached is not None:
            found = tuple(Disagreement(*d) for d in cached.get("disagreements", ()))
            score = cached.get("mutation")
            outcome = Outcome(
                cached["status"],
                cached["reason"],
                cached["code"],
                tuple(cached["attempts"]),
                disagreements=found,
                mutation=(int(score[0]), int(score[1])) if isinstance(score, list) else None,
            )
            return self._shown(outcome)
        problem = self.import_problem(target)
        if problem is not None:
            # Not cached: installing the missing dependency changes nothing the key holds.
            return Outcome("rejected", "import", None, (problem,))
        outcome = self._generate_test(target, test_files)
        self.cache.put(key, "test", outcome._asdict())
        return self._shown(outcome)

    def _shown(self, outcome: Outcome) -> Outcome:
        """The outcome, less its disagreements when the settings hide them (cached with)."""
        if reports_disagreements(self.settings.model, self.settings.disagreements):
            return outcome
        return outcome._replace(disagreements=())

    def _generate_test(self, target: Target, test_files: Sequence[str]) -> Outcome:
        measured = self.baseline(target, test_files)
        baseline = measured.lines
        executable = verify.executable_lines(target)
        if executable and executable <= baseline:
            return Outcome("skipped", "covered by existing tests", None)
        # Unknown coverage never means "covered" (issue 21): generate, and say that the
        # gain over the existing tests could not be checked, and why.
        unchecked = (
            ()
            if measured.problem is None
            else (
                "coverage of the existing tests unavailable "
                f"({measured.problem}): the gain over them was not checked",
            )
        )
        test_relpath = self.test_relpath(target)
        # The messages the function raises with, for the project's PT011 (style.py): read
        # once per target, not per candidate.
        messages = raise_messages(target) if self.style.ruff else None
        # Made once per target, when a test first needs scoring.
        mutants = functools.cache(lambda: mutation.mutants(target, self.settings.max_mutants))

        def check(candidate: Candidate) -> Verdict:
            if self.style.any and _parses(candidate.code):
                # The project's lint and format first: what is verified is what is kept.
                code, problem = conform(
                    self.root,
                    test_relpath,
                    candidate.code,
                    self.style,
                    self.sandbox,
                    messages=messages,
                )
                if problem is not None and not problem.startswith("note:"):
                    return Verdict(
                        candidate, False, "style", problem, 0, 0, frozenset(), frozenset()
                    )
                if problem is not None and problem not in self._style_notes:
                    self._style_notes.add(problem)
                    self.progress.notice(f"review-bot: {problem.removeprefix('note: ')}")
                candidate = candidate._replace(code=code)
            self.progress.status(f"verifying {candidate.strategy} test for {target.display}")
            verdict = verify.verify_test(
                self.sandbox,
                candidate,
                baseline=baseline,
                runs=self.settings.runs,
                test_relpath=test_relpath,
            )
            if not verdict.kept:
                return verdict
            # What passed in the jail runs later outside it, in the user's own pytest: it
            # is kept only if its text does nothing the screening policy forbids (issue
            # 22). Screened after the run, not before: the jail stays the boundary for
            # what runs, the policy for what is kept.
            unsafe = unsafe_construct(verdict.candidate.code)
            if unsafe is not None:
                return verdict._replace(kept=False, reason="unsafe", detail=unsafe)
            if not self.settings.mutation:
                return verdict

            def status(number: int, total: int) -> None:
                self.progress.status(f"mutant {number} of {total} of {target.display}")

            score = mutation.score(
                self.sandbox,
                candidate,
                mutants(),
                test_relpath=test_relpath,
                timeout_s=min(mutation.MUTANT_TIMEOUT_S, self.settings.timeout_s),
                progress=status,
            )
            return mutation.judge(verdict, score, self.settings.min_mutation_score)

        oracle: Oracle | None = None
        if self.settings.oracle_repair:

            def oracle(candidate: Candidate) -> Repair | str:
                self.progress.status(f"recording what {target.display} returns")
                return oracle_repair(self.sandbox, candidate, test_relpath)

        attempts = Attempts()
        last: Verdict | None = None
        for strategy in self.strategies():
            self.progress.status(f"writing a {strategy} test for {target.display}")
            if strategy == "cases":
                verdict = cases_strategy(
                    target,
                    self.session,
                    self.prompts,
                    check,
                    self.settings.repair_attempts,
                    attempts,
                    sandbox=self.sandbox,
                    n_cases=self.settings.n_cases,
                    timeout_s=self.settings.timeout_s,
                    mutants=mutants if self.settings.mutation else None,
                    improve_calls=self.settings.improve_calls,
                    search=self.settings.case_search,
                    record=lambda ran: self._ran.setdefault(_ran_key(target), []).extend(ran),
                )
            else:
                verdict = STRATEGY_FUNCTIONS[strategy](
                    target,
                    self.session,
                    self.prompts,
                    check,
                    self.settings.repair_attempts,
                    attempts,
                    oracle=oracle,
                )
            if verdict is not None:
                last = verdict
                if verdict.kept:
                    c = verdict.candidate
                    score = verdict.mutation
                    return Outcome(
                        "kept",
                        None,
                        c.code,
                        (*unchecked, *attempts.lines),
                        disagreements=c.disagreements,
                        mutation=None if score is None else (score.killed, score.total),
                    )
        reason = last.reason if last is not None else "unsupported"
        return Outcome("rejected", reason, None, (*unchecked, *attempts.lines))

    # -- docstrings ----------------------------------------------------------

    def docstring_outcome(self, target: Target) -> Outcome:
        if target.docstring is not None:
            return Outcome("skipped", "has a docstring", None)
        key = digest(
            "docstring",
            CHECKS_VERSION,
            self.context_key,
            code_fingerprint(target.module_source),
            target.qualname,
        )
        cached = self.cache.get(key)
        if cached is not None:
            return Outcome(
                cached["status"], cached["reason"], cached["code"], tuple(cached["attempts"])
            )
        outcome = self._generate_docstring(target)
        self.cache.put(key, "docstring", outcome._asdict())
        return outcome

    def _generate_docstring(self, target: Target) -> Outcome:
        calls = self.docstring_calls(target)
        self.progress.status(f"writing a docstring for {target.display}")
        recorded = [c.result for c in calls]

        def run(cases: Sequence[Case]) -> list[Result]:
            self.progress.status(f"calling {target.display} to check its docstring")
            return run_cases(self.sandbox, target, cases, self.settings.timeout_s)

        return write_docstring(
            target,
            self.session,
            self.prompts,
            convention=self.settings.convention,
            repair_attempts=(
                self.settings.repair_attempts
                if self.settings.docstring_retries is None
                else self.settings.docstring_retries
            ),
            temperature=self.settings.temperature,
            examples=(
                functools.partial(self.examples, recorded=recorded)
                if self.settings.docstring_examples
                else None
            ),
            calls=calls,
            run=run if calls else None,
        )

    def docstring_calls(self, target: Target) -> list[Call]:
        """The recorded calls a docstring of `target` is grounded in (a few are shown, all
        are checked against): those its test generation ran, else probes made here (no
        model call); none where the module does not import (the driver then records
        nothing) or the function cannot be called with JSON values."""
        ran = self._ran.get(_ran_key(target))
        if not ran:
            cases = probes(target)
            if not cases:
                return []
            self.progress.status(f"calling {target.display} to see what it does")
            ran = run_cases(self.sandbox, target, cases, self.settings.timeout_s)
        return usable(target, ran)

    def examples(
        self, target: Target, text: str, recorded: Sequence[Result] = ()
    ) -> tuple[str | None, str]:
        """`text` with a verified Examples section (from `recorded` where given), or None
        and why not."""
        self.progress.status(f"running examples for the docstring of {target.display}")
        return add_examples(
            target,
            text,
            self.session,
            self.prompts,
            self.sandbox,
            convention=self.settings.convention,
            n_cases=self.settings.n_cases,
            timeout_s=self.settings.timeout_s,
            recorded=recorded,
        )


def _ran_key(target: Target) -> str:
    return f"{target.path}:{target.qualname}:{code_fingerprint(target.source)}"


def _import_advice(cause: str, target: Target) -> str:
    """What to do about a module that does not import, by what is missing: a module of
    the project itself (a generated file git ignores, issue 21) is not a dependency."""
    missing = re.search(r"No module named '([^']+)'", cause)
    if missing is not None:
        top = missing.group(1).split(".")[0]
        if (target.root / top).is_dir() or (target.root / f"{top}.py").is_file():
            return (
                f"{missing.group(1)} belongs to the project but is not in its tree "
                "(a file written at install time? commit it, or reinstall the project)"
            )
    if "module named" in cause or "cannot import" in cause:
        return "install the project's dependencies there or set python"
    return f"importing {target.module} must succeed there for tests to run"


def tool_sandbox(root: Path, settings: Settings, checkout: Path | None = None) -> Sandbox:
    """A sandbox with the project's interpreter in which to run the project's own tools
    (isort, black) on a generated file: the jail of the settings, no warm runner, nothing
    lent. The caller closes it."""
    found = interpreter.find_python(checkout or root, settings.python)
    limits = Limits(settings.timeout_s, settings.memory_mb, settings.cpu_s)
    return Sandbox(
        root, limits, python=found.python, jail=settings.jail, warm=False, checkout=checkout
    )


def _parses(code: str) -> bool:
    """Whether `code` parses: what does not is the syntax check's to report, not lint's."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True
