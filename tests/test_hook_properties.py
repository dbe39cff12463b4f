"""Never lose a byte: the hook's invariants over random repository states, and under kill -9.

For any repository state (partial staging, renames, deletions, binary and non-UTF-8 files,
syntax errors, earlier generated files, untracked files, no HEAD yet):

1. every working-tree file the hook has no business writing is byte-identical afterwards;
   a file that received docstrings differs from before by inserted lines only;
2. the index changes in generated test files only, and only in those whose working-tree
   copy matched the index (no unstaged change of the user's is ever overwritten);
3. a generated file in the index is complete: it equals the file written, carries the
   review-bot header and parses (no half-written file is ever staged);
4. no lock file, and no temporary file beyond what an interrupted atomic write leaves.

The property test runs the hook in this process with a stand-in core (the invariants are
about git state; the core is tested elsewhere). The kill test runs the real `review-bot hook`
process with the real core on a warmed cache and SIGKILLs it at random moments.
"""

from __future__ import annotations

import ast
import difflib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from review_bot.hook.run import HookOptions, run_hook
from review_bot.write.tests import GENERATED_HEADER
from tests.helpers.hook import fake_core, fence, scripted
from tests.helpers.processes import default_sigint, processes_in, wait_until_none_in
from tests.helpers.repos import GitRepo, scrub_git_env

ROOT = Path(__file__).resolve().parent.parent
PROPERTY_EXAMPLES = 300
KILL_TRIALS = 50
CTRL_C_TRIALS = 10
TEMPORARY = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")


@pytest.fixture(autouse=True)
def _git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    scrub_git_env(monkeypatch)


# -- snapshots and invariants ------------------------------------------------------------------


@dataclass
class Snapshot:
    files: dict[str, bytes]  # working tree, .git excluded
    index: dict[str, tuple[str, str]]  # path -> (mode, blob id)


def snapshot(repo: GitRepo) -> Snapshot:
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(repo.root):
        dirnames[:] = [d for d in dirnames if not (dirpath == str(repo.root) and d == ".git")]
        for name in filenames:
            path = Path(dirpath) / name
            files[path.relative_to(repo.root).as_posix()] = path.read_bytes()
    return Snapshot(files, repo.index())


def generated_paths(*snaps: Snapshot) -> set[str]:
    paths = {p for snap in snaps for p in (*snap.files, *snap.index)}
    return {p for p in paths if re.fullmatch(r"tests/test_.+_generated\.py", p)}


def only_insertions(old: bytes, new: bytes) -> bool:
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    opcodes = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    return all(tag in ("equal", "insert") for tag, *_ in opcodes)


def check_invariants(repo: GitRepo, before: Snapshot, after: Snapshot) -> None:
    # Generated files the hook may write: clean (working tree == index) or absent in both.
    writable = set()
    for path in generated_paths(before, after):
        staged = before.index.get(path)
        blob = repo.git("cat-file", "blob", staged[1]).stdout if staged else None
        if before.files.get(path) == blob:
            writable.add(path)
    for path in sorted(set(before.files) | set(after.files)):
        old, new = before.files.get(path), after.files.get(path)
        if old == new or path in writable:
            continue
        if TEMPORARY.fullmatch(path.rsplit("/", 1)[-1]) and old is None:
            continue  # what an interrupted atomic write leaves: untracked, never staged
        assert old is not None and new is not None, f"{path}: created or deleted"
        assert path.endswith(".py") and only_insertions(old, new), f"{path}: rewritten"
        inserted = new.decode().count('"""') - old.decode().count('"""')
        assert inserted > 0, f"{path}: changed without a docstring"
    for path in sorted(set(before.index) | set(after.index)):
        if before.index.get(path) == after.index.get(path):
            continue
        assert path in writable, f"{path}: index entry changed"
        assert path in after.index, f"{path}: removed from the index"
        blob = repo.git("cat-file", "blob", after.index[path][1]).stdout
        assert blob == after.files.get(path), f"{path}: staged content is not the file"
        text = blob.decode()
        assert text.startswith(GENERATED_HEADER + "\n") and ast.parse(text)
    assert not (repo.root / ".git" / "index.lock").exists()


# -- random repository states -------------------------------------------------------------------

DIRS = ["", "src/", "dir with space/", "ünï/"]
NAMES = ["calc", "util", "äbc", "text"]


