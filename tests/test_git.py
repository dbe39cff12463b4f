"""git/plumbing.py against real repositories (never a mocked git)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from review_bot import git
from review_bot.errors import FatalError
from tests.helpers.repos import GitRepo, scrub_git_env


@pytest.fixture(autouse=True)
def _git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    scrub_git_env(monkeypatch)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.create(tmp_path / "repo")


def test_find_repo_from_a_subdirectory(repo: GitRepo) -> None:
    (repo.root / "a" / "b").mkdir(parents=True)
    found = git.find_repo(repo.root / "a" / "b")
    assert found.root == repo.root.resolve()
    assert found.git_dir == (repo.root / ".git").resolve()
    assert found.index_file == found.git_dir / "index"


def test_find_repo_outside_a_repository(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(FatalError, match="not inside a git repository"):
        git.find_repo(tmp_path / "plain")


def test_relative_index_file_from_git_becomes_absolute(
    repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo.root)
    monkeypatch.setenv("GIT_INDEX_FILE", ".git/other-index")
    found = git.find_repo(repo.root)
    assert found.index_file == repo.root.resolve() / ".git" / "other-index"
    assert found.env == {"GIT_INDEX_FILE": str(found.index_file)}


def test_errors_show_command_code_stdout_and_stderr(repo: GitRepo) -> None:
    with pytest.raises(git.GitError) as info:
        git.run("cat-file", "-p", "no-such-object", cwd=repo.root)
    message = str(info.value)
    assert "cat-file -p no-such-object" in message
    assert "return code 128" in message
    assert "stdout: (empty)" in message and "stderr: 'fatal:" in message
    assert info.value.returncode == 128 and info.value.stderr.startswith(b"fatal:")


def test_ctrl_c_waits_for_git_and_is_raised_after_it(repo: GitRepo) -> None:
    # SIGINT to this process alone (a terminal's would reach git too): git is neither
    # killed nor abandoned; it finishes its work, then the interrupt is raised (issue 14).
    marker = repo.root / "finished"
    alias = f"alias.slow=!sleep 0.5 && touch '{marker}'"
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            git.run("-c", alias, "slow", cwd=repo.root)
    finally:
        timer.join()
    assert marker.exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_git_runs_outside_the_main_thread(repo: GitRepo) -> None:
    # No signal handler can be set there; the call still works and still waits.
    results: list[git.Result] = []
    thread = threading.Thread(target=lambda: results.append(git.run("version", cwd=repo.root)))
    thread.start()
    thread.join()
    assert results[0].stdout.startswith(b"git version")


def test_head_unborn_detached_and_merge(repo: GitRepo) -> None:
    found = git.find_repo(repo.root)
    assert git.head(found) is None
    repo.write("f.txt", "base\n")
    repo.commit_all("base")
    first = repo.git("rev-parse", "HEAD").stdout.decode().strip()
    assert git.head(found) == first
    repo.git("checkout", "-q", "--detach")
    assert git.head(found) == first
    repo.git("checkout", "-q", "main")
    repo.git("checkout", "-q", "-b", "other")
    repo.write("f.txt", "theirs\n")
    repo.commit_all("theirs")
    other = repo.git("rev-parse", "HEAD").stdout.decode().strip()
    repo.git("checkout", "-q", "main")
    repo.write("f.txt", "ours\n")
    repo.commit_all("ours")
    assert git.merge_heads(found) == []
    assert repo.git("merge", "-q", "other", check=False).returncode != 0  # a conflict
    assert git.merge_heads(found) == [other]
    assert git.unmerged_paths(found) == ["f.txt"]
    with pytest.raises(FatalError, match="unmerged files"):
        git.write_tree(found)


def test_staged_changes_with_renames_and_odd_names(repo: GitRepo) -> None:
    repo.write("keep.py", "x = 1\n")
    repo.write("old.py", "def f():\n    return 1\n" * 5)
    repo.write("doomed.py", "y = 2\n")
    repo.commit_all()
    repo.git("mv", "old.py", "new.py")
    repo.git("rm", "-q", "doomed.py")
    repo.write("keep.py", "x = 2\n")
    repo.write("sp ace/ü*.py", "z = 3\n")
    repo.write("notes.txt", "hello\n")
    repo.git("add", "-A")
    found = git.find_repo(repo.root)
    changes = {c.path: c for c in git.staged_changes(found)}
    assert changes["new.py"] == git.Change("R", "new.py", "old.py")
    assert changes["doomed.py"].status == "D" and changes["keep.py"].status == "M"
    assert changes["sp ace/ü*.py"].status == "A"
    python = {c.path for c in git.staged_changes(found, pattern="*.py")}
    assert python == {"new.py", "doomed.py", "keep.py", "sp ace/ü*.py"}


def test_initial_commit_diff_is_against_the_empty_tree(repo: GitRepo) -> None:
    repo.write("m.py", "a = 1\nb = 2\n")
    repo.git("add", "m.py")
    found = git.find_repo(repo.root)
    assert [c.path for c in git.staged_changes(found)] == ["m.py"]
    assert "@@ -0,0 +1,2 @@" in git.staged_diff(found)


def test_write_tree_tracks_staged_content_only(repo: GitRepo) -> None:
    repo.write("m.py", "a = 1\n")
    repo.git("add", "m.py")
    found = git.find_repo(repo.root)
    tree = git.write_tree(found)
    repo.write("m.py", "a = 2\n")  # unstaged: same tree
    assert git.write_tree(found) == tree
    repo.git("add", "m.py")
    assert git.write_tree(found) != tree


def test_export_index_writes_the_staged_versions_and_changes_nothing(
    repo: GitRepo, tmp_path: Path
) -> None:
    repo.write("pkg/mod.py", "staged = True\n")
    repo.write("data.bin", b"\x00\xff")
    repo.git("add", "-A")
    repo.write("pkg/mod.py", "staged = False  # unstaged edit\n")
    repo.write("untracked.py", "u = 1\n")
    index_before = repo.index()
    raw_index = (repo.root / ".git" / "index").read_bytes()
    dest = tmp_path / "export dir"
    git.export_index(git.find_repo(repo.root), dest)
    assert (dest / "pkg" / "mod.py").read_text() == "staged = True\n"
    assert (dest / "data.bin").read_bytes() == b"\x00\xff"
    assert not (dest / "untracked.py").exists()
    assert repo.read("pkg/mod.py") == b"staged = False  # unstaged edit\n"
    assert repo.index() == index_before
    assert (repo.root / ".git" / "index").read_bytes() == raw_index


def test_hash_object_and_stage_blob_stage_exact_bytes(repo: GitRepo, tmp_path: Path) -> None:
    repo.write("run.sh", "#!/bin/sh\n")
    (repo.root / "run.sh").chmod(0o755)
    repo.commit_all()
    found = git.find_repo(repo.root)
    data = b"new content\n"
    sha = git.hash_object(found, "tests/test_x_generated.py", data)
    assert git.blob(found, sha) == data
    git.stage_blob(found, "tests/test_x_generated.py", sha)
    assert repo.staged("tests/test_x_generated.py") == data
    assert repo.read("tests/test_x_generated.py") is None  # the index only
    entry = git.index_entry(found, "run.sh")
    assert entry is not None and entry.mode == "100755"
    assert git.index_entry(found, "missing.py") is None
    assert git.blob(found, ":missing.py") is None
    # Another index (as `git commit PATH` gives a hook) is written instead of the real one.
    other = tmp_path / "other-index"
    git.stage_blob(found, "only-there.txt", sha, index_file=other)
    assert git.index_entry(found, "only-there.txt", index_file=other) == git.IndexEntry(
        "100644", sha
    )
    assert git.index_entry(found, "only-there.txt") is None


def test_literal_paths_are_not_patterns(repo: GitRepo) -> None:
    repo.write("*.py", "star = 1\n")
    repo.write("a.py", "a = 1\n")
    repo.commit_all()
    found = git.find_repo(repo.root)
    entry = git.index_entry(found, "*.py")
    assert entry is not None
    assert git.blob(found, ":*.py") == b"star = 1\n"


def test_is_ignored(repo: GitRepo) -> None:
    repo.write(".gitignore", "tests/\n")
    found = git.find_repo(repo.root)
    assert git.is_ignored(found, "tests/test_x_generated.py")
    assert not git.is_ignored(found, "src/x.py")


def test_hooks_dir_honours_core_hooks_path(repo: GitRepo) -> None:
    assert git.hooks_dir(repo.root) == (repo.root / ".git" / "hooks").resolve()
    repo.git("config", "core.hooksPath", "my hooks")
    (repo.root / "sub").mkdir()
    assert git.hooks_dir(repo.root / "sub") == (repo.root / "my hooks").resolve()


def test_hooks_dir_refuses_bare_and_non_repositories(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "bare.git")], check=True)
    with pytest.raises(FatalError, match="bare repository"):
        git.hooks_dir(tmp_path / "bare.git")
    (tmp_path / "plain").mkdir()
    with pytest.raises(FatalError, match="not inside a git repository"):
        git.hooks_dir(tmp_path / "plain")


def test_partial_commit_index_inside_real_commits(repo: GitRepo) -> None:
    """What a hook sees: a temporary index for `git commit PATH`, the locked one for -a."""
    repo.write("a.txt", "a\n")
    repo.write("b.txt", "b\n")
    repo.commit_all()
    report = repo.root / ".git" / "seen"
    hook = repo.root / ".git" / "hooks" / "pre-commit"
    hook.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            exec {sys.executable} -c "
            from pathlib import Path
            from review_bot import git
            repo = git.find_repo(Path.cwd())
            real = git.partial_commit_index(repo)
            with open({str(report)!r}, 'a') as f:
                f.write(f'{{repo.index_file.name}} {{real.name if real else None}}\\n')
            "
            """
        )
    )
    hook.chmod(0o755)
    env = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    repo.write("a.txt", "a2\n")
    repo.git("commit", "-q", "-m", "only a", "a.txt", env=env)
    repo.write("b.txt", "b2\n")
    repo.git("commit", "-q", "-a", "-m", "all", env=env)
    repo.write("a.txt", "a3\n")
    repo.git("add", "a.txt")
    repo.git("commit", "-q", "-m", "plain", env=env)
    partial, all_, plain = report.read_text().splitlines()
    assert partial.startswith("next-index-") and partial.endswith(".lock index.lock")
    assert all_ == "index.lock None"
    assert plain == "index None"
