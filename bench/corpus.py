"""review-bot on a corpus of real open-source projects, as a new user runs it (issue 21).

    .venv/bin/python bench/corpus.py                       # every project, the default model
    .venv/bin/python bench/corpus.py --projects humanize,parse --model smollm2 --out DIR
    .venv/bin/python bench/corpus.py --setup-only          # install and run their own tests

For each project of bench/corpus_projects.toml (pinned sdists that ship their tests) it
downloads the sdist, unpacks it into DIR/work/NAME, commits it into a new git repository
(its .gitignore honoured; the entry of docs/hook.md in .pre-commit-config.yaml), creates
the project's own .venv and installs it as its contributors do (editable, with its test
extras or groups), and runs the project's own tests. Then, for three scripted changes
(a: a new function in an existing module; b: a new optional parameter and branch in a
covered function; c: a new module importing a missing package), each from the same
commit, it runs both front ends with default settings:

- `review-bot suggest FILE --function NAME --write --json` (review-bot beside this
  interpreter, as a user in the project directory runs it);
- `git commit` through the real `pre-commit`, whose hook repository is a snapshot of this
  checkout (tests/helpers/first_commit.py); when the hook inserts docstrings and
  pre-commit stops the commit, `git add -A` and `git commit` again, as a user would.

After each it runs the project's whole test suite and its configured linters on the
changed files and on the generated test files. review-bot's cache is emptied before every
run (the model files stay), so no run answers from another's results. Writes
DIR/corpus.json and DIR/corpus.md, prints the Markdown; DIR defaults to a new temporary
directory; the work directories stay there for reruns (`git reset --hard corpus-base`).
One project's failure is recorded and the next one goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - review-bot depends on tomli there
    import tomli as tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.first_commit import environment, hook_repository

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = Path(__file__).resolve().parent / "corpus_projects.toml"
BASE_TAG = "corpus-base"
CHANGE_NAMES = {
    "a": "new function",
    "b": "new parameter + branch",
    "c": "new module, missing import",
}
MISSING_MODULE = """\
from __future__ import annotations

import some_missing_pkg_xyz


def render_banner(title: str, width: int = 40) -> str:
    if width <= 0:
        msg = "width must be positive"
        raise ValueError(msg)
    if len(title) > width:
        title = title[: width - 1] + "~"
    return some_missing_pkg_xyz.center(title, width)