def module_source(functions: dict[str, int]) -> str:
    return "\n\n".join(
        f"def {name}(x: int) -> int:\n    y = x + {value}\n    return y\n"
        for name, value in functions.items()
    )


def generated_file(module: str, names: list[str], variant: int) -> str:
    tests = "\n\n\n".join(
        f"def test_{name}():\n    assert {name} is not None{' and True' * variant}"
        for name in names
    )
    return f"{GENERATED_HEADER}\nfrom {module} import {', '.join(names)}\n\n\n{tests}\n"


@dataclass
class Scenario:
    head: dict[str, bytes] | None  # None: no commit yet
    index: dict[str, bytes]
    worktree: dict[str, bytes]
    mode: str
    docstrings: bool
    notes: list[str] = field(default_factory=list)


@st.composite
def scenarios(draw: Any) -> Scenario:
    notes: list[str] = []
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    modules = {name: draw(st.sampled_from(DIRS)) + name + ".py" for name in names}
    functions = {
        name: {f"f{i}": draw(st.integers(0, 3)) for i in range(draw(st.integers(1, 3)))}
        for name in names
    }
    head: dict[str, bytes] | None = None
    if draw(st.booleans()) or draw(st.booleans()):
        head = {}
        for name, path in modules.items():
            if draw(st.booleans()):
                head[path] = module_source(functions[name]).encode()
                if path.count("/") == 0 and draw(st.booleans()):
                    gen = generated_file(name, list(functions[name])[:1], draw(st.integers(0, 1)))
                    head[f"tests/test_{name}_generated.py"] = gen.encode()
                    notes.append("generated in HEAD")
        if draw(st.booleans()):
            head["tests/test_hand.py"] = b"def test_hand():\n    assert True\n"
        if draw(st.booleans()):
            head["data.bin"] = bytes(range(256))
        if not head:
            head = None
    index: dict[str, bytes] = dict(head or {})
    for name, path in modules.items():
        op = draw(st.sampled_from(["keep", "modify", "add-function", "delete", "rename", "syntax"]))
        current = dict(functions[name])
        if op == "delete":
            index.pop(path, None)
            continue
        if op == "modify":
            first = next(iter(current))
            current[first] += 10
        elif op == "add-function":
            current[f"g{len(current)}"] = 7
        text = module_source(current)
        if op == "syntax":
            text += "\ndef broken(:\n"
        if op == "rename" and path in index:
            index.pop(path)
            path = draw(st.sampled_from(DIRS)) + "renamed_" + name + ".py"
        index[path] = text.encode()
        notes.append(op)
    extra = draw(st.sets(st.sampled_from(["binary-py", "latin1-py", "staged-generated"])))
    if "binary-py" in extra:
        index["blob.py"] = b"\x00\x01\x02 binary"
    if "latin1-py" in extra:
        index["latin.py"] = "def f(x: int) -> int:\n    return x  # café\n".encode("latin-1")
    if "staged-generated" in extra:
        name = names[0]
        index[f"tests/test_{name}_generated.py"] = generated_file(name, ["f0"], 2).encode()
    worktree = dict(index)
    for path in sorted(index):
        op = draw(st.sampled_from(["same", "same", "append", "edit", "delete"]))
        if op == "append":
            worktree[path] = index[path] + b"\n# unstaged line\n"
        elif op == "edit" and path.endswith(".py"):
            worktree[path] = index[path].replace(b"return y", b"return y * 2", 1)
        elif op == "delete":
            worktree.pop(path)
        notes.append(f"wt-{op}")
    untracked = draw(st.sets(st.sampled_from(["new.py", "generated", "junk"])))
    if "new.py" in untracked:
        worktree["scratch/new.py"] = b"def new(x):\n    return x\n"
    if "generated" in untracked:
        name = names[-1]
        worktree.setdefault(
            f"tests/test_{name}_generated.py", generated_file(name, ["f0"], 1).encode()
        )
    if "junk" in untracked:
        worktree["notes.txt"] = b"\xff\xfe not text"
    mode = draw(st.sampled_from(["stage", "stage", "stage", "write"]))
    return Scenario(head, index, worktree, mode, draw(st.booleans()), notes)


def materialise(repo: GitRepo, layer: dict[str, bytes]) -> None:
    for entry in repo.root.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for path, data in layer.items():
        repo.write(path, data)


def build(root: Path, scenario: Scenario) -> GitRepo:
    repo = GitRepo.create(root)
    if scenario.head is not None:
        materialise(repo, scenario.head)
        repo.commit_all("head")
    materialise(repo, scenario.index)
    repo.git("add", "-A")
    materialise(repo, scenario.worktree)
    return repo


