"""Ctrl-C at the dangerous moment, every time: while a git child of the hook holds
`index.lock` (issue 14).

A `git` stand-in on PATH takes the index lock the way git does, says it holds it, and waits
for the test's SIGINT to the hook's process group (as a terminal sends Ctrl-C). Two ways a
real git loses its lock that way:

- `lock-window`: git creates the lock before it registers the handler that removes it on
  a signal; a SIGINT in between kills it holding the lock (the stand-in has no handler);
- `slow-cleanup`: git got the signal and cleans up, but later than subprocess.run waited
  before its SIGKILL (a busy machine; here the test signals the stand-in directly).

Either way no lock may survive, and the hook must not return while its git child runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.processes import alive, default_sigint
from tests.helpers.repos import GitRepo, scrub_git_env

ROOT = Path(__file__).resolve().parent.parent

WRAPPER = """\
import os, signal, sys, time

args = sys.argv[1:]
i = 0
while i < len(args) and args[i] == "-c":
    i += 2
command = args[i] if i < len(args) else ""
real = os.environ["RB_TEST_REAL_GIT"]
ready = os.environ["RB_TEST_READY"]
if command == os.environ["RB_TEST_PAUSE_ON"] and not os.path.exists(ready):
    index = os.environ.get("GIT_INDEX_FILE") or os.path.join(".git", "index")
    lock = index + ".lock"
    fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # lock-window: a SIGINT kills it here

    def clean_up_slowly(signum, frame):
        time.sleep(0.6)  # longer than subprocess.run waits before its SIGKILL
        os.close(fd)
        os.unlink(lock)
        os._exit(130)

    if os.environ["RB_TEST_MODE"] == "slow-cleanup":
        signal.signal(signal.SIGINT, clean_up_slowly)
    with open(ready + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(ready + ".tmp", ready)
    time.sleep(1.5)  # the work done under the lock
    os.close(fd)
    os.unlink(lock)
os.execv(real, [real, *args])
"""

DRIVER = """\
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from review_bot.hook.run import HookOptions, run_hook
from tests.helpers.hook import fake_core
try:
    result = run_hook(Path.cwd(), {"model": sys.argv[2]}, HookOptions(memo=False),
                      run_core=fake_core)
except KeyboardInterrupt:
    raise SystemExit(130)
raise SystemExit(result.exit_code)
"""

MODULE = "def add(a: int, b: int) -> int:\n    return a + b\n"


@pytest.fixture(autouse=True)
def _git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    scrub_git_env(monkeypatch)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("pause_on", ["update-index", "write-tree"])
@pytest.mark.parametrize("mode", ["lock-window", "slow-cleanup"])
def test_ctrl_c_while_git_holds_the_index_lock(
    tmp_path: Path, smollm: Path, pause_on: str, mode: str
) -> None:
    real_git = shutil.which("git")
    assert real_git is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(f"#!{sys.executable}\n{WRAPPER}")
    wrapper.chmod(0o755)
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("calc.py", MODULE)
    repo.git("add", "calc.py")
    ready = tmp_path / "ready"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "RB_TEST_REAL_GIT": real_git,
        "RB_TEST_READY": str(ready),
        "RB_TEST_PAUSE_ON": pause_on,
        "RB_TEST_MODE": mode,
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(ROOT), str(smollm)],
        cwd=repo.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a foreground job of its own, as in a terminal
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()[0].decode()
        assert time.monotonic() < deadline, "the hook never reached git " + pause_on
        time.sleep(0.01)
    lock = Path(repo.root / ".git" / "index.lock")
    assert lock.exists()  # the dangerous moment
    git_pid = int(ready.read_text())
    os.killpg(proc.pid, signal.SIGINT)
    if mode == "slow-cleanup":
        os.kill(git_pid, signal.SIGINT)
    output = proc.communicate(timeout=60)[0].decode()
    # The hook returned only after its git child ...
    assert not alive(git_pid), output
    # ... and no lock survived, so the user's next `git add` works.
    assert not lock.exists(), output
    assert proc.returncode == 130, output
    repo.git("add", "calc.py")
    assert list(repo.root.glob(".git/*.lock")) == []