"""
MISSING_FILE = "corpus_banner.py"
# What a Python project's .gitignore has when its sdist ships none (the upstream repository
# has one); per-project lines (version files written at install time) are added to it.
DEFAULT_GITIGNORE = """\
__pycache__/
*.py[cod]
*.egg-info/
build/
dist/
.eggs/
.venv/
venv/
.tox/
.nox/
.pytest_cache/
.mypy_cache/
.ruff_cache/
.hypothesis/
.benchmarks/
.codspeed/
.coverage
.coverage.*
coverage.xml
htmlcov/
junit*.xml
"""
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TIMEOUTS = {
    "download": 600,
    "install": 1200,
    "suite": 600,
    "lint": 120,
    "suggest": 1800,
    "commit": 1800,
    "pre-commit": 1200,
}


class StepError(Exception):
    """A step that makes the rest of a project pointless (download, install)."""


@dataclass
class Done:
    argv: list[str]
    rc: int | None  # None: timed out
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


@dataclass
class Context:
    out: Path
    env: dict[str, str]
    review_bot: str
    pre_commit: str
    hook_repo: Path
    hook_rev: str
    home: Path
    logs: Path
    front_ends: list[str]
    changes: list[str]
    setup_only: bool
    log_count: dict[str, int] = field(default_factory=dict)


def run(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    log: Path | None = None,
    stdout: Path | None = None,
) -> Done:
    """Run `argv`, stdout and stderr together (or stdout into the file `stdout`); on
    timeout the whole process group dies."""
    start = time.monotonic()
    sink = stdout.open("w", encoding="utf-8") if stdout is not None else None
    try:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdout=sink if sink is not None else subprocess.PIPE,
            stderr=subprocess.PIPE if sink is not None else subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        if sink is not None:
            sink.close()
        return Done(list(argv), 127, f"cannot start: {exc}", 0.0)
    try:
        output, errors = process.communicate(timeout=timeout_s)
        rc: int | None = process.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, errors = process.communicate()
        output = (output or "") + f"\n[corpus] timed out after {timeout_s:.0f} s"
        rc = None
    finally:
        if sink is not None:
            sink.close()
    if sink is not None:
        output = (errors or "") + (output or "")
    done = Done(list(argv), rc, ANSI.sub("", output or ""), time.monotonic() - start)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"$ {' '.join(done.argv)}  (cwd {cwd})\n{done.output}\n")
            handle.write(f"[corpus] rc={done.rc} in {done.seconds:.1f} s\n\n")
    return done


def git(repo: Path, env: Mapping[str, str], *args: str, check: bool = True) -> str:
    done = run(["git", *args], repo, env, 120)
    if check and not done.ok:
        raise StepError(f"git {' '.join(args)}: {done.tail()}")
    return done.output


def tool(name: str) -> str:
    """review-bot and pre-commit from the interpreter's environment (this checkout's .venv)."""
    for folder in (Path(sys.executable).parent, ROOT / ".venv" / "bin"):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        sys.exit(f"bench/corpus.py: {name} not found; run ./dev test once to install it")
    return found


def revision() -> str:
    env = dict(os.environ)
    head = git(ROOT, env, "rev-parse", "--short", "HEAD").strip()
    dirty = git(ROOT, env, "status", "--porcelain").strip()
    return head + ("+dirty" if dirty else "")


def load() -> float:
    return round(os.getloadavg()[0], 2)


# --- the project's own tests and linters ------------------------------------------------


def pytest_summary(output: str) -> dict[str, Any]:
    """Counts from pytest's closing line: {'passed': 12, 'failed': 1, 'seconds': 3.2}."""
    summary: dict[str, Any] = {}
    for line in reversed(output.splitlines()):
        text = line.strip().strip("=").strip()
        found = re.search(r"\bin ([\d.]+)s\b", text)
        if found and re.search(r"\d+ (passed|failed|error|errors|skipped|deselected)", text):
            summary["seconds"] = float(found.group(1))
            for count, what in re.findall(r"(\d+) ([a-z]+)", text):
                key = {"errors": "error", "warnings": "warning"}.get(what, what)
                summary[key] = summary.get(key, 0) + int(count)
            break
        if text.startswith("no tests ran"):
            summary["passed"] = 0
            break
    return summary


def suite(project: Project, repo: Path, ctx: Context, name: str) -> dict[str, Any]:
    """The project's whole test suite, as its contributors run it."""
    python = str(repo / ".venv" / "bin" / "python")
    done = run(
        [python, "-m", "pytest", *project.pytest],
        repo,
        project_env(repo, ctx),
        TIMEOUTS["suite"],
        ctx.logs / project.name / f"{name}.log",
    )
    result: dict[str, Any] = {
        "rc": done.rc,
        "ok": done.ok,
        "wall_s": round(done.seconds, 1),
        **pytest_summary(done.output),
    }
    if not done.ok:
        failed = [
            line.strip()
            for line in done.output.splitlines()
            if line.startswith(("FAILED ", "ERROR "))
        ]
        result["failures"] = failed[:20] or done.tail(15).splitlines()
    return result


def lint(project: Project, repo: Path, ctx: Context, files: Sequence[str], name: str) -> Any:
    """Each configured linter on `files`; None when nothing is configured or to lint."""
    present = [f for f in files if (repo / f).is_file()]
    if not project.lint or not present:
        return None
    results = []
    for argv in project.lint:
        executable = repo / ".venv" / "bin" / argv[0]
        done = run(
            [str(executable), *argv[1:], *present],
            repo,
            project_env(repo, ctx),
            TIMEOUTS["lint"],
            ctx.logs / project.name / f"{name}.log",
        )
        entry: dict[str, Any] = {"tool": " ".join(argv), "ok": done.ok}
        if not done.ok:
            entry["issues"] = issues(done.output)
            entry["output"] = done.tail(40)
        results.append(entry)
    return results