@settings(
    max_examples=PROPERTY_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_invariants_hold_for_random_repository_states(
    scenario: Scenario, tmp_path: Path, smollm: Path
) -> None:
    root = Path(tempfile.mkdtemp(dir=tmp_path)) / "repo"
    repo = build(root, scenario)
    before = snapshot(repo)
    flags = {"model": smollm, "mode": scenario.mode, "docstrings": scenario.docstrings}
    result = run_hook(repo.root, flags, HookOptions(), run_core=fake_core)
    after = snapshot(repo)
    check_invariants(repo, before, after)
    assert result.exit_code in (0, 1)
    # What the examples exercised (shown by --hypothesis-show-statistics).
    event(f"initial commit: {scenario.head is None}")
    event(f"tests staged: {bool(result.staged)}")
    event(f"tests written, not staged: {bool(result.written)}")
    event(f"docstrings inserted: {bool(result.docstrings)}")
    event(f"blocked by unstaged changes: {any('not touched' in x for x in result.lines)}")
    event(f"files skipped: {any('skipped (' in x for x in result.lines)}")
    if scenario.mode == "write":
        assert after.index == before.index
    for rel in result.staged:
        assert after.index[rel] != before.index.get(rel)
    # Running again changes nothing more in the index (idempotence).
    again = run_hook(repo.root, flags, HookOptions(memo=False), run_core=fake_core)
    assert again.staged == () or repo.index() == after.index
    shutil.rmtree(root.parent)


# -- kill -9 -------------------------------------------------------------------------------------

CALC_HEAD = "def add(a: int, b: int) -> int:\n    return a + b\n"
CALC_STAGED = CALC_HEAD + "\n\ndef sub(a: int, b: int) -> int:\n    return a - b\n"
UTIL = "def twice(s: str) -> str:\n    return s + s\n"
SETTINGS = (
    '[tool.review-bot]\nmodel = "smollm2"\nruns = 1\nstrategy = "chat"\nrepair_attempts = 0\n'
    "timeout_s = 20\n"
)


def doc_reply(summary: str, params: dict[str, str]) -> str:
    import json

    return json.dumps(
        {
            "summary": summary,
            "description": "",
            "params": params,
            "returns": "The answer.",
            "raises": [],
        }
    )


def kill_template(base: Path) -> GitRepo:
    repo = GitRepo.create(base / "template")
    repo.write("pyproject.toml", SETTINGS)
    repo.write("calc.py", CALC_HEAD)
    old_test = "from calc import add\n\n\ndef test_add():\n    assert add(0, 0) == 0\n"
    repo.write("tests/test_calc_generated.py", f"{GENERATED_HEADER}\n{old_test}")
    repo.commit_all("head")
    repo.write("calc.py", CALC_STAGED)
    repo.write("util.py", UTIL)
    repo.git("add", "-A")
    # Unstaged work the hook must never lose: an edit in a partially staged file, and an
    # untracked file.
    repo.write("calc.py", CALC_STAGED + "\n\n# unstaged work in progress\n")
    repo.write("scratch.txt", "untracked\n")
    return repo


def spawn_hook(repo: GitRepo, home: Path) -> subprocess.Popen[bytes]:
    # A session of its own, as a terminal's foreground job is a group of its own: Ctrl-C
    # reaches the hook and its worker, and nothing else. Its temp directory is the test's:
    # a hook killed with SIGKILL cannot remove its own, and they piled up in the system's.
    tmp = home.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "review_bot", "hook"],
        cwd=repo.root,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REVIEW_BOT_HOME": str(home),
            "TMPDIR": str(tmp),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=default_sigint,
    )


