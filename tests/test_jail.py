"""The jail: the setting, the probe's answers, the bwrap command line, and real runs of a
project's own interpreter inside it (tests/test_jail_hostile.py has the attacks)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from review_bot.config import Settings, load_settings
from review_bot.doctor import jail_line
from review_bot.errors import FatalError
from review_bot.sandbox import Limits, Sandbox, jail

REAL = jail.available(sys.executable)
requires_bwrap = pytest.mark.skipif(
    REAL.kind != "bwrap", reason=f"no bubblewrap jail on this machine: {REAL.why}"
)
LIMITS = Limits(timeout_s=30.0, memory_mb=2048, cpu_s=30)


def test_the_setting_takes_three_values(tmp_path: Path) -> None:
    # The user's own config file sets it; a repository's pyproject.toml cannot (issue 22).
    (tmp_path / "user.toml").write_text('jail = "none"\n')
    user = {"REVIEW_BOT_CONFIG": str(tmp_path / "user.toml")}
    assert load_settings(tmp_path, {}, environ=user).jail == "none"
    assert load_settings(tmp_path, {}, environ={**user, "REVIEW_BOT_JAIL": "bwrap"}).jail == "bwrap"
    with pytest.raises(FatalError, match="jail must be one of auto, bwrap, none"):
        load_settings(tmp_path, {}, environ={"REVIEW_BOT_JAIL": "docker"})


def test_bwrap_insists_auto_falls_back_none_takes_none(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = jail.Jail("none", None, "bwrap not found")
    monkeypatch.setattr(jail, "available", lambda python: missing)
    with pytest.raises(FatalError, match="jail = bwrap, but no jail is possible: bwrap not"):
        jail.resolve("bwrap", sys.executable)
    assert jail.resolve("auto", sys.executable) == missing
    assert jail.resolve("none", sys.executable).why == "jail = none"
    problems: list[str] = []
    assert jail_line(Settings(jail="auto"), problems).startswith("jail: none (bwrap not found;")
    assert jail_line(Settings(jail="bwrap"), problems) == "jail: unusable (jail = bwrap)"
    assert problems == ["jail = bwrap, but no jail is possible: bwrap not found"]


def test_signal_deaths_read_as_popen_gives_them() -> None:
    bwrap = jail.Jail("bwrap", "bwrap", "")
    assert jail.returncode(bwrap, 128 + 9) == -9
    assert jail.returncode(bwrap, 1) == 1
    assert jail.returncode(jail.Jail("none", None, ""), 137) == 137


def _layout(tmp_path: Path, project: Path) -> jail.Layout:
    workspace = tmp_path / "private" / "ws-1"
    (workspace / "tmp").mkdir(parents=True)
    return jail.Layout(workspace, workspace / "tmp", workspace / "p", project, tmp_path / "private")


def test_secrets_are_hidden_and_the_interpreter_is_bound_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    venv = home / "project" / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / "pyvenv.cfg").write_text(f"home = {home / 'pyenv' / 'bin'}\n")
    (home / "pyenv" / "bin").mkdir(parents=True)
    project = home / "project"
    (project / ".git").mkdir()
    monkeypatch.setenv("HOME", str(home))
    # The test's directories lie under /tmp, which every run gets replaced anyway: leave
    # it alone here so that the home is hidden as it would be outside /tmp.
    monkeypatch.setattr(jail, "REPLACED", (Path("/var/tmp"),))
    argv = jail.bwrap_argv("bwrap", str(venv / "bin" / "python"), _layout(tmp_path, project))
    pairs = list(zip(argv, argv[1:], argv[2:], strict=False))
    assert ("--ro-bind", "/", "/") in pairs
    assert ("--tmpfs", str(home)) in itertools.pairwise(argv)
    assert ("--remount-ro", str(home)) in itertools.pairwise(argv)
    # .git lies inside the hidden home: hidden with it, not mounted again.
    assert str(project / ".git") not in argv
    for root in (venv, home / "pyenv"):
        assert ("--ro-bind", str(root), str(root)) in pairs
    workspace = tmp_path / "private" / "ws-1"
    assert [(a, b) for a, b, c in pairs if a == "--bind" and c == b] == [("--bind", str(workspace))]
    assert ("--bind", str(workspace / "tmp"), "/dev/shm") in pairs
    for flag in ("--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"


def test_a_worktrees_git_directories_are_hidden(tmp_path: Path) -> None:
    main = tmp_path / "main"
    subprocess.run(["git", "init", "-q", str(main)], check=True)
    (main / ".git" / "worktrees" / "wt").mkdir(parents=True)
    (main / ".git" / "worktrees" / "wt" / "commondir").write_text("../..\n")
    worktree = tmp_path / "wt"
    (worktree / "pkg").mkdir(parents=True)
    (worktree / ".git").write_text(f"gitdir: {main / '.git' / 'worktrees' / 'wt'}\n")
    hidden = jail.hidden_paths(worktree / "pkg", tmp_path / "private")
    assert worktree / ".git" in hidden
    assert main / ".git" / "worktrees" / "wt" in hidden
    assert main / ".git" in hidden


def test_the_macos_profile_names_the_workspace(tmp_path: Path) -> None:
    layout = _layout(tmp_path, tmp_path)
    argv = jail.sandbox_exec_argv("sandbox-exec", sys.executable, layout)
    assert f"WORKSPACE={layout.workspace.resolve()}" in argv
    profile = argv[argv.index("-p") + 1]
    assert "(deny network*)" in profile and "(deny file-write*)" in profile


@requires_bwrap
def test_a_projects_own_venv_runs_inside_and_nothing_else_of_the_project_is_writable(
    tmp_path: Path,
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / "calc.py").write_text("X = 1\n")
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(project / ".venv")], check=True
    )
    python = str(project / ".venv" / "bin" / "python")
    script = (
        "import os, sys\n"
        "print(sys.prefix)\n"
        f"print(os.path.exists({str(project / '.git' / 'config')!r}))\n"
        f"try:\n    open({str(project / 'calc.py')!r}, 'a').write('planted')\n"
        "except OSError as exc:\n    print(type(exc).__name__)\n"
        "import calc; print(calc.X)\n"
    )
    with Sandbox(project, LIMITS, python=python) as sandbox, sandbox.workspace() as ws:
        assert sandbox.jail.kind == "bwrap" and sandbox.isolation == "jail"
        ws.write("probe.py", script)
        result = ws.run(["python", "probe.py"])
    assert result.returncode == 0, result.output
    # Refused, or (a project under /tmp, which the run sees as its own /tmp) written into
    # the run's temporary directory: never into the real project.
    words = result.output.split()
    assert [w for w in words if w != "OSError"] == [str(project / ".venv"), "False", "1"]
    assert (project / "calc.py").read_text() == "X = 1\n"
    assert (project / "calc.py").read_text() == "X = 1\n"


@requires_bwrap
def test_generated_code_cannot_reach_a_resident_model(tmp_path: Path) -> None:
    """The resident model's socket (llm/resident.py) is hidden from every jailed run."""
    import socket

    from review_bot.llm import resident

    directory = resident.runtime_dir()  # the tests' own: XDG_RUNTIME_DIR (conftest.py)
    # Hidden like /run (wherever XDG_RUNTIME_DIR points), and under /tmp the run's own.
    assert directory in jail.hidden_paths(tmp_path, tmp_path / "private")
    path = directory / "probe-listener.sock"
    project = tmp_path / "proj"
    project.mkdir()
    (project / "calc.py").write_text("X = 1\n")
    script = (
        "import os, socket\n"
        f"print(os.path.exists({str(path)!r}))\n"
        "conn = socket.socket(socket.AF_UNIX)\n"
        f"try:\n    conn.connect({str(path)!r})\n    print('connected')\n"
        "except OSError as exc:\n    print(type(exc).__name__)\n"
    )
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        listener.listen(1)
        with Sandbox(project, LIMITS) as sandbox, sandbox.workspace() as ws:
            assert sandbox.jail.kind == "bwrap"
            ws.write("probe.py", script)
            result = ws.run(["python", "probe.py"])
    path.unlink()
    assert result.returncode == 0, result.output
    assert result.output.split() == ["False", "FileNotFoundError"]