def issues(output: str) -> int:
    """How many findings a linter reported (ruff, black, isort, flake8, pycodestyle)."""
    if found := re.search(r"Found (\d+) errors?", output):
        return int(found.group(1))
    return (
        len(
            re.findall(
                r"^(?:[^:\s]+:\d+:\d+: |ERROR: |would reformat |Would reformat: )",
                output,
                re.MULTILINE,
            )
        )
        or 1
    )


def lint_cell(results: Any) -> str:
    if results is None:
        return "-"
    failed = [f"{r['tool'].split()[0]} {r.get('issues', '?')}" for r in results if not r["ok"]]
    return "ok" if not failed else "FAIL " + ", ".join(failed)


def suite_cell(result: dict[str, Any] | None) -> str:
    if not result:
        return "-"
    parts = [f"{result[k]} {k}" for k in ("passed", "failed", "error") if result.get(k)]
    text = ", ".join(parts) or f"rc {result['rc']}"
    return ("ok " if result["ok"] else "FAIL ") + text


# --- the project ---------------------------------------------------------------------------


@dataclass
class Change:
    kind: str
    file: str
    function: str | None
    append: str | None = None
    create: str | None = None
    edits: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Project:
    name: str
    version: str
    traits: list[str]
    install: list[str]
    groups: list[str]
    requirements: list[str]
    lint: list[list[str]]
    lint_requirements: list[str]
    gitignore: list[str]
    pytest: list[str]
    prepare: list[list[str]]
    changes: dict[str, Change]


def projects_table(path: Path) -> list[Project]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    projects = []
    for raw in data["project"]:
        changes = {}
        for item in raw.get("change", []):
            edits = [(e["old"], e["new"]) for e in item.get("edit", [])]
            changes[item["kind"]] = Change(
                item["kind"], item["file"], item.get("function"), item.get("append"), None, edits
            )
        module = f"{raw['module_dir']}/{MISSING_FILE}"
        changes["c"] = Change("c", module, None, create=MISSING_MODULE)
        projects.append(
            Project(
                name=raw["name"],
                version=raw["version"],
                traits=raw.get("traits", []),
                install=raw.get("install", ["-e", "."]),
                groups=raw.get("groups", []),
                requirements=raw.get("requirements", []),
                lint=raw.get("lint", []),
                lint_requirements=raw.get("lint_requirements", []),
                gitignore=raw.get("gitignore", []),
                pytest=raw.get("pytest", []),
                prepare=raw.get("prepare", []),
                changes=changes,
            )
        )
    return projects


def project_env(repo: Path, ctx: Context) -> dict[str, str]:
    """The project's .venv first on PATH, as an activated environment in a terminal."""
    env = dict(ctx.env)
    env["PATH"] = f"{repo / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def group_requirements(pyproject: Mapping[str, Any], name: str) -> list[str]:
    """A PEP 735 dependency group with its `include-group`s expanded."""
    requirements: list[str] = []
    for item in pyproject.get("dependency-groups", {}).get(name, []):
        if isinstance(item, str):
            requirements.append(item)
        else:
            requirements.extend(group_requirements(pyproject, item["include-group"]))
    return requirements


def sdist(project: Project, ctx: Context) -> Path:
    cache = ctx.out / "sdists"
    cache.mkdir(parents=True, exist_ok=True)
    spec = f"{project.name}=={project.version}"
    stems = {project.name.lower(), project.name.lower().replace("-", "_")}

    def found() -> Path | None:
        for path in cache.glob("*.tar.gz"):
            stem = path.name[: -len(".tar.gz")]
            name, _, version = stem.rpartition("-")
            if name.lower() in stems and version == project.version:
                return path
        return None

    if (path := found()) is not None:
        return path
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    done = run(
        [*download, "--quiet", spec, "-d", str(cache)],
        cache,
        ctx.env,
        TIMEOUTS["download"],
        ctx.logs / project.name / "download.log",
    )
    if (path := found()) is None:
        raise StepError(f"pip download {spec} failed (rc {done.rc}):\n{done.tail()}")
    return path


