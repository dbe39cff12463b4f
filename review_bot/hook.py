"""`review-bot hook`: the commit-time front end of the core.

One direction, as everywhere in review-bot::

    index ──► changed functions ──► the core, in a worker process ──► a plan ──► apply
    (git diff --cached)  (diff, targets)  (pipeline.Engine, run_targets)  (JSON)  (write, stage)

- This process does everything that touches the repository: it reads the staged diff,
  exports the index into a private temporary directory, starts the worker and applies the
  plan the worker returns. Kept tests are written atomically and staged (the exact bytes
  written, in one index update); kept docstrings are inserted into the working tree and
  never staged, as a formatter's fixes are.
- The worker is a separate process, so a model that crashes (llama.cpp aborts on a failed
  assertion) or hangs cannot take the commit with it: `on_error` decides. It runs the core
  on the exported index alone; it never reads or writes the working tree.
- A plan depends only on the staged tree, the diff base, the settings and the model file,
  so it is memoised under them: a second run on unchanged staged code neither starts the
  worker nor imports the model stack.

Never losing a byte: unstaged changes are never stashed, checked out or rewritten, so no
moment exists at which they live only in a patch file (pre-commit's `staged_files_only`
has one; a kill -9 there strands the user's work). The hook reads only the index, writes a
generated test file only where the working-tree copy equals the staged one (or is absent),
and inserts a docstring only into a function whose working-tree text equals the staged
text, leaving every other byte of the file as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import posixpath
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from review_bot import git
from review_bot.config import Settings, load_settings
from review_bot.errors import FatalError

if TYPE_CHECKING:  # pragma: no cover
    from review_bot.pipeline import BackendFactory, Progress
    from review_bot.records import Target, TargetResult

HOOK_IDS = ("llm-tests", "llm-docstrings")
PLAN_VERSION = 1
PREFIX = "review-bot: "

# -- the plan: plain JSON from the worker --------------------------------------------------


class PlanOutcome(TypedDict):
    status: str  # kept | rejected | skipped | missing (check mode: what the code lacks)
    reason: str | None
    attempts: list[str]


class PlanTarget(TypedDict):
    file: str  # path in the repository
    name: str  # module.qualname
    line: int
    test: PlanOutcome
    docstring: PlanOutcome


class PlanTests(TypedDict):
    path: str  # the generated test file, relative to the repository root
    module: str
    names: list[str]  # the targets whose kept tests it carries
    base: str | None  # the staged version the text was merged into (None: not staged)
    text: str | None  # the file to write; None with an error
    error: str | None


class PlanDocItem(TypedDict):
    qualname: str
    source: str  # the function's staged text (dedented), to find it in the working tree
    docstring: str


class PlanDocs(TypedDict):
    path: str
    base_sha256: str  # of the staged file
    text: str  # the staged file with every kept docstring inserted
    items: list[PlanDocItem]


class Plan(TypedDict):
    version: int
    analysis_only: bool
    notes: list[str]  # files left out and why
    targets: list[PlanTarget]
    tests: list[PlanTests]
    docstrings: list[PlanDocs]
    model_calls: int
    model_s: float
    cache_hits: int
    cache_misses: int


def empty_plan(analysis_only: bool, notes: Sequence[str] = ()) -> Plan:
    return Plan(
        version=PLAN_VERSION,
        analysis_only=analysis_only,
        notes=list(notes),
        targets=[],
        tests=[],
        docstrings=[],
        model_calls=0,
        model_s=0.0,
        cache_hits=0,
        cache_misses=0,
    )


# -- options and results -------------------------------------------------------------------


class HookOptions(NamedTuple):
    hook_id: str = "llm-tests"
    files: tuple[str, ...] = ()  # names pre-commit passes; empty: every staged file
    timeout_s: float | None = None  # for the worker; None: no limit
    memo: bool = True  # reuse the plan of an identical staged tree


class HookResult(NamedTuple):
    exit_code: int
    lines: list[str]  # what to print
    plan: Plan | None = None
    staged: tuple[str, ...] = ()
    written: tuple[str, ...] = ()  # written and not staged
    docstrings: tuple[str, ...] = ()  # files that got docstrings in the working tree
    memo_hit: bool = False


class WorkerFailure(Exception):
    """The core could not run: the model is missing, crashed or timed out."""


class CoreOutput(NamedTuple):
    results: list[TargetResult]
    model_calls: int
    model_s: float
    cache_hits: int
    cache_misses: int


RunCore = Callable[
    ["Path", Settings, "Sequence[Target]", "BackendFactory | None", "Progress | None"],
    CoreOutput,
]


# -- which files and functions -------------------------------------------------------------


def skipped_ids(environ: Mapping[str, str]) -> set[str]:
    """Hook ids in SKIP, as pre-commit reads it (comma-separated)."""
    return {part.strip() for part in environ.get("SKIP", "").split(",") if part.strip()}


def _tests_dir(settings: Settings) -> str:
    return posixpath.normpath(settings.tests_dir.replace(os.sep, "/")).strip("/") or "."


def generated_relpath(settings: Settings, module: str) -> str:
    """Where the generated tests of `module` go (apply.generated_test_path's layout)."""
    name = f"test_{module.replace('.', '_')}_generated.py"
    tests_dir = _tests_dir(settings)
    return name if tests_dir == "." else f"{tests_dir}/{name}"


_GENERATED_NAME = re.compile(r"test_.+_generated\.py")


def is_generated_path(settings: Settings, path: str) -> bool:
    directory, name = posixpath.split(path)
    return (directory or ".") == _tests_dir(settings) and bool(_GENERATED_NAME.fullmatch(name))


def is_source_candidate(settings: Settings, path: str) -> bool:
    """A staged file whose functions may be targets: Python, and not a test."""
    name = posixpath.basename(path)
    if not name.endswith(".py") or name == "conftest.py":
        return False
    if name.startswith("test_") or name.endswith("_test.py"):
        return False
    tests_dir = _tests_dir(settings)
    return tests_dir == "." or not (path + "/").startswith(tests_dir + "/")


def _repo_relative(repo: git.Repo, cwd: Path, names: Sequence[str]) -> set[str]:
    out: set[str] = set()
    root = os.path.abspath(repo.root)
    for name in names:
        full = os.path.abspath(os.path.join(cwd, name))
        rel = os.path.relpath(full, root)
        if not rel.startswith(".."):
            out.add(rel.replace(os.sep, "/"))
    return out


# -- the memo ------------------------------------------------------------------------------

_NOT_IN_KEY = frozenset({"mode", "on_error", "home", "cache", "api_key"})


def _package_prompts_fingerprint() -> str:
    # The templates shipped with review-bot, hashed without importing Jinja2; a project's
    # own templates are files of the staged tree, which the key covers already.
    directory = Path(__file__).parent / "prompts"
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.j2")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _memo_key(
    tree: str,
    bases: Sequence[str | None],
    settings: Settings,
    files: Sequence[str],
    analysis_only: bool,
) -> str | None:
    from review_bot.cache import digest, file_identity
    from review_bot.llm.models import resolve_model

    try:
        model, _ = resolve_model(settings.model)
    except FatalError:
        return None  # the worker says what is wrong
    values = {
        f.name: str(getattr(settings, f.name))
        for f in dataclasses.fields(settings)
        if f.name not in _NOT_IN_KEY
    }
    return digest(
        "hook-plan",
        PLAN_VERSION,
        tree,
        list(bases),
        values,
        sorted(files),
        analysis_only,
        file_identity(model),
        _package_prompts_fingerprint(),
    )


