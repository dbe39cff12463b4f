from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from review_bot.sandbox import (
    NETWORK_ERROR,
    OUTPUT_LIMIT,
    Limits,
    Sandbox,
    Workspace,
    network_isolation,
)

LIMITS = Limits(timeout_s=20.0, memory_mb=1024, cpu_s=20)


@pytest.fixture(autouse=True)
def _private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Anything that would write to ~ during these tests lands here instead.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "example.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "data.txt").write_text("original\n")
    (root / "pkg" / "__init__.py").write_text("")
    return root


@pytest.fixture
def sandbox(project: Path) -> Iterator[Sandbox]:
    with Sandbox(project, LIMITS) as box:
        yield box


@pytest.fixture
def bare_sandbox(project: Path) -> Iterator[Sandbox]:
    """No jail: the guards every run gets (tests/test_jail*.py test the jail's)."""
    with Sandbox(project, LIMITS, jail="none") as box:
        yield box


def run_script(ws: Workspace, code: str, timeout_s: float | None = None) -> str:
    ws.write("script.py", textwrap.dedent(code))
    result = ws.run(["python", "script.py"], timeout_s=timeout_s)
    assert result.returncode == 0, result.output
    return result.output


def snapshot(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text() if path.is_file() else "<dir>"
        for path in sorted(root.rglob("*"))
    }


