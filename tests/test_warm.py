"""The warm runner: a fork server that gives each run what a fresh `python -m` would."""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from review_bot.sandbox.warm import SERVER_SOURCE, WarmRunner

TEST_ADD = "from mod import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "mod.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "test_mod.py").write_text(TEST_ADD)
    return root


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[WarmRunner]:
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(tmp_path)}
    warm = WarmRunner([sys.executable, str(SERVER_SOURCE)], env=env, cwd=tmp_path)
    yield warm
    warm.close()


def run(
    runner: WarmRunner, project: Path, *args: str, timeout_s: float = 60.0, **env: str
) -> tuple[int, bool, str]:
    log = project.parent / "run.log"
    log.unlink(missing_ok=True)
    log.touch()  # the client makes the log (Workspace._run_warm); the server only appends
    outcome = runner.run(
        cwd=project,
        argv=["-m", *args],
        env={"PATH": os.environ.get("PATH", os.defpath), "HOME": str(project), **env},
        path=[],
        log=log,
        rlimits=[],
        timeout_s=timeout_s,
    )
    assert outcome is not None
    return outcome.returncode, outcome.timed_out, log.read_text() if log.exists() else ""


def test_pytest_runs_pass_and_fail_like_a_fresh_interpreter(
    runner: WarmRunner, project: Path
) -> None:
    code, timed_out, output = run(runner, project, "pytest", "-q", "-p", "no:cacheprovider")
    assert (code, timed_out) == (0, False)
    assert "1 passed" in output
    (project / "test_mod.py").write_text(TEST_ADD.replace("== 3", "== 4"))
    code, _, output = run(runner, project, "pytest", "-q", "-p", "no:cacheprovider")
    assert code == 1 and "1 failed" in output
    assert runner.starts == 1  # one server for every run


def test_each_run_gets_its_own_environment_and_fresh_modules(
    runner: WarmRunner, project: Path
) -> None:
    (project / "test_env.py").write_text(
        "import os, sys\n\n\ndef test_env():\n"
        "    assert os.environ['MARK'] == os.environ['EXPECTED']\n"
        "    assert 'LEAK' not in os.environ\n"
        "    import mod\n"
        "    mod.STATE = getattr(mod, 'STATE', 0) + 1\n"
        "    assert mod.STATE == 1\n"
    )
    for mark in ("one", "two"):
        code, _, output = run(
            runner, project, "pytest", "-q", "-p", "no:cacheprovider", "test_env.py",
            MARK=mark, EXPECTED=mark,
        )  # fmt: skip
        assert code == 0, output


def test_a_run_past_its_deadline_is_killed(runner: WarmRunner, project: Path) -> None:
    (project / "slow.py").write_text("import time\ntime.sleep(60)\n")
    start = time.monotonic()
    code, timed_out, _ = run(runner, project, "slow", timeout_s=1.0)
    assert timed_out and code < 0
    assert time.monotonic() - start < 15
    assert run(runner, project, "pytest", "-q", "-p", "no:cacheprovider")[0] == 0


def test_a_run_that_kills_its_runner_fails_and_the_next_gets_a_new_one(
    runner: WarmRunner, project: Path
) -> None:
    (project / "killer.py").write_text("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n")
    code, _, _ = run(runner, project, "killer")
    assert code < 0
    code, _, output = run(runner, project, "pytest", "-q", "-p", "no:cacheprovider")
    assert code == 0, output
    assert runner.starts == 2


def test_exit_codes_and_tracebacks_reach_the_caller(runner: WarmRunner, project: Path) -> None:
    (project / "exits.py").write_text("import sys\nsys.exit(7)\n")
    (project / "raises.py").write_text("raise ValueError('boom')\n")
    assert run(runner, project, "exits")[0] == 7
    code, _, output = run(runner, project, "raises")
    assert code == 1 and "ValueError: boom" in output
    code, _, output = run(runner, project, "no_such_module")
    assert code == 1 and "No module named" in output


def test_rlimits_apply_to_the_run_only(runner: WarmRunner, project: Path, tmp_path: Path) -> None:
    (project / "spin.py").write_text("while True:\n    pass\n")
    log = tmp_path / "spin.log"
    log.touch()
    outcome = runner.run(
        cwd=project,
        argv=["-m", "spin"],
        env={"PATH": os.defpath},
        path=[],
        log=log,
        rlimits=[(resource.RLIMIT_CPU, (1, 2))],
        timeout_s=30.0,
    )
    assert outcome is not None and outcome.returncode < 0 and not outcome.timed_out
    assert run(runner, project, "pytest", "-q", "-p", "no:cacheprovider")[0] == 0


def test_a_server_that_cannot_start_means_cold_runs(tmp_path: Path, project: Path) -> None:
    broken = WarmRunner([sys.executable, "-c", "print('not json')"], env={}, cwd=tmp_path)
    assert broken.run(
        cwd=project, argv=["-m", "pytest"], env={}, path=[], log=tmp_path / "x", rlimits=[],
        timeout_s=5.0,
    ) is None  # fmt: skip
    assert broken.broken