class _Memo:
    def __init__(self, settings: Settings, enabled: bool) -> None:
        self.cache: Any = None
        if enabled and settings.cache:
            from review_bot.cache import Cache

            self.cache = Cache(settings.cache_path)

    def get(self, key: str | None) -> Plan | None:
        if self.cache is None or key is None:
            return None
        value = self.cache.peek(key)
        if isinstance(value, dict) and value.get("version") == PLAN_VERSION:
            return typing.cast(Plan, value)
        return None

    def put(self, key: str | None, plan: Plan) -> None:
        if self.cache is not None and key is not None:
            self.cache.put(key, "hook-plan", plan)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


# -- the hook ------------------------------------------------------------------------------


def run_hook(
    cwd: Path,
    flags: Mapping[str, Any],
    options: HookOptions | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    backend_factory: BackendFactory | None = None,
    run_core: RunCore | None = None,
) -> HookResult:
    """Run the hook in the repository around `cwd`.

    `flags` are command-line settings (see config.load_settings). `backend_factory` or
    `run_core` run the core in this process instead of a worker (tests).
    """
    started = time.perf_counter()
    options = options or HookOptions()
    environ = os.environ if environ is None else environ
    skips = skipped_ids(environ)
    if options.hook_id in skips:
        return HookResult(0, [f"{PREFIX}skipped ({options.hook_id} is in SKIP)"])
    repo = git.find_repo(cwd)
    settings = load_settings(repo.root, flags, environ)
    if options.hook_id == "llm-docstrings":
        settings = dataclasses.replace(settings, tests=False)
    if "llm-docstrings" in skips:
        settings = dataclasses.replace(settings, docstrings=False)
    if not settings.tests and not settings.docstrings:
        return HookResult(0, [])
    analysis_only = settings.mode == "check"

    # The cheap question first: a commit without a Python change ends here.
    changes = git.staged_changes(repo, pattern="*.py")
    wanted = _repo_relative(repo, cwd, options.files) if options.files else None
    candidates = sorted(
        {
            c.path
            for c in changes
            if c.status != "D"
            and is_source_candidate(settings, c.path)
            and (wanted is None or c.path in wanted)
        }
    )
    if not candidates:
        return HookResult(0, [])

    tree = git.write_tree(repo)
    head = git.head(repo)
    merges = git.merge_heads(repo)
    memo = _Memo(settings, options.memo)
    try:
        key = _memo_key(tree, [head, *merges], settings, candidates, analysis_only)
        plan = memo.get(key)
        memo_hit = plan is not None
        if plan is None:
            try:
                plan = _make_plan(
                    repo,
                    settings,
                    options,
                    changes,
                    candidates,
                    head,
                    merges,
                    analysis_only,
                    backend_factory,
                    run_core,
                )
            except WorkerFailure as failure:
                return _on_error(settings, str(failure))
            memo.put(key, plan)
        report = apply_plan(repo, settings, plan, environ)
        if report.staged and key is not None:
            # The index now holds the tests; the plan for that tree is the same plan with
            # nothing left to write, so the next run (another hook failed, a retried commit)
            # starts no worker and calls no model.
            after = _after_staging(plan, report.staged)
            memo.put(
                _memo_key(
                    git.write_tree(repo), [head, *merges], settings, candidates, analysis_only
                ),
                after,
            )
    finally:
        memo.close()
    lines = summary(plan, report, settings, time.perf_counter() - started, memo_hit)
    return HookResult(
        report.exit_code(plan),
        lines,
        plan,
        tuple(report.staged),
        tuple(report.written),
        tuple(report.docstrings),
        memo_hit,
    )


def _on_error(settings: Settings, message: str) -> HookResult:
    if settings.on_error == "fail":
        return HookResult(1, [f"{PREFIX}{message} (on_error = fail: the commit stops)"])
    return HookResult(
        0, [f"{PREFIX}{message}; the commit goes on without generated tests (on_error = warn)"]
    )


def _after_staging(plan: Plan, staged: Sequence[str]) -> Plan:
    after = typing.cast(Plan, json.loads(json.dumps(plan)))
    for entry in after["tests"]:
        if entry["path"] in staged:
            entry["base"] = entry["text"]
    return after