def unpack(archive: Path, repo: Path) -> None:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        top = members[0].name.split("/")[0]
        scratch = repo.parent / f".unpack-{repo.name}"
        shutil.rmtree(scratch, ignore_errors=True)
        tar.extractall(scratch, filter="data")  # Python >= 3.10.12 / 3.11.4
    (scratch / top).rename(repo)
    scratch.rmdir()


def pre_commit_config(ctx: Context) -> str:
    return (
        "repos:\n"
        f"  - repo: {ctx.hook_repo}\n"
        f"    rev: {ctx.hook_rev}\n"
        "    hooks:\n"
        "      - id: llm-tests\n"
    )


def set_up(project: Project, ctx: Context, record: dict[str, Any]) -> Path:
    """The user's repository at BASE_TAG with the project installed in its .venv."""
    repo = ctx.out / "work" / project.name
    record["work_dir"] = str(repo)
    archive = sdist(project, ctx)
    shutil.rmtree(repo, ignore_errors=True)
    repo.parent.mkdir(parents=True, exist_ok=True)
    unpack(archive, repo)
    ignore = repo / ".gitignore"
    if ignore.exists():
        text = ignore.read_text(encoding="utf-8")
        record["gitignore"] = "from the sdist"
        text = text if text.endswith("\n") else text + "\n"
        text += "".join(f"{line}\n" for line in [".venv/", *project.gitignore])
    else:
        record["gitignore"] = "written (the sdist has none)"
        text = DEFAULT_GITIGNORE + "".join(f"{line}\n" for line in project.gitignore)
    ignore.write_text(text, encoding="utf-8")
    # Only review-bot's entry: the project's own hooks would need the network.
    (repo / ".pre-commit-config.yaml").write_text(pre_commit_config(ctx), encoding="utf-8")
    git(repo, ctx.env, "init", "-q", "-b", "main")
    git(repo, ctx.env, "add", "-A")
    git(repo, ctx.env, "commit", "-q", "-m", f"{project.name} {project.version} (sdist)")
    # Tagged as upstream is, so that setuptools-scm, hatch-vcs, pdm's scm find the version.
    git(repo, ctx.env, "tag", project.version)
    git(repo, ctx.env, "tag", BASE_TAG)

    log = ctx.logs / project.name / "install.log"
    env = project_env(repo, ctx)
    done = run([sys.executable, "-m", "venv", ".venv"], repo, env, 300, log)
    if not done.ok:
        raise StepError(f"python -m venv: {done.tail()}")
    pyproject: dict[str, Any] = {}
    if (repo / "pyproject.toml").exists():
        pyproject = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [*project.install, *project.requirements, *project.lint_requirements]
    for group in project.groups:
        wanted.extend(group_requirements(pyproject, group))
    python = str(repo / ".venv" / "bin" / "python")
    done = run([python, "-m", "pip", "install", "--quiet", *wanted], repo, env, 1200, log)
    record["install"] = {"wall_s": round(done.seconds, 1), "requirements": wanted}
    if not done.ok:
        raise StepError(f"pip install {' '.join(wanted)} failed (rc {done.rc}):\n{done.tail()}")
    for argv in project.prepare:
        done = run(argv, repo, env, TIMEOUTS["install"], log)
        if not done.ok:
            raise StepError(f"{' '.join(argv)} failed (rc {done.rc}):\n{done.tail()}")
    status = git(repo, ctx.env, "status", "--porcelain")
    if status.strip():
        # The install wrote files that are neither tracked nor ignored: say so.
        record["untracked_after_install"] = status.splitlines()
    return repo


def reset(repo: Path, ctx: Context) -> None:
    git(repo, ctx.env, "reset", "-q", "--hard", BASE_TAG)
    git(repo, ctx.env, "clean", "-fdq")  # ignored files stay: .venv, version files


