"""The project's interpreter, end to end: real virtualenvs made by `python -m venv`, a real
pip install of a dependency (toolz) and of the project itself (editable, src layout),
real sandboxed pytest runs; the scripted model, and once the real SmolLM2."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from review_bot import report
from review_bot.config import Settings, load_settings
from review_bot.core.engine import OWN_PYTHON_NOTICE
from review_bot.doctor import diagnose
from review_bot.hook.run import HookOptions, run_hook
from review_bot.llm.scripted import ScriptedBackend, scripted_info
from review_bot.suggest import suggest
from tests.helpers.hook import scripted
from tests.helpers.projects import SHOP_CART, make_project, make_shop, make_venv
from tests.helpers.repos import GitRepo, scrub_git_env

SKU_TEST = """\
from shop.cart import sku


def test_sku(sizes):
    assert sku("tee", sizes[0]) == "TEE-S"
"""


def fenced(code: str) -> str:
    return f"```python\n{code}```\n"


@pytest.fixture(autouse=True)
def smoke_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoke-test model wherever a file must exist (never the 491 MB default)."""
    monkeypatch.setenv("REVIEW_BOT_MODEL", "smollm2")


@pytest.fixture(scope="session")
def shop_repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    """The src-layout project in a git repository, with its own .venv: toolz and pytest
    from the index, the project editable (no coverage: review-bot lends its own)."""
    root = make_shop(tmp_path_factory.mktemp("shop") / "shop")
    make_venv(root / ".venv", "toolz", "pytest", editable=root)
    repo = GitRepo(root)
    repo.git("init", "-q", "-b", "main")
    repo.git("-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    repo.git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return repo


@pytest.fixture
def shop(shop_repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The session's project, put back to its first commit after each test (.venv kept)."""
    scrub_git_env(monkeypatch)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    yield shop_repo.root
    shop_repo.git("reset", "-q", "--hard")
    shop_repo.git("clean", "-q", "-fd")


@pytest.fixture
def settings(tmp_path: Path, smollm: Path) -> Settings:
    return Settings(
        model=smollm,
        home=tmp_path / "home",
        runs=2,
        timeout_s=30,
        docstrings=False,
        strategy="chat",
        repair_attempts=0,
    )


def backend_for(backend: ScriptedBackend):  # type: ignore[no-untyped-def]
    return lambda path, bundled, settings: backend


def project_pytest(root: Path) -> subprocess.CompletedProcess[str]:
    """The project's own test run: its interpreter, its configuration."""
    return subprocess.run(
        [str(root / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def test_suggest_write_keeps_tests_that_the_projects_own_pytest_passes(
    shop: Path, settings: Settings
) -> None:
    # tests_dir comes from the project's testpaths; the settings of the test keep it.
    settings = dataclasses.replace(settings, tests_dir=load_settings(shop, {}).tests_dir)
    backend = ScriptedBackend(scripted_info(), [fenced(SKU_TEST)])
    cart = shop / "src" / "shop" / "cart.py"
    result = suggest(cart, settings, write=True, backend_factory=backend_for(backend))
    outcomes = {r.target.qualname: r.test for r in result.results}
    # sku: kept through the project's fixture `sizes`; distinct: its test runs now (toolz
    # is there), so its coverage is known.
    assert outcomes["sku"].status == "kept", outcomes["sku"].attempts
    assert outcomes["distinct"] == outcomes["distinct"]._replace(
        status="skipped", reason="covered by existing tests"
    )
    assert result.stats.model_calls == 1
    written = shop / "tests" / "test_shop_cart_generated.py"
    assert written in result.written
    done = project_pytest(shop)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_doctor_names_the_interpreter_and_what_is_lent(shop: Path) -> None:
    lines = diagnose(shop, {}).lines
    [line] = [line for line in lines if line.startswith("tests run with: ")]
    assert line.startswith(f"tests run with: {shop / '.venv' / 'bin' / 'python'} (Python 3.")
    assert "; the repository's .venv); lent from review-bot: coverage" in line


def test_a_missing_dependency_is_one_import_reason_and_no_model_call(
    tmp_path: Path, settings: Settings
) -> None:
    root = make_shop(tmp_path / "shop")
    python = make_venv(root / ".venv")  # bare: no toolz, no pytest (lent)
    backend = ScriptedBackend(scripted_info())  # any model call would fail the test
    cart = root / "src" / "shop" / "cart.py"
    result = suggest(cart, settings, backend_factory=backend_for(backend))
    assert backend.calls == [] and result.stats.model_calls == 0
    expected = (
        f"import: No module named 'toolz' -- the tests run with {python}; "
        "install the project's dependencies there or set python"
    )
    for r in result.results:
        test = r.test
        assert (test.status, test.reason, test.attempts) == ("rejected", "import", (expected,))
    text = report.to_text(result)
    assert text.count("No module named 'toolz'") == 1
    assert "2 rejected (2 import)" in text
    data = report.to_json(result)
    assert [t["test"]["reason"] for t in data["targets"]] == ["import", "import"]
    # Not cached: once toolz is there, the next run asks the model.
    assert result.stats.cache_hits == 0


def test_a_bare_venv_without_pytest_runs_the_tests_with_lent_tools(
    tmp_path: Path, settings: Settings
) -> None:
    root = make_project(tmp_path / "proj", {"calc.py": "def add(a, b):\n    return a + b\n"})
    make_venv(root / ".venv")
    prefix = str(root / ".venv")
    # The test passes only where it really runs: in the project's environment.
    code = (
        "import sys\n\nfrom calc import add\n\n\n"
        f"def test_add():\n    assert add(1, 2) == 3\n    assert sys.prefix == {prefix!r}\n"
    )
    backend = ScriptedBackend(scripted_info(), [fenced(code)])
    result = suggest(root / "calc.py", settings, backend_factory=backend_for(backend))
    [r] = result.results
    assert r.test.status == "kept", r.test.attempts


def test_the_hook_worker_uses_the_checkouts_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker runs on an export of the index, which has no .venv: the checkout's counts.
    scrub_git_env(monkeypatch)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    repo = GitRepo.create(tmp_path / "shop")
    make_shop(repo.root)
    python = make_venv(repo.root / ".venv")
    repo.commit_all("init")
    repo.write("src/shop/cart.py", SHOP_CART + LABEL)
    repo.git("add", "src/shop/cart.py")
    flags = {"docstrings": False, "strategy": "chat", "runs": 1}
    result = run_hook(repo.root, flags, HookOptions(memo=False))
    assert result.exit_code == 0, result.lines
    assert result.plan is not None and result.plan["model_calls"] == 0
    [target] = result.plan["targets"]
    assert target["test"]["reason"] == "import"
    assert target["test"]["attempts"] == [
        f"import: No module named 'toolz' -- the tests run with {python}; "
        "install the project's dependencies there or set python"
    ]
    assert repo.staged("tests/test_shop_cart_generated.py") is None


LABEL = '\n\ndef label(name: str) -> str:\n    """The label."""\n    return name.title()\n'


def test_the_hook_keeps_a_test_run_with_the_projects_venv(shop: Path, shop_repo: GitRepo) -> None:
    (shop / "src" / "shop" / "cart.py").write_text(SHOP_CART + LABEL)
    shop_repo.git("add", "src/shop/cart.py")
    reply = fenced(
        "import toolz\n\nfrom shop.cart import label\n\n\n"
        "def test_label():\n    assert label('tee') == 'Tee'\n    assert toolz.identity(1) == 1\n"
    )
    _, run_core = scripted(reply)
    flags = {"docstrings": False, "strategy": "chat", "runs": 1, "repair_attempts": 0}
    result = run_hook(shop, flags, HookOptions(memo=False), run_core=run_core)
    assert result.exit_code == 0, result.lines
    assert result.staged == ("tests/test_shop_cart_generated.py",), result.lines
    done = project_pytest(shop)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.model
def test_real_model_cases_on_the_src_layout_project(shop: Path, settings: Settings) -> None:
    settings = dataclasses.replace(settings, strategy="cases", repair_attempts=1)
    result = suggest(shop / "src" / "shop" / "cart.py", settings, functions=["sku"], write=True)
    [r] = result.results
    assert r.test.status == "kept", r.test.attempts
    assert result.stats.model_calls >= 1
    done = project_pytest(shop)
    assert done.returncode == 0, done.stdout + done.stderr


class Notices:
    def __init__(self) -> None:
        self.notices: list[str] = []

    def status(self, message: str) -> None:
        pass

    def notice(self, message: str) -> None:
        self.notices.append(message)


def test_no_project_environment_is_one_notice_per_run(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    code = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
    root = make_project(tmp_path / "proj", {"calc.py": code})
    test = "from calc import add, sub\n\n\ndef test_it():\n    assert add(1, 2) - sub(3, 1) == 1\n"
    backend = ScriptedBackend(scripted_info(), [fenced(test), fenced(test)])
    progress = Notices()
    result = suggest(
        root / "calc.py", settings, backend_factory=backend_for(backend), progress=progress
    )
    assert [r.test.status for r in result.results] == ["kept", "kept"]
    assert progress.notices.count(OWN_PYTHON_NOTICE) == 1