def _make_plan(
    repo: git.Repo,
    settings: Settings,
    options: HookOptions,
    changes: Sequence[git.Change],
    candidates: Sequence[str],
    head: str | None,
    merges: Sequence[str],
    analysis_only: bool,
    backend_factory: BackendFactory | None,
    run_core: RunCore | None,
) -> Plan:
    from review_bot import diff

    if merges:
        # A merge commit: only what the merge itself changes (resolutions, edits made while
        # merging), not everything the other branch brings, which was reviewed there.
        per_parent = [
            diff.parse_diff(git.staged_diff(repo, base=base)) for base in [head or "HEAD", *merges]
        ]
        diffs = diff.common_changes(per_parent)
    else:
        diffs = diff.parse_diff(git.staged_diff(repo))
    wanted = set(candidates)
    notes: list[str] = []
    files: list[dict[str, Any]] = []
    for file_diff in diffs:
        if file_diff.path not in wanted or file_diff.status == "deleted":
            continue
        if file_diff.binary:
            notes.append(f"{file_diff.path}: skipped (binary)")
        elif file_diff.ranges:
            files.append({"path": file_diff.path, "ranges": file_diff.ranges})
    if not files:
        return empty_plan(analysis_only, notes)

    with tempfile.TemporaryDirectory(prefix="review-bot-hook-") as tmp_name:
        # Resolved: the core compares paths under it with resolved import roots.
        tmp = Path(tmp_name).resolve()
        git.export_index(repo, tmp / "tree")
        generated = []
        for change in changes:
            if change.status != "D" and is_generated_path(settings, change.path):
                generated.append(change.path)
                old = git.blob(repo, f"{head}:{change.path}") if head else None
                if old is not None:
                    target = tmp / "head" / change.path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(old)
        request = {
            "tmp": str(tmp),
            "settings": settings_to_json(settings),
            "files": files,
            "generated": generated,
            "analysis_only": analysis_only,
            "notes": notes,
        }
        if backend_factory is not None or run_core is not None:
            try:
                return compute_plan(request, backend_factory=backend_factory, run_core=run_core)
            except FatalError as exc:
                raise WorkerFailure(str(exc)) from None
        timeout_s = options.timeout_s if options.timeout_s is not None else settings.hook_timeout_s
        return _run_worker(tmp, request, timeout_s)


# -- the worker process --------------------------------------------------------------------

_WORKER_CODE = "from review_bot.hook import worker_main; raise SystemExit(worker_main())"
_GRACE_S = 5.0


def _run_worker(tmp: Path, request: dict[str, Any], timeout_s: float | None) -> Plan:
    request_path = tmp / "request.json"
    result_path = tmp / "result.json"
    request["result"] = str(result_path)
    request_path.write_text(json.dumps(request), encoding="utf-8")
    # stdin is the worker's lifeline: when this process dies (even by SIGKILL) the pipe
    # closes and the worker stops instead of running the model for nobody.
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER_CODE, str(request_path)], stdin=subprocess.PIPE
    )
    try:
        try:
            returncode = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop(proc)
            raise WorkerFailure(f"the model did not finish within {timeout_s:g} s") from None
    except BaseException:
        _stop(proc)
        raise
    finally:
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result = None
    if isinstance(result, dict) and "plan" in result:
        return typing.cast(Plan, result["plan"])
    if isinstance(result, dict) and "error" in result:
        raise WorkerFailure(str(result["error"]))
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        raise WorkerFailure(f"the model process crashed ({name})")
    raise WorkerFailure(f"the model process exited with code {returncode} and no result")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT first (the worker cleans its sandbox up), SIGKILL if it does not listen."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _lifeline() -> None:
    # The raw descriptor, not sys.stdin: a daemon thread blocked inside a buffered reader
    # makes the interpreter abort at exit ("could not acquire lock").
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    # End of file: the hook process is gone. Interrupt the work (the sandbox kills what it
    # started and removes its files), and make sure to leave even if that hangs.
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(_GRACE_S)
    os._exit(1)