def apply(change: Change, repo: Path) -> None:
    path = repo / change.file
    if change.create is not None:
        if path.exists():
            raise StepError(f"{change.file} exists already")
        path.write_text(change.create, encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    if change.append is not None:
        text = text.rstrip("\n") + "\n" + change.append
    for old, new in change.edits:
        if text.count(old) != 1:
            raise StepError(f"{change.file}: the edit's text occurs {text.count(old)} times")
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


# --- the two front ends --------------------------------------------------------------------


def clear_cache(ctx: Context) -> None:
    """Every run starts without cached results or plans; the model files stay."""
    for path in (ctx.home / "review-bot").glob("cache.sqlite3*"):
        path.unlink()


def generated_tests(paths: Sequence[str]) -> list[str]:
    return sorted({p for p in paths if re.search(r"(^|/)test_[^/]*_generated\.py$", p)})


def suggest(project: Project, change: Change, repo: Path, ctx: Context, tag: str) -> dict[str, Any]:
    argv = [ctx.review_bot, "suggest", change.file, "--write", "--json"]
    if change.function:
        argv += ["--function", change.function]
    clear_cache(ctx)
    before = load()
    log = ctx.logs / project.name / f"{tag}.log"
    json_file = ctx.logs / project.name / f"{tag}.json"
    done = run(argv, repo, ctx.env, TIMEOUTS["suggest"], log, stdout=json_file)
    result: dict[str, Any] = {"rc": done.rc, "wall_s": round(done.seconds, 1)}
    result["load"] = [before, load()]
    try:
        report = json.loads(json_file.read_text(encoding="utf-8"))
    except ValueError:
        report = None
    result["messages"] = [
        line for line in done.output.splitlines() if line.startswith(("review-bot:", "Error"))
    ]
    if report is None:
        result["error"] = done.tail(20)
        return result
    result["targets"] = [
        {
            "name": t["name"],
            "test": t["test"]["status"],
            "test_reason": t["test"].get("reason"),
            "test_attempts": t["test"].get("attempts", []),
            "mutation": t["test"].get("mutation"),
            "disagreements": t["test"].get("disagreements", []),
            "docstring": t["docstring"]["status"],
            "docstring_reason": t["docstring"].get("reason"),
            "docstring_attempts": t["docstring"].get("attempts", []),
            "test_code": t["test"].get("code"),
            "docstring_text": t["docstring"].get("text"),
        }
        for t in report.get("targets", [])
    ]
    result["model_calls"] = report.get("model_calls")
    result["timings"] = report.get("timings")
    result["jail"] = report.get("jail")
    result["written"] = report.get("written", [])
    status = git(repo, ctx.env, "status", "--porcelain", "-uall")
    changed = [line[3:] for line in status.splitlines()]
    result["generated"] = generated_tests(changed)
    return result


TARGET_LINE = re.compile(r"^\s+(?P<name>\S+) \(line (?P<line>\d+)\): (?P<rest>.*)$")
VERDICT = re.compile(r"(?P<what>test|docstring) (?P<status>[\w-]+)(?: \((?P<reason>[^)]*)\))?")


def parse_hook(output: str) -> dict[str, Any]:
    """What review-bot printed under pre-commit: targets, verdicts, counts, cost."""
    targets: list[dict[str, Any]] = []
    parsed: dict[str, Any] = {"targets": targets, "messages": []}
    for line in output.splitlines():
        if match := TARGET_LINE.match(line):
            target: dict[str, Any] = {"name": match["name"], "attempts": []}
            for verdict in VERDICT.finditer(match["rest"]):
                target[verdict["what"]] = verdict["status"]
                target[f"{verdict['what']}_reason"] = verdict["reason"]
            targets.append(target)
        elif (attempt := re.match(r"^\s+- (.*)$", line)) and targets:
            targets[-1]["attempts"].append(attempt.group(1))
        elif line.startswith(("review-bot:", "Error", "Traceback")) or "Error:" in line:
            parsed["messages"].append(line)
        if cost := re.search(r"model ([\d.]+) s in (\d+) calls", line):
            parsed["model_s"], parsed["model_calls"] = float(cost[1]), int(cost[2])
        if "plan reused, no model call" in line:
            parsed["model_calls"] = 0
        if counts := re.search(r"(\d+) tests kept, (\d+) rejected", line):
            parsed["kept"], parsed["rejected"] = int(counts[1]), int(counts[2])
        if docs := re.search(r"(\d+) docstrings kept", line):
            parsed["docstrings_kept"] = int(docs[1])
        if hook := re.match(r"^review-bot \(verified tests and docstrings\)\.+(\w+)", line):
            parsed["pre_commit_status"] = hook.group(1)
        if code := re.match(r"^- exit code: (\d+)", line):
            parsed["exit_code"] = int(code.group(1))
        if "files were modified by this hook" in line:
            parsed["modified_files"] = True
    return parsed


def hook(project: Project, change: Change, repo: Path, ctx: Context, tag: str) -> dict[str, Any]:
    log = ctx.logs / project.name / f"{tag}.log"
    clear_cache(ctx)
    before = load()
    git(repo, ctx.env, "add", "-A")
    message = f"corpus: {CHANGE_NAMES[change.kind]}"
    attempts = []
    for _ in range(2):
        done = run(["git", "commit", "-m", message], repo, ctx.env, TIMEOUTS["commit"], log)
        attempts.append(
            {"rc": done.rc, "wall_s": round(done.seconds, 1), **parse_hook(done.output)}
        )
        if done.ok:
            break
        # pre-commit stopped the commit: take what the hook changed, as a user would.
        if not git(repo, ctx.env, "status", "--porcelain").strip():
            break
        git(repo, ctx.env, "add", "-A")
    base = git(repo, ctx.env, "rev-parse", BASE_TAG).strip()
    head = git(repo, ctx.env, "rev-parse", "HEAD").strip()
    committed = head != base
    files = git(repo, ctx.env, "diff", "--name-only", base, "HEAD").split() if committed else []
    staged = git(repo, ctx.env, "diff", "--cached", "--name-only").split()
    result: dict[str, Any] = {
        "committed": committed,
        "attempts": attempts,
        "wall_s": round(sum(a["wall_s"] for a in attempts), 1),
        "load": [before, load()],
        "commit_files": files,
        "left_staged": staged,
        "generated": generated_tests([*files, *staged]),
    }
    # The first run has the model's verdicts; a second one usually reuses its plan.
    result["targets"] = attempts[0]["targets"]
    result["model_calls"] = sum(a.get("model_calls", 0) for a in attempts)
    if committed:
        result["generated_code"] = {
            path: git(repo, ctx.env, "show", f"HEAD:{path}") for path in result["generated"]
        }
        result["docstring_diff"] = git(
            repo, ctx.env, "diff", base, "HEAD", "--", change.file, check=False
        )[-4000:]
    return result


# --- one project ---------------------------------------------------------------------------


def run_project(project: Project, ctx: Context) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": project.name,
        "version": project.version,
        "traits": project.traits,
        "changes": {},
    }
    started = time.monotonic()
    try:
        repo = set_up(project, ctx, record)
        record["own_tests"] = suite(project, repo, ctx, "own-tests")
        if ctx.setup_only:
            return record
        log = ctx.logs / project.name / "pre-commit.log"
        for argv in ([ctx.pre_commit, "install"], [ctx.pre_commit, "install-hooks"]):
            done = run(argv, repo, ctx.env, TIMEOUTS["pre-commit"], log)
            if not done.ok:
                raise StepError(f"{' '.join(argv[1:])} failed:\n{done.tail()}")
        record["pre_commit_install_hooks_s"] = round(done.seconds, 1)
        for kind in ctx.changes:
            change = project.changes[kind]
            entry: dict[str, Any] = {"file": change.file, "function": change.function}
            record["changes"][kind] = entry
            try:
                reset(repo, ctx)
                apply(change, repo)
                entry["lint_change"] = lint(project, repo, ctx, [change.file], f"{kind}-change")
                entry["suite_change"] = suite(project, repo, ctx, f"{kind}-change-suite")
                for front in ctx.front_ends:
                    tag = f"{kind}-{front}"
                    reset(repo, ctx)
                    apply(change, repo)
                    try:
                        if front == "suggest":
                            result = suggest(project, change, repo, ctx, tag)
                        else:
                            result = hook(project, change, repo, ctx, tag)
                        result["suite_after"] = suite(project, repo, ctx, f"{tag}-suite")
                        result["lint_changed"] = lint(
                            project, repo, ctx, [change.file], f"{tag}-lint"
                        )
                        result["lint_generated"] = lint(
                            project, repo, ctx, result["generated"], f"{tag}-lint"
                        )
                    except (StepError, OSError) as exc:
                        result = {"error": str(exc)}
                    entry[front] = result
            except (StepError, OSError) as exc:
                entry["error"] = str(exc)
        reset(repo, ctx)
    except (StepError, OSError, tarfile.TarError, ValueError) as exc:
        record["error"] = str(exc)
    finally:
        record["wall_s"] = round(time.monotonic() - started, 1)
    return record


