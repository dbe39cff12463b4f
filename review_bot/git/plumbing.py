"""git's plumbing: one subprocess helper and the cheap calls the hook makes at every commit.

Small single-purpose functions over one subprocess helper, `run()`, whose errors show the
command, its return code, stdout and stderr. GitPython opens repositories where review-bot
needs more than one plumbing call (installing the plain hook); the commit-time path uses
plumbing commands only, because importing GitPython costs more than a commit without a
Python change may take.

Every call runs at the top of the working tree with the index git gave the hook: git sets
GIT_INDEX_FILE for `git commit -a` (the locked index) and `git commit PATH` (a temporary
index), sometimes as a relative path, so it is made absolute once and passed on explicitly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from review_bot.errors import FatalError
from review_bot.interrupts import deferred_interrupts

if TYPE_CHECKING:  # pragma: no cover
    import git as gitpython

# Options that keep a user's configuration from changing what plumbing output looks like:
# raw UTF-8 paths instead of octal escapes, no pager, no colours.
_BASE = ("git", "-c", "core.quotepath=false", "-c", "color.ui=false")
OUTPUT_LIMIT = 4000  # characters of stdout/stderr quoted in an error
EMPTY_BLOB_MODE = "100644"


class GitError(FatalError):
    """A git command failed: the message carries command, return code, stdout, stderr."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: bytes, stderr: bytes):
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"command failed: {' '.join(argv)} (return code {returncode}); "
            f"stdout: {_show(stdout)}; stderr: {_show(stderr)}"
        )


def _show(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    if len(text) > OUTPUT_LIMIT:
        text = "..." + text[-OUTPUT_LIMIT:]
    return repr(text) if text else "(empty)"


class Result(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes


def run(
    *args: str,
    cwd: Path,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    ok: Iterable[int] = (0,),
) -> Result:
    """Run `git ARGS` in `cwd`; a return code outside `ok` raises GitError.

    git is always waited for, never killed: a git that holds `index.lock` and dies by a
    signal at the wrong moment leaves the lock behind, and every later `git add` fails
    until the user deletes it by hand (issue 14). So git runs in a session of its own,
    where a terminal's Ctrl-C does not reach it, and a Ctrl-C that reaches this process
    meanwhile is raised once git is done.
    """
    argv = [*_BASE, *args]
    full_env = dict(os.environ)
    # Translated messages would defeat the few places that read git's stderr.
    full_env["LC_ALL"] = "C"
    full_env.pop("GIT_LITERAL_PATHSPECS", None)
    if env:
        full_env.update(env)
    with deferred_interrupts() as deferred:
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=full_env,
                # A session of its own: a terminal's Ctrl-C reaches the hook, not git.
                # git registers its lock cleanup only after creating the lock, and a
                # SIGINT in between leaves the lock behind; this process waits instead.
                start_new_session=True,
            )
        except FileNotFoundError:
            raise FatalError("git: command not found; install git") from None
        # A second Ctrl-C (git hangs, say on a filter) reaches git, which cleans up.
        deferred.forward = lambda: _interrupt(proc)
        try:
            stdout, stderr = proc.communicate(input)
        except BaseException:
            # Not subprocess.run's kill(): let git finish or clean up after its own signal.
            _close_pipes(proc)
            proc.wait()
            raise
    if proc.returncode not in tuple(ok):
        raise GitError(argv, proc.returncode, stdout, stderr)
    return Result(proc.returncode, stdout, stderr)


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def _z(data: bytes) -> list[str]:
    """NUL-separated paths; undecodable bytes survive as surrogates (os.fsencode undoes it)."""
    return [os.fsdecode(part) for part in data.split(b"\0") if part]


# -- the repository -----------------------------------------------------------------------


class Repo(NamedTuple):
    """Where a repository lives and which index this process works on."""

    root: Path  # top of the working tree
    git_dir: Path  # absolute; per worktree
    index_file: Path  # absolute: GIT_INDEX_FILE if git set it, else git_dir/index

    @property
    def env(self) -> dict[str, str]:
        return {"GIT_INDEX_FILE": str(self.index_file)}

    def git(
        self,
        *args: str,
        input: bytes | None = None,
        ok: Iterable[int] = (0,),
        index_file: Path | None = None,
        literal: bool = True,
    ) -> Result:
        env = dict(self.env)
        if index_file is not None:
            env["GIT_INDEX_FILE"] = str(index_file)
        if literal:
            # A file may be called `*.py` or `:(top)x`: paths we pass are never patterns.
            env["GIT_LITERAL_PATHSPECS"] = "1"
        return run(*args, cwd=self.root, input=input, env=env, ok=ok)


def find_repo(cwd: Path) -> Repo:
    """The repository containing `cwd` (which need not be its root)."""
    result = run("rev-parse", "--show-toplevel", "--absolute-git-dir", cwd=cwd, ok=(0, 128))
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        if "not a git repository" in message:
            raise FatalError(f"{cwd}: not inside a git repository")
        if "must be run in a work tree" in message:
            raise FatalError(f"{cwd}: a bare repository has no working tree to check")
        raise GitError(["git", "rev-parse", "--show-toplevel"], 128, result.stdout, result.stderr)
    lines = os.fsdecode(result.stdout).splitlines()
    root, git_dir = Path(lines[0]), Path(lines[1])
    env_index = os.environ.get("GIT_INDEX_FILE")
    # git runs hooks at the top of the working tree and may pass a relative index path;
    # resolve it against the directory this process started in, as git itself would.
    index_file = Path(os.path.abspath(env_index)) if env_index else git_dir / "index"
    return Repo(root, git_dir, index_file)


def open_repo(path: Path) -> gitpython.Repo:
    """A GitPython repository for `path` or one of its parents."""
    import git as gitpython

    try:
        return gitpython.Repo(path, search_parent_directories=True)
    except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError):
        raise FatalError(f"{path}: not inside a git repository") from None