def worker_main(argv: Sequence[str] | None = None, *, lifeline: bool = True) -> int:
    """Entry point of the worker process: request file in, result file out."""
    import threading
    import traceback

    argv = sys.argv[1:] if argv is None else argv
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result_path = Path(request["result"])
    if lifeline:
        threading.Thread(target=_lifeline, daemon=True).start()
    from review_bot.cli import ConsoleProgress

    progress = ConsoleProgress()
    try:
        result: dict[str, Any] = {"plan": compute_plan(request, progress=progress)}
        code = 0
    except FatalError as exc:
        result, code = {"error": str(exc)}, 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug or a library failure: reported, on_error decides
        if os.environ.get("REVIEW_BOT_DEBUG"):
            traceback.print_exc()
        result = {"error": f"internal error: {type(exc).__name__}: {exc}"}
        code = 3
    finally:
        progress.stop()
    tmp = result_path.with_name(result_path.name + ".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    os.replace(tmp, result_path)
    return code


def settings_to_json(settings: Settings) -> dict[str, Any]:
    return {
        f.name: str(value) if isinstance(value, Path) else value
        for f in dataclasses.fields(settings)
        for value in [getattr(settings, f.name)]
    }


def settings_from_json(data: Mapping[str, Any]) -> Settings:
    hints = typing.get_type_hints(Settings)
    values: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints.get(name)
        wants_path = hint is Path or Path in typing.get_args(hint)
        values[name] = Path(value) if wants_path and value is not None else value
    return Settings(**values)


# -- the core, on the exported index -------------------------------------------------------


def compute_plan(
    request: Mapping[str, Any],
    *,
    backend_factory: BackendFactory | None = None,
    run_core: RunCore | None = None,
    progress: Progress | None = None,
) -> Plan:
    """The worker's job: targets of the staged diff -> the core -> what to write."""
    from review_bot import apply
    from review_bot.diff import intersects
    from review_bot.targets import import_root, parse_source, read_source, targets_in_source

    tmp = Path(request["tmp"])
    tree = tmp / "tree"
    settings = settings_from_json(request["settings"])
    analysis_only = bool(request["analysis_only"])
    notes = list(request.get("notes", []))
    # Check mode reports the staged state as it is; generating sets our own files aside.
    index_versions = (
        {} if analysis_only else _set_generated_aside(tmp, request["generated"], apply.is_generated)
    )

    targets: list[Target] = []
    for item in request["files"]:
        path = tree / item["path"]
        try:
            source = read_source(path)
            parsed = parse_source(path, source)
        except FatalError as exc:
            reason = str(exc)
            if reason.startswith(str(path)):  # "PATH: why" or "PATH:LINE: why"
                reason = reason[len(str(path)) :].lstrip(":0123456789 ")
            notes.append(f"{item['path']}: skipped ({reason})")
            continue
        ranges = [(int(first), int(last)) for first, last in item["ranges"]]
        for target in targets_in_source(import_root(path), path, source, parsed):
            if intersects(ranges, target.lineno, target.end_lineno):
                targets.append(target)
    plan = empty_plan(analysis_only, notes)
    if not targets:
        return plan
    if analysis_only:
        plan["targets"] = analyse(tree, settings, targets, backend_factory, progress, notes)
        return plan

    core = run_core or default_core
    output = core(tree, settings, targets, backend_factory, progress)
    plan["model_calls"] = output.model_calls
    plan["model_s"] = round(output.model_s, 3)
    plan["cache_hits"] = output.cache_hits
    plan["cache_misses"] = output.cache_misses
    plan["targets"] = [
        PlanTarget(
            file=r.target.path.relative_to(tree).as_posix(),
            name=r.target.display,
            line=r.target.def_lineno,
            test=_outcome(r.test),
            docstring=_outcome(r.docstring),
        )
        for r in output.results
    ]
    plan["tests"] = _plan_tests(tree, index_versions, settings, output.results)
    plan["docstrings"] = _plan_docstrings(tree, output.results)
    return plan


def _outcome(outcome: Any) -> PlanOutcome:
    return PlanOutcome(
        status=outcome.status, reason=outcome.reason, attempts=list(outcome.attempts)
    )


def _set_generated_aside(
    tmp: Path, generated: Sequence[str], is_generated: Callable[[str], bool]
) -> dict[str, bytes]:
    """Analyse as if no generated tests had been staged since HEAD.

    A generated file staged by an earlier run (or a run in write mode that the user then
    staged) would otherwise change what the core sees: the same function would meet other
    existing tests, miss the cache and get a second round of generation. Its staged version
    is kept aside as the base the new tests are merged into. Returns relpath -> staged bytes.
    """
    tree = tmp / "tree"
    aside: dict[str, bytes] = {}
    for rel in generated:
        path = tree / rel
        try:
            staged = path.read_bytes()
        except OSError:
            continue
        if not is_generated(staged.decode("utf-8", "replace")):
            continue  # a hand-written file by that name: it is the user's, and it counts
        aside[rel] = staged
        old = tmp / "head" / rel
        if old.is_file() and is_generated(old.read_text("utf-8", "replace")):
            shutil.copyfile(old, path)
        else:
            path.unlink()
    return aside


def default_core(
    root: Path,
    settings: Settings,
    targets: Sequence[Target],
    backend_factory: BackendFactory | None,
    progress: Progress | None,
) -> CoreOutput:
    """pipeline.run_targets on the exported index, with the name-reference fallback."""
    from review_bot import pipeline
    from review_bot.records import Outcome, TargetResult

    engine = pipeline.Engine(
        root,
        settings,
        backend_factory=backend_factory or pipeline.llamacpp_factory,
        progress=progress,
    )
    try:
        # Targets no test can be written for, and why: the core then writes only docstrings.
        no_test: dict[Target, str] = {}
        if settings.tests:
            for target in targets:
                if not is_importable(target.module):
                    no_test[target] = f"module name {target.module!r} cannot be imported"
            for target in _covered_by_name(engine, [t for t in targets if t not in no_test]):
                no_test[target] = "named in existing tests (coverage unavailable)"
        computed = iter(pipeline.run_targets(engine, [t for t in targets if t not in no_test]))
        ordered: list[TargetResult] = []
        for target in targets:
            if target in no_test:
                doc = (
                    engine.docstring_outcome(target)
                    if settings.docstrings
                    else Outcome("skipped", "docstrings disabled", None)
                )
                ordered.append(TargetResult(target, Outcome("skipped", no_test[target], None), doc))
            else:
                ordered.append(next(computed))
        return CoreOutput(
            ordered,
            engine.session.calls,
            engine.session.model_s,
            engine.cache.hits,
            engine.cache.misses,
        )
    finally:
        engine.close()


def is_importable(module: str) -> bool:
    """Whether `import MODULE` can name it: a file called `my module.py` cannot be."""
    import keyword

    return all(part.isidentifier() and not keyword.iskeyword(part) for part in module.split("."))


def _covered_by_name(engine: Any, targets: Sequence[Target]) -> set[Target]:
    """Targets the existing tests name although coverage could not be measured.

    The core measures which lines the existing tests execute; when that run fails or times
    out (an empty baseline although test files exist), a function counts as covered when
    its name appears as a word in one of those test files: a cheap stand-in that errs on
    the side of not generating.
    """
    from review_bot import verify

    covered: set[Target] = set()
    for target in targets:
        files = verify.existing_test_files(engine.root, target.module, engine.settings.tests_dir)
        if files and not engine.baseline(target, files) and _named_in(engine.root, files, target):
            covered.add(target)
    return covered


def _named_in(root: Path, files: Sequence[str], target: Target) -> bool:
    word = re.compile(rf"\b{re.escape(target.name)}\b")
    for rel in files:
        with contextlib.suppress(OSError):
            if word.search((root / rel).read_text("utf-8", "replace")):
                return True
    return False


def analyse(
    root: Path,
    settings: Settings,
    targets: Sequence[Target],
    backend_factory: BackendFactory | None,
    progress: Progress | None,
    notes: list[str],
) -> list[PlanTarget]:
    """Check mode: which targets lack a test or a docstring. No model call, no writes."""
    from review_bot import pipeline, verify

    engine: Any = None
    if settings.tests:
        try:
            engine = pipeline.Engine(
                root,
                settings,
                backend_factory=backend_factory or pipeline.llamacpp_factory,
                progress=progress,
            )
        except FatalError as exc:
            # Measuring coverage needs no model, but the core wants one to exist; without
            # it the name-reference check still answers.
            notes.append(f"coverage not measured ({exc}); used the name-reference check")
    out: list[PlanTarget] = []
    try:
        for target in targets:
            test = PlanOutcome(status="skipped", reason="tests disabled", attempts=[])
            if settings.tests:
                files = verify.existing_test_files(root, target.module, settings.tests_dir)
                test = _test_gap(engine, target, files, verify.executable_lines(target))
            doc = PlanOutcome(status="skipped", reason="docstrings disabled", attempts=[])
            if settings.docstrings:
                doc = (
                    PlanOutcome(status="skipped", reason="has a docstring", attempts=[])
                    if target.docstring is not None
                    else PlanOutcome(status="missing", reason="no docstring", attempts=[])
                )
            out.append(
                PlanTarget(
                    file=target.path.relative_to(root).as_posix(),
                    name=target.display,
                    line=target.def_lineno,
                    test=test,
                    docstring=doc,
                )
            )
    finally:
        if engine is not None:
            engine.close()
    return out


def _test_gap(
    engine: Any, target: Target, files: Sequence[str], executable: frozenset[int]
) -> PlanOutcome:
    if not files:
        return PlanOutcome(status="missing", reason="no test imports the module", attempts=[])
    baseline: frozenset[int] = engine.baseline(target, files) if engine is not None else frozenset()
    if not baseline:
        if _named_in(target.root if engine is None else engine.root, files, target):
            return PlanOutcome(
                status="skipped",
                reason="named in existing tests (coverage unavailable)",
                attempts=[],
            )
        return PlanOutcome(status="missing", reason="no existing test runs it", attempts=[])
    missed = executable - baseline
    if not missed:
        return PlanOutcome(status="skipped", reason="covered by existing tests", attempts=[])
    lines = ", ".join(str(n) for n in sorted(missed)[:5]) + (", ..." if len(missed) > 5 else "")
    return PlanOutcome(
        status="missing",
        reason=f"{len(missed)} of {len(executable)} lines not covered (line {lines})",
        attempts=[],
    )


def _plan_tests(
    tree: Path,
    index_versions: Mapping[str, bytes],
    settings: Settings,
    results: Sequence[TargetResult],
) -> list[PlanTests]:
    from review_bot import apply

    by_module: dict[str, list[TargetResult]] = {}
    for result in results:
        if result.test.status == "kept" and result.test.code:
            by_module.setdefault(result.target.module, []).append(result)
    out: list[PlanTests] = []
    for module, kept in by_module.items():
        rel = generated_relpath(settings, module)
        names = [r.target.display for r in kept]
        staged = index_versions.get(rel)
        if staged is None and (tree / rel).is_file():
            staged = (tree / rel).read_bytes()
        entry = PlanTests(path=rel, module=module, names=names, base=None, text=None, error=None)
        try:
            base = None if staged is None else staged.decode("utf-8")
        except UnicodeDecodeError:
            entry["error"] = "the staged file is not UTF-8; not touched"
            out.append(entry)
            continue
        entry["base"] = base
        if base is not None and not apply.is_generated(base):
            entry["error"] = "exists and was not generated by review-bot; not touched"
            out.append(entry)
            continue
        text = base
        try:
            for result in kept:
                assert result.test.code is not None
                code = unclash(text or "", result.test.code)
                text = apply.merge_generated_tests(text, code)
        except (SyntaxError, FatalError) as exc:
            entry["error"] = f"cannot merge the new tests into it: {exc}"
        else:
            entry["text"] = text
        out.append(entry)
    return out


def unclash(existing: str, code: str) -> str:
    """Rename what `code` defines at top level where `existing` defines the same name
    differently: `test_add` becomes `test_add_2` (the first free or identical suffix), so
    an earlier generated test is never replaced and no test name is duplicated.

    A definition identical to one in `existing` keeps its name (the merge drops the copy),
    which makes running the hook twice a no-op.
    """
    old = _top_level(existing)
    new = _top_level(code)
    clashing = sorted(name for name in new if name in old and old[name] != new[name])
    if not clashing:
        return code
    for suffix in range(2, 1000):
        mapping = {name: f"{name}_{suffix}" for name in clashing}
        renamed = _rename(code, mapping)
        units = _top_level(renamed)
        if all(old.get(name, dump) == dump for name, dump in units.items()):
            return renamed
    raise FatalError(f"too many generated versions of {', '.join(clashing)}")  # pragma: no cover


def _top_level(code: str) -> dict[str, str]:
    """Top-level names a module defines (functions, classes, simple assignments) and a
    formatting-blind dump of each definition."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {}
    out: dict[str, str] = {}
    for node in tree.body:
        name: str | None = None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            if isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
        if name is not None:
            out[name] = ast.dump(node)
    return out


def _rename(code: str, mapping: Mapping[str, str]) -> str:
    import libcst as cst

    class Renamer(cst.CSTTransformer):
        def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
            new = mapping.get(updated_node.value)
            return updated_node.with_changes(value=new) if new else updated_node

        def leave_Attribute(
            self, original_node: cst.Attribute, updated_node: cst.Attribute
        ) -> cst.Attribute:
            # `obj.test_add` is some other object's attribute, not our definition.
            return updated_node.with_changes(attr=original_node.attr)

    return cst.parse_module(code).visit(Renamer()).code


def _plan_docstrings(tree: Path, results: Sequence[TargetResult]) -> list[PlanDocs]:
    from review_bot import pipeline

    by_file: dict[Path, list[TargetResult]] = {}
    for result in results:
        if result.docstring.status == "kept" and result.docstring.code is not None:
            by_file.setdefault(result.target.path, []).append(result)
    out: list[PlanDocs] = []
    for path, kept in by_file.items():
        source = kept[0].target.module_source
        out.append(
            PlanDocs(
                path=path.relative_to(tree).as_posix(),
                base_sha256=hashlib.sha256(source.encode("utf-8")).hexdigest(),
                text=pipeline.with_docstrings(source, kept),
                items=[
                    PlanDocItem(
                        qualname=r.target.qualname,
                        source=r.target.source,
                        docstring=r.docstring.code or "",
                    )
                    for r in kept
                ],
            )
        )
    return out


# -- applying a plan to the working tree and the index -------------------------------------


@dataclasses.dataclass
class ApplyReport:
    staged: list[str] = dataclasses.field(default_factory=list)
    written: list[str] = dataclasses.field(default_factory=list)  # now, not staged
    unstaged: list[str] = dataclasses.field(default_factory=list)  # written earlier
    already: list[str] = dataclasses.field(default_factory=list)  # staged earlier
    blocked: list[str] = dataclasses.field(default_factory=list)  # messages
    docstrings: list[str] = dataclasses.field(default_factory=list)  # inserted now
    docstrings_pending: list[str] = dataclasses.field(default_factory=list)  # inserted earlier
    docstrings_blocked: list[str] = dataclasses.field(default_factory=list)  # messages
    warnings: list[str] = dataclasses.field(default_factory=list)

    def exit_code(self, plan: Plan) -> int:
        if plan["analysis_only"]:
            gaps = [
                t
                for t in plan["targets"]
                if "missing" in (t["test"]["status"], t["docstring"]["status"])
            ]
            return 1 if gaps else 0
        # pre-commit's convention: 1 when this run modified files the user has to look at
        # (tests written for review, docstrings inserted), and when kept tests could not be
        # written because the user's own changes are in the way. What an earlier run wrote
        # and the user chose not to stage is mentioned, not held against the commit.
        return 1 if (self.written or self.blocked or self.docstrings) else 0


def apply_plan(
    repo: git.Repo, settings: Settings, plan: Plan, environ: Mapping[str, str]
) -> ApplyReport:
    report = ApplyReport()
    if plan["analysis_only"]:
        return report
    stashed = framework_stashed_paths(environ)
    for entry in plan["tests"]:
        _apply_tests(repo, settings, entry, stashed, report)
    for doc_entry in plan["docstrings"]:
        _apply_docstrings(repo, doc_entry, report)
    return report


def _read(path: Path) -> bytes | None:
    """The file's bytes; None if there is none. Raises FatalError for a non-file."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise FatalError(f"{path}: not a regular file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _apply_tests(
    repo: git.Repo,
    settings: Settings,
    entry: PlanTests,
    stashed: set[str],
    report: ApplyReport,
) -> None:
    rel = entry["path"]
    if entry["error"] is not None or entry["text"] is None:
        report.blocked.append(f"{rel}: {entry['error']}")
        return
    text, base = entry["text"], entry["base"]
    data = text.encode("utf-8")
    if text == base:
        report.already.append(rel)
        return
    path = repo.root / rel
    try:
        current = _read(path)
    except FatalError as exc:
        report.blocked.append(f"{exc}; not touched")
        return
    if rel in stashed:
        report.blocked.append(
            f"{rel}: has unstaged changes (set aside by pre-commit); not touched: stage or "
            "drop them and commit again"
        )
        return
    clean = current == (None if base is None else base.encode("utf-8"))
    if not clean and current != data:
        what = "is not staged" if base is None else "has unstaged changes"
        if current is None:
            what = "is deleted in the working tree but not in the index"
        report.blocked.append(f"{rel}: {what}; not touched: stage or remove it and commit again")
        return
    if current != data:
        from review_bot import apply

        path.parent.mkdir(parents=True, exist_ok=True)
        _sweep_temporaries(path)
        apply.atomic_write(path, text)
    if settings.mode != "stage":
        (report.written if current != data else report.unstaged).append(rel)
        return
    before = git.index_entry(repo, rel)
    if before is None and git.is_ignored(repo, rel):
        (report.written if current != data else report.unstaged).append(rel)
        report.warnings.append(f"{rel}: ignored by .gitignore, so written but not staged")
        return
    sha = git.hash_object(repo, rel, data)
    mode = before.mode if before is not None else git.EMPTY_BLOB_MODE
    git.stage_blob(repo, rel, sha, mode)
    report.staged.append(rel)
    real = git.partial_commit_index(repo)
    if real is not None:
        # `git commit PATH`: the commit is made from a temporary index; the real one is
        # installed after it, so it must hold the file too or the next commit deletes it.
        theirs = git.index_entry(repo, rel, index_file=real)
        if (theirs is None and before is None) or (
            theirs is not None and before is not None and theirs.sha == before.sha
        ):
            git.stage_blob(repo, rel, sha, mode, index_file=real)
        else:
            report.warnings.append(
                f"{rel}: committed, but your index holds another version of it; "
                "see `git status` after the commit"
            )