def is_dead(pid: int, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # Orphans go to an init that may never reap them: a zombie counts as dead.
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_copy_leaves_out_caches_environments_big_files_and_fifos(project: Path) -> None:
    for relpath in (
        ".git/config",
        ".venv/pyvenv.cfg",
        "venv/pyvenv.cfg",
        "node_modules/left/index.js",
        "pkg/__pycache__/x.pyc",
        "example.egg-info/PKG-INFO",
        "build/lib/example.py",
        ".review-bot-cache/cache.sqlite3",
    ):
        (project / relpath).parent.mkdir(parents=True, exist_ok=True)
        (project / relpath).write_text("ignored")
    # A real package that happens to be called `build` is code, not an artefact.
    (project / "pkg" / "build").mkdir()
    (project / "pkg" / "build" / "__init__.py").write_text("KEPT = True\n")
    with open(project / "big.bin", "wb") as big:
        big.truncate(6 * 1024 * 1024)  # sparse: cheap to make, too big to copy
    (project / "small.bin").write_bytes(b"x" * 1024)
    (project / "link.py").symlink_to("example.py")
    (project / "pkg" / "absolute.txt").symlink_to(project / "data.txt")
    os.mkfifo(project / "pipe")

    with Sandbox(project, LIMITS) as box, box.workspace() as ws:
        copied = {p.relative_to(ws.path).as_posix() for p in ws.path.rglob("*")}
        assert copied == {
            "data.txt",
            "example.py",
            "link.py",
            "pkg",
            "pkg/__init__.py",
            "pkg/absolute.txt",
            "pkg/build",
            "pkg/build/__init__.py",
            "small.bin",
        }
        assert (ws.path / "link.py").is_symlink()
        assert os.readlink(ws.path / "link.py") == "example.py"
        # An absolute link into the project now leads to the copy, not the original.
        assert os.readlink(ws.path / "pkg" / "absolute.txt") == "../data.txt"
        run_script(ws, "open('pkg/absolute.txt', 'w').write('through the link')\n")
        assert ws.read("data.txt") == "through the link"
    assert (project / "data.txt").read_text() == "original\n"


def test_runs_never_write_to_the_original_tree(project: Path, sandbox: Sandbox) -> None:
    before = snapshot(project)
    with sandbox.workspace({"tests/test_new.py": "def test(): pass\n"}) as ws:
        run_script(
            ws,
            """
            import os, pathlib, shutil
            os.remove("example.py")
            pathlib.Path("data.txt").write_text("changed")
            pathlib.Path("made.txt").write_text("by the run")
            shutil.rmtree("pkg")
            """,
        )
        assert ws.read("made.txt") == "by the run"
        assert ws.read("example.py") is None
        first = ws.path
    assert snapshot(project) == before
    assert not first.exists()
    with sandbox.workspace() as ws:
        assert ws.read("data.txt") == "original\n"
        assert ws.read("made.txt") is None
        assert ws.read("tests/test_new.py") is None


def test_close_removes_everything_and_is_idempotent(project: Path) -> None:
    box = Sandbox(project, LIMITS)
    assert box.pristine.joinpath("example.py").is_file()
    box.close()
    box.close()
    assert not box.private_dir.exists()


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        Sandbox(tmp_path / "missing", LIMITS)


def test_environment_is_built_from_an_allowlist(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, _private_home: Path
) -> None:
    for name in (
        "GITHUB_TOKEN",
        "REVIEW_BOT_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "PYTEST_ADDOPTS",
        "COVERAGE_PROCESS_START",
        "PYTHONSTARTUP",
    ):
        monkeypatch.setenv(name, "secret-value")
    with sandbox.workspace() as ws:
        output = run_script(
            ws,
            """
            import json, os, pathlib, tempfile
            pathlib.Path.home().joinpath("written-to-home").write_text("x")
            print(json.dumps({"env": dict(os.environ), "tmp": tempfile.gettempdir()}))
            """,
        )
    seen = json.loads(output)
    env = seen["env"]
    assert "secret-value" not in output
    assert set(env) <= {
        *("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "HOME", "TMPDIR", "PYTHONPATH"),
        *("PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING"),
    }
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONPATH"].split(os.pathsep)[-1] == str(ws.path)
    private = str(sandbox.private_dir) + os.sep
    assert env["HOME"].startswith(private)
    assert seen["tmp"].startswith(private)
    assert not _private_home.joinpath("written-to-home").exists()


def test_no_variable_tells_a_run_it_is_sandboxed(sandbox: Sandbox) -> None:
    # Issue 22: a test that sees REVIEW_BOT_SANDBOX behaves inside and acts outside. Not
    # in a fresh run, nor in a fork of the warm interpreter (whose own start-up variables
    # are taken out of its environment before any run).
    script = "import os\nprint(sorted(n for n in os.environ if 'REVIEW' in n.upper()))\n"
    with sandbox.workspace({"tell.py": script}) as ws:
        fresh = ws.run(["python", "-m", "tell"], fresh=True)
        warm = ws.run(["python", "-m", "tell"])
    assert sandbox.warm_runner() is not None
    assert (fresh.returncode, warm.returncode) == (0, 0), fresh.output + warm.output
    assert fresh.output.strip() == warm.output.strip() == "[]"


def test_python_means_the_sandbox_interpreter_and_pythonpath_is_honoured(
    project: Path, sandbox: Sandbox
) -> None:
    with sandbox.workspace({"src/inner.py": "NAME = 'inner'\n"}) as ws:
        result = ws.run(
            ["python", "-c", "import sys, example, inner; print(sys.executable, inner.NAME)"],
            pythonpath=["src"],
        )
        assert result.output.split() == [sys.executable, "inner"]
        with pytest.raises(ValueError, match="leaves the workspace"):
            ws.run(["python", "-c", "pass"], pythonpath=["../outside"])


def test_failures_are_returned_not_raised_and_output_is_interleaved(sandbox: Sandbox) -> None:
    with sandbox.workspace() as ws:
        ws.write(
            "script.py",
            "import sys\n"
            "print('one', flush=True)\n"
            "print('two', file=sys.stderr, flush=True)\n"
            "sys.stdout.buffer.write(b'bad \\xff byte\\n')\n"
            "sys.exit(3)\n",
        )
        result = ws.run(["python", "script.py"])
        assert result.returncode == 3
        assert not result.timed_out
        assert result.output == "one\ntwo\nbad \N{REPLACEMENT CHARACTER} byte\n"

        missing = ws.run(["no-such-command-for-review-bot"])
        assert missing.returncode == 127
        assert "no-such-command-for-review-bot" in missing.output

        run_script(ws, "import os, shutil\nshutil.rmtree(os.getcwd())\n")
        after = ws.run(["python", "-c", "pass"])
        assert after.returncode == 127
        assert "cannot start" in after.output


def test_output_keeps_the_tail(sandbox: Sandbox) -> None:
    with sandbox.workspace() as ws:
        output = run_script(ws, "for i in range(20000): print(f'line {i}')\n")
    assert output.startswith("[review-bot: ")
    assert output.endswith("line 19999\n")
    assert len(output.encode()) <= OUTPUT_LIMIT + 100
    assert "\nline " in output[:200]  # the cut falls on a line boundary


def test_timeout_kills_the_whole_process_group(bare_sandbox: Sandbox) -> None:
    with bare_sandbox.workspace() as ws:
        ws.write(
            "script.py",
            "import pathlib, subprocess, time\n"
            "child = subprocess.Popen(['sleep', '60'])\n"
            "pathlib.Path('child.pid').write_text(str(child.pid))\n"
            "time.sleep(60)\n",
        )
        result = ws.run(["python", "script.py"], timeout_s=1.0)
        assert result.timed_out
        assert result.returncode == -signal.SIGKILL
        assert 1.0 <= result.seconds < 5
        pid = ws.read("child.pid")
    assert pid is not None
    assert is_dead(int(pid))


def test_background_children_die_when_the_run_ends(bare_sandbox: Sandbox) -> None:
    with bare_sandbox.workspace() as ws:
        result = ws.run(["sh", "-c", "sleep 60 & echo $! > child.pid"], timeout_s=10)
        assert result.returncode == 0
        # Output goes to a file, so a child holding it open does not keep us waiting.
        assert result.seconds < 5
        pid = ws.read("child.pid")
    assert pid is not None
    assert is_dead(int(pid.strip()))


def test_resource_limits(project: Path) -> None:
    limits = Limits(timeout_s=20.0, memory_mb=256, cpu_s=1)
    with Sandbox(project, limits) as box, box.workspace() as ws:
        output = run_script(
            ws,
            """
            import resource
            for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_CORE"):
                print(name, *resource.getrlimit(getattr(resource, name)))
            try:
                bytearray(512 * 1024 * 1024)
            except MemoryError:
                print("MemoryError")
            """,
        )
        mb = 1024 * 1024
        assert output.splitlines() == [
            f"RLIMIT_AS {256 * mb} {256 * mb}",
            "RLIMIT_CPU 1 2",
            f"RLIMIT_FSIZE {256 * mb} {256 * mb}",
            "RLIMIT_CORE 0 0",
            "MemoryError",
        ]
        busy = ws.run(["python", "-c", "while True: pass"])
        assert not busy.timed_out
        assert busy.returncode in (-signal.SIGXCPU, -signal.SIGKILL)
        assert busy.seconds < 10


def test_read_and_write_stay_inside_the_workspace(sandbox: Sandbox, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("outside")
    with sandbox.workspace() as ws:
        with pytest.raises(ValueError):
            ws.write("../escape.txt", "x")
        with pytest.raises(ValueError):
            ws.write(str(tmp_path / "abs.txt"), "x")
        assert ws.read(str(outside)) is None
        assert ws.read("../../outside.txt") is None
        (ws.path / "link.txt").symlink_to(outside)
        assert ws.read("link.txt") is None  # a run could point our report files anywhere
        ws.write("link.txt", "replaced")
        assert outside.read_text() == "outside"
        assert ws.read("link.txt") == "replaced"
        assert ws.read("pkg") is None
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "abs.txt").exists()


def _unshare_works() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    for mapping in ("--map-root-user", "--map-current-user"):
        probe = subprocess.run([unshare, "--net", mapping, "true"], capture_output=True)
        if probe.returncode == 0:
            return True
    return False


def test_network_isolation_uses_namespaces_where_the_os_allows() -> None:
    expected = "netns" if _unshare_works() else "python-guard"
    assert network_isolation() == expected
    assert network_isolation("/nonexistent/python") == "python-guard"


@pytest.mark.skipif(not Path("/proc/self/ns/net").exists(), reason="no network namespaces")
def test_network_namespace_is_separate_when_in_effect(sandbox: Sandbox) -> None:
    parent = os.readlink("/proc/self/ns/net")
    with sandbox.workspace() as ws:
        output = run_script(
            ws,
            f"""
            import _socket, os
            if os.readlink("/proc/self/ns/net") == {parent!r}:
                print("same namespace")
            else:
                # _socket bypasses the Python guard; in a namespace of our own nothing
                # can leave anyway, so this only proves there is no route out.
                s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
                print("connect_ex", s.connect_ex(("10.255.255.1", 9)))
            """,
        )
    if sandbox.isolation in ("netns", "jail"):
        assert output.strip() == f"connect_ex {__import__('errno').ENETUNREACH}"
    else:
        assert output.strip() == "same namespace"


def test_guard_blocks_non_loopback_before_any_packet(sandbox: Sandbox) -> None:
    with sandbox.workspace() as ws:
        output = run_script(
            ws,
            """
            import socket
            attempts = {
                "create_connection": lambda: socket.create_connection(("10.255.255.1", 9), 1),
                "dns_name": lambda: socket.create_connection(("example.invalid", 80), 1),
                "connect": lambda: socket.socket().connect(("10.255.255.1", 9)),
                "connect_ex": lambda: socket.socket().connect_ex(("10.255.255.1", 9)),
                "ipv6": lambda: socket.socket(socket.AF_INET6).connect(("2001:db8::1", 9)),
                "udp": lambda: socket.socket(type=socket.SOCK_DGRAM).sendto(
                    b"x", ("10.255.255.1", 9)
                ),
            }
            for name, attempt in attempts.items():
                try:
                    attempt()
                except OSError as exc:
                    print(name, exc)
                else:
                    print(name, "NOT BLOCKED")
            """,
            timeout_s=5,
        )
    lines = output.splitlines()
    assert len(lines) == 6
    for line in lines:
        assert NETWORK_ERROR in line, line


def test_loopback_and_the_interpreters_own_sitecustomize_still_work(sandbox: Sandbox) -> None:
    files = {"sitecustomize.py": "print('project sitecustomize ran')\n"}
    with sandbox.workspace(files) as ws:
        output = run_script(
            ws,
            """
            import socket
            server = socket.create_server(("127.0.0.1", 0))
            client = socket.create_connection(server.getsockname(), timeout=5)
            conn, _ = server.accept()
            client.sendall(b"ping")
            print(conn.recv(4).decode())
            """,
        )
    assert output.splitlines() == ["project sitecustomize ran", "ping"]