# --- the report ----------------------------------------------------------------------------


def verdicts(result: dict[str, Any]) -> tuple[str, str]:
    """(tests, docstrings) cells: kept / rejected with reasons, per target."""
    tests, docs = [], []
    for target in result.get("targets", []):
        name = target["name"].rsplit(".", 1)[-1]
        test = target.get("test", "?")
        if target.get("test_reason"):
            test += f" ({target['test_reason']})"
        tests.append(f"{name}: {test}")
        doc = target.get("docstring", "?")
        if target.get("docstring_reason"):
            doc += f" ({target['docstring_reason']})"
        docs.append(f"{name}: {doc}")
    if "error" in result:
        tests.append("ERROR: " + result["error"].strip().splitlines()[-1][:120])
    return "; ".join(tests) or "-", "; ".join(docs) or "-"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# review-bot on a corpus of real projects ({report['review_bot']})",
        "",
        f"machine: {report['machine']}; model: {report['model']}; started {report['started']}",
        f"work: {report['out']}",
        "",
        "| project | version | install (s) | own tests | traits |",
        "|---|---|---|---|---|",
    ]
    for record in report["projects"]:
        own = record.get("own_tests")
        own_cell = suite_cell(own) + (f" in {own['wall_s']} s" if own else "")
        if "error" in record and not own:
            own_cell = "SETUP FAILED"
        install = record.get("install", {}).get("wall_s", "-")
        traits = "; ".join(record["traits"])
        lines.append(
            f"| {record['name']} | {record['version']} | {install} | {own_cell} | {traits} |"
        )
    for record in report["projects"]:
        lines += ["", f"## {record['name']} {record['version']}", ""]
        lines.append(f"work dir: `{record.get('work_dir', '-')}`")
        if "error" in record:
            lines += ["", "ERROR:", "```", record["error"].strip()[-3000:], "```"]
        if not record["changes"]:
            continue
        lines += [
            "",
            "| change | front end | tests | docstrings | model calls | wall s (load 1-min) "
            "| suite after | lint changed | lint generated | generated |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for kind, entry in record["changes"].items():
            label = f"{kind}: {CHANGE_NAMES[kind]}"
            if "error" in entry:
                lines.append(f"| {label} | - | ERROR {entry['error'][:200]} |||||||")
                continue
            lines.append(
                f"| {label} | (change alone) | | | | | {suite_cell(entry.get('suite_change'))}"
                f" | {lint_cell(entry.get('lint_change'))} | | |"
            )
            for front in ("suggest", "hook"):
                if front not in entry:
                    continue
                result = entry[front]
                tests, docs = verdicts(result)
                wall = result.get("wall_s", "-")
                if front == "hook" and result.get("attempts"):
                    walls = "+".join(str(a["wall_s"]) for a in result["attempts"])
                    state = "committed" if result.get("committed") else "NOT committed"
                    wall = f"{walls} ({state})"
                loads = result.get("load")
                if loads:
                    wall = f"{wall} ({loads[0]}->{loads[1]})"
                generated = ", ".join(result.get("generated", [])) or "-"
                lines.append(
                    f"| {label} | {front} | {tests} | {docs} | {result.get('model_calls', '-')}"
                    f" | {wall} | {suite_cell(result.get('suite_after'))}"
                    f" | {lint_cell(result.get('lint_changed'))}"
                    f" | {lint_cell(result.get('lint_generated'))} | {generated} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", help="comma-separated names (default: all)")
    parser.add_argument("--out", type=Path, help="output and work directory (default: new temp)")
    parser.add_argument("--model", help="GGUF file or packaged name (default: review-bot's)")
    parser.add_argument("--changes", default="a,b,c", help="which changes (default: a,b,c)")
    parser.add_argument(
        "--front-ends", default="suggest,hook", help="suggest, hook or both (default: both)"
    )
    parser.add_argument(
        "--home", type=Path, help="pre-commit's and review-bot's homes (default: OUT/home)"
    )
    parser.add_argument(
        "--setup-only", action="store_true", help="install and run their own tests only"
    )
    args = parser.parse_args(argv)

    projects = projects_table(PROJECTS)
    if args.projects:
        wanted = [name.strip() for name in args.projects.split(",") if name.strip()]
        unknown = sorted(set(wanted) - {p.name for p in projects})
        if unknown:
            parser.error(f"unknown projects: {', '.join(unknown)}")
        projects = [p for p in projects if p.name in wanted]
    changes = [c.strip() for c in args.changes.split(",") if c.strip()]
    front_ends = [f.strip() for f in args.front_ends.split(",") if f.strip()]
    if set(changes) - set(CHANGE_NAMES) or set(front_ends) - {"suggest", "hook"}:
        parser.error("--changes takes a, b, c; --front-ends takes suggest, hook")

    out = (args.out or Path(tempfile.mkdtemp(prefix="review-bot-corpus-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    home = (args.home or out / "home").resolve()
    env = environment(os.environ, home)
    env.pop("SKIP", None)
    review_bot, pre_commit = tool("review-bot"), tool("pre-commit")
    model = "default"
    if args.model:
        model = args.model
        resolved = args.model
        if not Path(args.model).exists():
            # A packaged name resolves to its file: pre-commit's environment of review-bot
            # does not have the smoke-test model's package installed.
            done = run([review_bot, "models", "path", args.model], out, env, 120)
            if not done.ok:
                sys.exit(f"bench/corpus.py: --model {args.model}: {done.tail(3)}")
            resolved = done.output.strip().splitlines()[-1]
        env["REVIEW_BOT_MODEL"] = str(Path(resolved).resolve())

    snapshot = out / "review-bot-snapshot"
    shutil.rmtree(snapshot, ignore_errors=True)
    rev = hook_repository(snapshot, env)
    # A tag per snapshot, as docs/hook.md's `rev: <a tag>`; pre-commit installs each once.
    # (A dotted name: pre-commit warns about a rev that looks like a branch.)
    tag = f"v0.0.0-corpus.{rev[:12]}"
    git(snapshot, env, "tag", tag)
    ctx = Context(
        out=out,
        env=env,
        review_bot=review_bot,
        pre_commit=pre_commit,
        hook_repo=snapshot,
        hook_rev=tag,
        home=home,
        logs=out / "logs",
        front_ends=front_ends,
        changes=changes,
        setup_only=args.setup_only,
    )
    report: dict[str, Any] = {
        "review_bot": revision(),
        "snapshot": rev,
        "model": model,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "out": str(out),
        "projects": [],
    }
    print(f"bench/corpus.py: review-bot {report['review_bot']}, output in {out}", flush=True)
    for project in projects:
        print(f"[{time.strftime('%H:%M:%S')}] {project.name} {project.version} ...", flush=True)
        record = run_project(project, ctx)
        report["projects"].append(record)
        state = "ERROR: " + record["error"].splitlines()[0] if "error" in record else "done"
        print(f"[{time.strftime('%H:%M:%S')}] {project.name}: {state} in {record['wall_s']} s")
        # Written after every project: a long run that is stopped keeps what finished.
        (out / "corpus.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (out / "corpus.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