def _sweep_temporaries(path: Path) -> None:
    """Remove what an interrupted atomic write of `path` left behind."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{12}}\.tmp")
    with contextlib.suppress(OSError):
        for leftover in path.parent.iterdir():
            if pattern.fullmatch(leftover.name) and leftover.is_file():
                leftover.unlink()


def _apply_docstrings(repo: git.Repo, entry: PlanDocs, report: ApplyReport) -> None:
    rel = entry["path"]
    path = repo.root / rel
    try:
        current = _read(path)
    except FatalError as exc:
        report.docstrings_blocked.append(f"{exc}; docstrings not inserted")
        return
    if current is None:
        report.docstrings_blocked.append(f"{rel}: deleted in the working tree; not inserted")
        return
    target_text = entry["text"]
    if current == target_text.encode("utf-8"):
        report.docstrings_pending.append(rel)
        return
    from review_bot import apply

    _sweep_temporaries(path)
    if hashlib.sha256(current).hexdigest() == entry["base_sha256"]:
        apply.atomic_write(path, target_text)
        report.docstrings.append(rel)
        return
    # Unstaged edits in the file: insert each docstring into its function if that function
    # reads as staged; everything else in the file stays byte for byte.
    try:
        text = current.decode("utf-8")
    except UnicodeDecodeError:
        report.docstrings_blocked.append(f"{rel}: not UTF-8 in the working tree; not inserted")
        return
    new_text, missing = insert_where_unchanged(path, text, entry["items"])
    if new_text != text:
        if _read(path) != current:  # edited while we worked: never overwrite an edit
            report.docstrings_blocked.append(f"{rel}: changed while the hook ran; not inserted")
            return
        apply.atomic_write(path, new_text)
        report.docstrings.append(rel)
    for qualname in missing:
        report.docstrings_blocked.append(
            f"{rel}: {qualname} changed in the working tree since it was staged; its "
            "docstring was not inserted"
        )


def insert_where_unchanged(
    path: Path, text: str, items: Sequence[PlanDocItem]
) -> tuple[str, list[str]]:
    """Insert each docstring into the function of the same name whose text equals the
    staged one. Returns the new text and the qualnames that found no such function."""
    from review_bot import apply
    from review_bot.targets import targets_in_source

    try:
        found = targets_in_source(path.parent, path, text)
    except FatalError:
        return text, [item["qualname"] for item in items]
    placed: list[tuple[int, PlanDocItem]] = []
    missing: list[str] = []
    for item in items:
        match = next(
            (t for t in found if t.qualname == item["qualname"] and t.source == item["source"]),
            None,
        )
        if match is None:
            missing.append(item["qualname"])
        else:
            placed.append((match.lineno, item))
    # Bottom up, so each insertion leaves the line numbers above it valid.
    for lineno, item in sorted(placed, key=lambda pair: pair[0], reverse=True):
        text = apply.insert_docstring(text, item["qualname"], item["docstring"], lineno=lineno)
    return text, missing


# -- pre-commit's stash --------------------------------------------------------------------

_DIFF_HEADER = re.compile(rb"^diff --git (.*)$", re.MULTILINE)


def framework_stashed_paths(environ: Mapping[str, str]) -> set[str]:
    """Paths whose unstaged changes pre-commit set aside before running this hook.

    pre-commit stashes unstaged changes as a patch named after its own process id and
    applies it again afterwards; a generated test file that is in that patch must not be
    rewritten, or the patch would no longer apply. Outside pre-commit: empty.
    """
    if environ.get("PRE_COMMIT") != "1":
        return set()
    home = environ.get("PRE_COMMIT_HOME")
    if not home:
        cache = environ.get("XDG_CACHE_HOME") or os.path.join(
            environ.get("HOME", os.path.expanduser("~")), ".cache"
        )
        home = os.path.join(cache, "pre-commit")
    patches = sorted(Path(home).glob(f"patch*-{os.getppid()}"), key=lambda p: p.name)
    if not patches:
        return set()
    try:
        data = patches[-1].read_bytes()
    except OSError:
        return set()
    return {path for match in _DIFF_HEADER.finditer(data) for path in _header_paths(match[1])}


def _header_paths(header: bytes) -> list[str]:
    """The paths of a `diff --git a/X b/Y` header (no renames in pre-commit's patch)."""
    from review_bot.diff import unquote_path

    text = os.fsdecode(header)
    if text.startswith('"'):
        quoted = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', text)
        return list(dict.fromkeys(unquote_path(part)[2:] for part in quoted[:2]))
    # `a/P b/P`: both halves have the same length.
    half = (len(text) - 1) // 2
    if text[half : half + 3] == " b/" and text.startswith("a/"):
        return [text[2:half]]
    return []


# -- the summary ---------------------------------------------------------------------------


def _describe(outcome: PlanOutcome) -> str:
    text = outcome["status"]
    if outcome["reason"]:
        text += f" ({outcome['reason']})"
    return text


def summary(
    plan: Plan, report: ApplyReport, settings: Settings, seconds: float, memo_hit: bool
) -> list[str]:
    lines = [f"{PREFIX}{note}" for note in plan["notes"]]
    targets = plan["targets"]
    if not targets:
        if lines:
            lines.append(f"{PREFIX}no changed function to check")
        return lines
    files = sorted({t["file"] for t in targets})
    lines.append(
        f"{PREFIX}{len(targets)} changed function{'s' if len(targets) != 1 else ''} "
        f"in {', '.join(files)}"
    )
    for target in targets:
        parts = []
        if settings.tests:
            parts.append(f"test {_describe(target['test'])}")
        if settings.docstrings:
            parts.append(f"docstring {_describe(target['docstring'])}")
        lines.append(f"  {target['name']} (line {target['line']}): {'; '.join(parts)}")
        if target["test"]["status"] == "rejected":
            lines.extend(f"      - {attempt}" for attempt in target["test"]["attempts"])
    if plan["analysis_only"]:
        gaps = sum("missing" in (t["test"]["status"], t["docstring"]["status"]) for t in targets)
        if gaps:
            lines.append(f"{PREFIX}{gaps} of {len(targets)} lack a test or a docstring")
        return [*lines, f"{PREFIX}checked in {seconds:.1f} s"]
    for rel in report.staged:
        lines.append(f"{PREFIX}staged {rel}")
    for rel in report.already:
        lines.append(f"{PREFIX}{rel} already holds the kept tests")
    for rel in report.written:
        lines.append(f"{PREFIX}wrote {rel}: review it, `git add` it and commit again")
    for rel in report.unstaged:
        lines.append(
            f"{PREFIX}{rel} holds the kept tests but is not staged (this commit goes without them)"
        )
    for message in report.blocked:
        lines.append(f"{PREFIX}{message}")
    for rel in report.docstrings:
        lines.append(
            f"{PREFIX}inserted docstrings into {rel} (not staged): review, `git add` it "
            "and commit again"
        )
    for rel in report.docstrings_pending:
        lines.append(
            f"{PREFIX}{rel} has the kept docstrings in the working tree, not staged "
            "(this commit goes without them)"
        )
    for message in report.docstrings_blocked + report.warnings:
        lines.append(f"{PREFIX}{message}")
    kept = sum(t["test"]["status"] == "kept" for t in targets)
    rejected: dict[str, int] = {}
    for target in targets:
        if target["test"]["status"] == "rejected":
            reason = target["test"]["reason"] or "?"
            rejected[reason] = rejected.get(reason, 0) + 1
    reasons = ", ".join(f"{n} {r}" for r, n in sorted(rejected.items()))
    docs = sum(t["docstring"]["status"] == "kept" for t in targets)
    counts = []
    if settings.tests:
        counts.append(
            f"{kept} tests kept, {sum(rejected.values())} rejected"
            + (f" ({reasons})" if reasons else "")
        )
    if settings.docstrings:
        counts.append(f"{docs} docstrings kept")
    cost = (
        "plan reused, no model call"
        if memo_hit
        else f"model {plan['model_s']:.1f} s in {plan['model_calls']} calls, "
        f"cache {plan['cache_hits']} hits, {plan['cache_misses']} misses"
    )
    lines.append(f"{PREFIX}{', '.join(counts)}; {cost}; {seconds:.1f} s")
    return lines


# -- the plain git hook --------------------------------------------------------------------

HOOK_MARKER = "# review-bot: plain git pre-commit hook"
BACKUP_NAME = "pre-commit.before-review-bot"
HOOK_TEMPLATE = """\
#!/bin/sh
{marker}
# For repositories that do not use the pre-commit framework. `review-bot install` puts it
# in place (and fills in INSTALL_PYTHON); `review-bot uninstall` removes it and restores the
# hook it replaced. On every commit it runs `review-bot hook`: verified tests for the
# changed functions are written and staged with the commit, missing docstrings are inserted
# into the working tree. Unstaged changes are never touched.
# Skip it with SKIP=llm-tests (everything) or SKIP=llm-docstrings (docstrings), or with
# `git commit --no-verify`.
INSTALL_PYTHON={python}
if [ -n "$INSTALL_PYTHON" ] && [ -x "$INSTALL_PYTHON" ]; then
    exec "$INSTALL_PYTHON" -m review_bot hook
fi
if command -v review-bot >/dev/null 2>&1; then
    exec review-bot hook
fi
echo "review-bot: not found; the pre-commit hook did nothing (review-bot uninstall removes it)" >&2
exit 0
"""


def hook_script(python: str) -> str:
    import shlex

    return HOOK_TEMPLATE.format(marker=HOOK_MARKER, python=shlex.quote(python))


def install(cwd: Path, *, force: bool = False, python: str | None = None) -> str:
    """Put the plain hook into the repository's hooks directory; returns a message."""
    hooks = git.hooks_dir(cwd)
    path = hooks / "pre-commit"
    backup = hooks / BACKUP_NAME
    script = hook_script(python or sys.executable)
    existing = _hook_text(path)
    if existing is not None and HOOK_MARKER not in existing:
        if not force:
            extra = (
                " (it is pre-commit's: add review-bot to .pre-commit-config.yaml instead)"
                if "pre-commit" in existing and "INSTALL_PYTHON" in existing
                else ""
            )
            raise FatalError(
                f"{path}: a pre-commit hook not installed by review-bot is in place{extra}; "
                "use --force to replace it (review-bot uninstall restores it)"
            )
        if backup.exists() or backup.is_symlink():
            raise FatalError(f"{backup}: exists; move it away before --force")
        os.replace(path, backup)
    hooks.mkdir(parents=True, exist_ok=True)
    tmp = hooks / f".pre-commit.review-bot.{os.getpid()}.tmp"
    tmp.write_text(script, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, path)
    if existing is not None and HOOK_MARKER in existing:
        return f"review-bot: updated {path}"
    if existing is not None:
        return f"review-bot: installed {path} (the previous hook is saved as {backup.name})"
    return f"review-bot: installed {path}"


def uninstall(cwd: Path) -> str:
    hooks = git.hooks_dir(cwd)
    path = hooks / "pre-commit"
    backup = hooks / BACKUP_NAME
    existing = _hook_text(path)
    if existing is None:
        return "review-bot: no pre-commit hook installed"
    if HOOK_MARKER not in existing:
        raise FatalError(f"{path}: not installed by review-bot; leaving it alone")
    path.unlink()
    if backup.exists() or backup.is_symlink():
        os.replace(backup, path)
        return f"review-bot: removed the hook and restored the previous {path}"
    return f"review-bot: removed {path}"


def _hook_text(path: Path) -> str | None:
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""  # unreadable (a dangling link): certainly not ours