def test_kill_9_and_ctrl_c_at_random_moments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = kill_template(tmp_path)
    # Warm the core's cache from a copy (the scripted model cannot reach the hook's
    # worker), without the memoised plan, so the killed runs go through the worker.
    cold = tmp_path / "home-cold"
    monkeypatch.setenv("REVIEW_BOT_HOME", str(cold))
    copy = tmp_path / "warm"
    shutil.copytree(template.root, copy, symlinks=True)
    _, factory = scripted(
        fence("from calc import sub\n\n\ndef test_sub():\n    assert sub(3, 1) == 2\n"),
        doc_reply("Subtract b from a.", {"a": "What to subtract from.", "b": "What to take away."}),
        fence("from util import twice\n\n\ndef test_twice():\n    assert twice('a') == 'aa'\n"),
        doc_reply("Repeat s twice.", {"s": "The text to repeat."}),
    )
    warmed = run_hook(copy, {}, HookOptions(memo=False), run_core=factory)
    assert warmed.staged and warmed.docstrings == ("calc.py", "util.py"), warmed.lines
    # How long whole runs take: through the worker (cold), and with the memoised plan
    # (the first run leaves it in its cache).
    memo_home = tmp_path / "home-memo"
    shutil.copytree(cold, memo_home)
    durations = []
    for name in ("measure-cold", "measure-memo"):
        shutil.copytree(template.root, tmp_path / name, symlinks=True)
        start = time.perf_counter()
        assert spawn_hook(GitRepo(tmp_path / name), memo_home).wait() == 1  # docstrings
        durations.append(time.perf_counter() - start)
    cold_s, memo_s = durations

    rng = random.Random(1234)
    outcomes: dict[str, int] = {"untouched": 0, "written": 0, "staged": 0}
    for trial in range(KILL_TRIALS):
        root = tmp_path / f"trial-{trial}"
        shutil.copytree(template.root, root, symlinks=True)
        repo = GitRepo(root)
        home = tmp_path / f"home-{trial}"
        shutil.copytree(memo_home if trial % 3 == 1 else cold, home)
        # Anywhere in a cold run, anywhere in a memoised run, or late in a cold run, where
        # the writing and staging happen.
        window = [(0, 1.1 * cold_s), (0, 1.1 * memo_s), (0.7 * cold_s, 1.1 * cold_s)]
        before = snapshot(repo)
        proc = spawn_hook(repo, home)
        time.sleep(rng.uniform(*window[trial % 3]))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # A git child of the killed hook finishes its own update (git is never killed, so
        # its lock goes away with it), and the worker stops once its lifeline closes.
        assert wait_until_none_in(repo.root) == []
        after = snapshot(repo)
        check_invariants(repo, before, after)
        generated = "tests/test_calc_generated.py"
        if after.index.get(generated) != before.index.get(generated):
            outcomes["staged"] += 1
        elif after.files.get(generated) != before.files.get(generated):
            outcomes["written"] += 1
        else:
            outcomes["untouched"] += 1
        if trial % 5 == 0:
            # The next run completes what the killed one started.
            finish = run_hook(root, {}, HookOptions(memo=False), run_core=scripted()[1])
            final = snapshot(repo)
            check_invariants(repo, before, final)
            assert final.index[generated] != before.index[generated], finish.lines
            assert final.files["scratch.txt"] == b"untracked\n"
            assert final.files["calc.py"].endswith(b"# unstaged work in progress\n")
            assert not any(TEMPORARY.fullmatch(Path(p).name) for p in final.files)
        shutil.rmtree(root)
        shutil.rmtree(home)
    # Kills landed before, during and after the writes.
    print(
        f"kill -9: {KILL_TRIALS} trials; whole run {cold_s:.2f} s cold, {memo_s:.2f} s "
        f"memoised; state after the kill: {outcomes}"
    )
    assert sum(outcomes.values()) == KILL_TRIALS
    assert outcomes["untouched"] > 0 and outcomes["staged"] > 0

    # Ctrl-C: SIGINT to the hook's process group, as a terminal sends it.
    codes: dict[int, int] = {}
    for trial in range(CTRL_C_TRIALS):
        root = tmp_path / f"interrupt-{trial}"
        shutil.copytree(template.root, root, symlinks=True)
        repo = GitRepo(root)
        home = tmp_path / f"interrupt-home-{trial}"
        shutil.copytree(cold, home)
        before = snapshot(repo)
        proc = spawn_hook(repo, home)
        time.sleep(rng.uniform(0, cold_s))
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=60)
        codes[code] = codes.get(code, 0) + 1
        # The hook returns only after its worker and its git children: none outlives it.
        assert processes_in(repo.root) == []
        check_invariants(repo, before, snapshot(repo))
        shutil.rmtree(root)
        shutil.rmtree(home)
    print(f"Ctrl-C: {CTRL_C_TRIALS} trials; exit codes {codes}")
    # 130: interrupted; 1: it had finished (docstrings inserted); -SIGINT: the signal came
    # before Python had set up its handler, so the default action ended the process.
    assert set(codes) <= {1, 130, -signal.SIGINT} and codes.get(130, 0) > 0