def hooks_dir(path: Path) -> Path:
    """Where git looks for hooks: core.hooksPath if set, else $GIT_COMMON_DIR/hooks."""
    repo = open_repo(path)
    if repo.bare or repo.working_tree_dir is None:
        raise FatalError(f"{path}: a bare repository runs no pre-commit hook")
    root = Path(repo.working_tree_dir)
    # rev-parse resolves core.hooksPath (relative to the top of the working tree) and
    # linked worktrees for us.
    relative = str(repo.git.rev_parse("--git-path", "hooks"))
    return (root / relative).resolve()


def head(repo: Repo) -> str | None:
    """The commit HEAD points to; None on an unborn branch (before the first commit)."""
    result = repo.git("rev-parse", "-q", "--verify", "HEAD^{commit}", ok=(0, 1))
    return result.stdout.decode().strip() or None


def merge_heads(repo: Repo) -> list[str]:
    """The other parents of a merge in progress (MERGE_HEAD), none outside a merge."""
    try:
        text = (repo.git_dir / "MERGE_HEAD").read_text(encoding="ascii")
    except (FileNotFoundError, UnicodeDecodeError):
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def write_tree(repo: Repo) -> str:
    """The tree id of the index: equal ids mean equal staged content."""
    result = repo.git("write-tree", ok=(0, 128))
    if result.returncode != 0:
        if unmerged_paths(repo):
            raise FatalError("unmerged files: resolve the conflicts before committing")
        raise GitError(["git", "write-tree"], result.returncode, result.stdout, result.stderr)
    return result.stdout.decode().strip()