PARENT = (
    "import os, pathlib, sys\n"
    "parent = pathlib.Path(f'/proc/{os.getppid()}/cmdline').read_bytes()\n"
    "print('warm' if b'warm_server' in parent else 'fresh', hash('seed'))\n"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_sandbox_forks_python_m_runs_and_runs_fresh_ones_fresh(project: Path) -> None:
    from review_bot.sandbox import Limits, Sandbox

    limits = Limits(timeout_s=60.0, memory_mb=2048, cpu_s=60)
    with Sandbox(project, limits) as sandbox, sandbox.workspace({"who.py": PARENT}) as ws:
        warm = [ws.run(["python", "-m", "who"]).output.split() for _ in range(2)]
        fresh = ws.run(["python", "-m", "who"], fresh=True).output.split()
        script = ws.run(["python", "who.py"]).output.split()  # not `-m`: never forked
        assert sandbox.warm_runner() is not None
        passed = ws.run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"])
    assert [w[0] for w in warm] == ["warm", "warm"] and warm[0][1] == warm[1][1]
    assert fresh[0] == "fresh" and script[0] == "fresh"
    assert fresh[1] != warm[0][1]  # a fresh interpreter has its own hash seed
    assert passed.returncode == 0 and "1 passed" in passed.output
    with (
        Sandbox(project, limits, warm=False) as sandbox,
        sandbox.workspace({"who.py": PARENT}) as ws,
    ):
        assert ws.run(["python", "-m", "who"]).output.split()[0] == "fresh"
        assert sandbox.warm_runner() is None


def _plugin_distribution(site: Path, module: str, source: str | None) -> None:
    """A pytest plugin installed into `site` as pip would leave it: the module (unless
    it lives elsewhere) and a dist-info whose entry point pytest loads at every start."""
    if source is not None:
        (site / f"{module}.py").write_text(source)
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[pytest11]\n{module} = {module}\n")
    (info / "RECORD").write_text(f"{module}.py,,\n{module}-1.0.dist-info/METADATA,,\n")


STRICT_INI = "[pytest]\nfilterwarnings =\n    error\n"


def test_a_preloaded_plugin_passes_where_warnings_are_errors(tmp_path: Path) -> None:
    # Issue 21: with `filterwarnings = error`, every warm run failed on "Module already
    # imported so cannot be rewritten" for each plugin the warm interpreter had preloaded.
    from review_bot.sandbox import Limits, Sandbox

    project = tmp_path / "strict"
    project.mkdir()
    (project / "pytest.ini").write_text(STRICT_INI)
    (project / "test_it.py").write_text(
        "def test_plugin_fixture(rb_plugin_value):\n    assert rb_plugin_value == 41 + 1\n"
    )
    site = tmp_path / "site"
    site.mkdir()
    plugin = "import pytest\n\n\n@pytest.fixture\ndef rb_plugin_value():\n    return 42\n"
    _plugin_distribution(site, "rb_demo_plugin", plugin)
    limits = Limits(timeout_s=60.0, memory_mb=2048, cpu_s=60)
    argv = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    with Sandbox(project, limits, extra_path=[site]) as sandbox, sandbox.workspace() as ws:
        warm = ws.run(argv)
        runner = sandbox.warm_runner()
        fresh = ws.run(argv, fresh=True)
    assert runner is not None and not runner.broken
    assert fresh.returncode == 0, fresh.output
    assert warm.returncode == 0, warm.output
    assert "1 passed" in warm.output and "cannot be rewritten" not in warm.output


def test_a_warning_the_project_makes_an_error_still_fails_a_warm_run(tmp_path: Path) -> None:
    from review_bot.sandbox import Limits, Sandbox

    project = tmp_path / "strict"
    project.mkdir()
    (project / "pytest.ini").write_text(STRICT_INI)
    (project / "test_it.py").write_text(
        "import warnings\n\n\ndef test_warns():\n    warnings.warn('old', DeprecationWarning)\n"
    )
    limits = Limits(timeout_s=60.0, memory_mb=2048, cpu_s=60)
    with Sandbox(project, limits) as sandbox, sandbox.workspace() as ws:
        warm = ws.run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"])
    assert warm.returncode == 1 and "DeprecationWarning: old" in warm.output


def test_the_projects_own_plugin_is_not_preloaded(tmp_path: Path) -> None:
    # A project that is itself a pytest plugin, installed editable: its module must come
    # from each run's workspace, not from the tree as it was when the server started.
    from review_bot.sandbox import Limits, Sandbox

    project = tmp_path / "plugin-project"
    project.mkdir()
    (project / "rb_own_plugin.py").write_text("VALUE = 1\n")
    (project / "test_value.py").write_text(
        "import rb_own_plugin\n\n\ndef test_value():\n    assert rb_own_plugin.VALUE == 2\n"
    )
    site = tmp_path / "site"
    site.mkdir()
    _plugin_distribution(site, "rb_own_plugin", None)
    limits = Limits(timeout_s=60.0, memory_mb=2048, cpu_s=60)
    changed = {"rb_own_plugin.py": "VALUE = 2\n"}
    # The project's directory on the path stands in for the editable install's finder.
    with (
        Sandbox(project, limits, extra_path=[site, project]) as sandbox,
        sandbox.workspace(changed) as ws,
    ):
        warm = ws.run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"])
    assert warm.returncode == 0, warm.output