def tree_with(repo: Repo, files: Mapping[str, bytes]) -> str:
    """The tree id the index would have with each of `files` (path -> content) staged as
    given, as `git add` would stage it; the index itself is not touched (a copy is)."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="review-bot-index-", dir=repo.git_dir) as tmp:
        index = Path(tmp) / "index"
        if repo.index_file.is_file():
            shutil.copyfile(repo.index_file, index)
        for path, data in files.items():
            entry = index_entry(repo, path, index_file=index)
            mode = entry.mode if entry is not None else EMPTY_BLOB_MODE
            stage_blob(repo, path, hash_object(repo, path, data), mode, index_file=index)
        return repo.git("write-tree", index_file=index).stdout.decode().strip()


def unmerged_paths(repo: Repo) -> list[str]:
    result = repo.git("diff", "--name-only", "-z", "--diff-filter=U", "--cached")
    return sorted(set(_z(result.stdout)))


class Change(NamedTuple):
    status: str  # A, M, D, R, C, T (git's letters; scores dropped)
    path: str  # the path in the index (the new one for renames)
    old_path: str | None  # the path before a rename or copy


def staged_changes(
    repo: Repo, *, base: str | None = None, pattern: str | None = None
) -> list[Change]:
    """What the index changes relative to `base` (default HEAD, or nothing before the
    first commit), renames detected; `pattern` is a pathspec glob such as `*.py`."""
    args = ["diff", "--cached", "--name-status", "-z", "-M", "--no-ext-diff"]
    args += ["--ignore-submodules=all", "--no-relative"]
    if base is not None:
        args.append(base)
    args.append("--")
    if pattern is not None:
        args.append(pattern)
    parts = repo.git(*args, literal=pattern is None).stdout.split(b"\0")
    changes: list[Change] = []
    i = 0
    while i < len(parts) and parts[i]:
        status = parts[i].decode("ascii")[0]
        if status in "RC":
            changes.append(Change(status, os.fsdecode(parts[i + 2]), os.fsdecode(parts[i + 1])))
            i += 3
        else:
            changes.append(Change(status, os.fsdecode(parts[i + 1]), None))
            i += 2
    return changes


def staged_diff(repo: Repo, *, base: str | None = None, pattern: str = "*.py") -> str:
    """The index against `base` (default HEAD) as a unified diff without context lines.

    Undecodable bytes are kept as surrogates, so a path round-trips through os.fsencode.
    """
    args = ["diff", "--cached", "-U0", "-M", "--no-color", "--no-ext-diff", "--no-textconv"]
    args += ["--ignore-submodules=all", "--no-relative", "--src-prefix=a/", "--dst-prefix=b/"]
    if base is not None:
        args.append(base)
    args += ["--", pattern]
    return repo.git(*args, literal=False).stdout.decode("utf-8", "surrogateescape")


def export_index(repo: Repo, dest: Path) -> None:
    """Write every file of the index (the staged versions) under `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    # Large-file filters would fetch content over the network: their pointers do here.
    run(
        "checkout-index",
        "--all",
        "--force",
        f"--prefix={dest}{os.sep}",
        cwd=repo.root,
        env={**repo.env, "GIT_LFS_SKIP_SMUDGE": "1"},
    )


# Generated files that a package imports and git ignores (hatch-vcs, setuptools-scm and
# versioneer write `_version.py` at install time): small Python sources only.
_GENERATED_SUFFIXES = (".py", ".pyi")
_GENERATED_MAX_BYTES = 256 * 1024


def copy_ignored_sources(repo: Repo, dest: Path) -> list[str]:
    """Copy into the export at `dest` the git-ignored Python files of the working tree that
    sit beside exported files: a version file written at install time is git-ignored, and
    without it the package does not import from the export (issue 21).

    Whole ignored directories (environments, build output) are not descended into, links
    and files over a size cap are not copied, and nothing is written outside `dest`.
    Returns the relpaths copied.
    """
    out = run(
        "ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z",
        cwd=repo.root, env=repo.env,
    ).stdout  # fmt: skip
    copied: list[str] = []
    base = dest.resolve()
    for rel in _z(out):
        if rel.endswith("/") or not rel.endswith(_GENERATED_SUFFIXES):
            continue
        source = repo.root / rel
        target = base / rel
        try:
            info = source.lstat()
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or info.st_size > _GENERATED_MAX_BYTES:
            continue
        # Beside exported files only, in a directory of the export that is no link.
        parent = target.parent
        if not parent.is_dir() or parent.resolve() != parent or target.exists():
            continue
        if not parent.is_relative_to(base):
            continue
        try:
            data = source.read_bytes()
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except OSError:
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        copied.append(rel)
    return copied


class IndexEntry(NamedTuple):
    mode: str
    sha: str


def index_entry(repo: Repo, path: str, *, index_file: Path | None = None) -> IndexEntry | None:
    """The stage-0 entry of `path` in the index, None if it has none."""
    out = repo.git("ls-files", "--stage", "-z", "--", path, index_file=index_file).stdout
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, sha, stage = meta.decode().split()
        if stage == "0" and os.fsdecode(name) == path:
            return IndexEntry(mode, sha)
    return None


def blob(repo: Repo, spec: str) -> bytes | None:
    """The content of `REV:PATH` or `:PATH` (the index); None if there is no such blob."""
    result = repo.git("cat-file", "blob", spec, ok=(0, 128))
    return result.stdout if result.returncode == 0 else None


def hash_object(repo: Repo, path: str, data: bytes) -> str:
    """Store `data` as the blob `git add PATH` would make of it (filters, eol) and return
    its id."""
    result = repo.git("hash-object", "-w", "--stdin", f"--path={path}", input=data)
    return result.stdout.decode().strip()


def stage_blob(
    repo: Repo, path: str, sha: str, mode: str = EMPTY_BLOB_MODE, *, index_file: Path | None = None
) -> None:
    """Point the index entry of `path` at blob `sha`: one locked, atomic index update."""
    record = f"{mode} {sha}\t".encode() + os.fsencode(path) + b"\0"
    repo.git("update-index", "-z", "--add", "--index-info", input=record, index_file=index_file)


def is_ignored(repo: Repo, path: str) -> bool:
    """Whether .gitignore rules exclude the untracked `path` (`git add` would refuse it)."""
    # check-ignore takes paths, not pathspecs, and refuses the literal-pathspec switch.
    result = repo.git("check-ignore", "-q", "--", path, ok=(0, 1), literal=False)
    return result.returncode == 0


def partial_commit_index(repo: Repo) -> Path | None:
    """For `git commit PATH...`: the locked real index that git will install after the
    commit, or None when this is not such a commit.

    git commits PATH from a temporary `next-index-*.lock` (the hook's GIT_INDEX_FILE) and
    renames `index.lock`, prepared beforehand, over the real index afterwards; a file staged
    only in the temporary index would be in the commit yet missing from the index after it.
    """
    name = repo.index_file.name
    if repo.index_file.parent != repo.git_dir or not (
        name.startswith("next-index-") and name.endswith(".lock")
    ):
        return None
    real = repo.git_dir / "index.lock"
    return real if real.is_file() else None
