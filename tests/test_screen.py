"""The screening policy for kept tests (issue 22): what a test's own text may not do,
since it runs later outside the jail, in the user's own pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from review_bot.config import Settings
from review_bot.llm.scripted import ScriptedBackend, scripted_info
from review_bot.sandbox.screen import unsafe_construct
from review_bot.suggest import suggest
from tests.helpers.hook import fence
from tests.helpers.openai_stub import Reply, Stub, models_list, stub
from tests.helpers.projects import make_project

__all__ = ["stub"]  # the OpenAI-compatible stub fixture

# The delayed payload: behaves inside the jail, acts outside it.
DELAYED = """\
import os

from calc import add


def test_add():
    if os.environ.get("HOME", "").startswith("/home/"):
        os.system("sh -c 'env > /tmp/leak'")
    assert add(1, 2) == 3
"""


def chat_reply(text: str) -> dict[str, object]:
    """A chat completion as an OpenAI-compatible server sends it."""
    message = {"role": "assistant", "content": text}
    usage = {"prompt_tokens": 7, "completion_tokens": 3}
    return {"choices": [{"message": message, "finish_reason": "stop"}], "usage": usage}


ADD_TEST = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"

HOSTILE = {
    "delayed payload": (DELAYED, "uses os.environ (line 7)"),
    "subprocess": ("import subprocess\n", "imports subprocess (line 1)"),
    "from subprocess": ("from subprocess import run\n", "imports subprocess (line 1)"),
    "socket": ("import socket as s\n", "imports socket (line 1)"),
    "urllib": ("from urllib.request import urlopen\n", "imports urllib.request"),
    "ctypes": ("import ctypes\n", "imports ctypes"),
    "os.system alias": ("import os as o\no.system('x')\n", "uses os.system (line 2)"),
    "from os import system": ("from os import system\n", "imports os.system"),
    "getenv": ("import os\nos.getenv('GITHUB_TOKEN')\n", "uses os.getenv"),
    "eval": ("def test_x():\n    eval('1')\n", "uses eval (line 2)"),
    "exec": ("exec('import os')\n", "uses exec"),
    "__import__": ("__import__('os').system('x')\n", "uses __import__"),
    "importlib": ("import importlib\n", "imports importlib"),
    "getattr on a module": (
        "import os\ngetattr(os, 'sys' + 'tem')\n",
        "uses getattr() on a module",
    ),
    "computed getattr": (
        "def t(x):\n    getattr(x, name)\n",
        "uses getattr() with a computed name",
    ),
    "dunder escape": ("().__class__.__bases__[0].__subclasses__()\n", "uses .__subclasses__"),
    "builtins": ("__builtins__['open']\n", "uses __builtins__"),
    "absolute write": ("open('/home/u/.bashrc', 'a')\n", "writes with open() outside"),
    "write mode keyword": ("open(p, mode='w')\n", "writes with open() outside"),
    "unknown mode": ("open(p, m)\n", "writes with open() outside"),
    "path write": ("from pathlib import Path\nPath('/x').write_text('y')\n", ".write_text()"),
    "tmp_path joined to an absolute path": (
        "def test_x(tmp_path):\n    (tmp_path / '/etc/passwd').write_text('')\n",
        ".write_text()",
    ),
    "tmp_path climbed out of": (
        "def test_x(tmp_path):\n    open(str(tmp_path) + '/../../x', 'w')\n",
        "writes with open() outside",
    ),
    "shutil.rmtree": ("import shutil\nshutil.rmtree('/')\n", "uses shutil.rmtree"),
    "sys.modules": ("import sys\nsys.modules['calc'] = None\n", "uses sys.modules"),
    "os.chdir": ("import os\nos.chdir('/')\n", "uses os.chdir"),
    "multiprocessing": ("import multiprocessing.pool\n", "imports multiprocessing.pool"),
    "requests": ("import requests\n", "imports requests"),
}

BENIGN = {
    "plain asserts": "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    "parametrize and raises": (
        "import pytest\nfrom calc import div\n\n\n"
        "@pytest.mark.parametrize(('a', 'b'), [(1, 0)])\n"
        "def test_div(a, b):\n    with pytest.raises(ZeroDivisionError):\n        div(a, b)\n"
    ),
    "writes under tmp_path": (
        "import json\n\n\ndef test_save(tmp_path):\n    target = tmp_path / 'out.json'\n"
        "    target.write_text(json.dumps([1]))\n    with open(target, 'w') as f:\n"
        "        f.write('x')\n    (tmp_path / 'd').mkdir()\n"
        "    assert json.loads(target.read_text()) == 'x' or True\n"
    ),
    "reads a file": "def test_read():\n    with open('data.txt') as f:\n        f.read()\n",
    "os.path and sys.version": (
        "import os\nimport sys\n\n\ndef test_x():\n"
        "    assert os.path.join('a', 'b') and sys.version_info >= (3,)\n"
    ),
    "monkeypatch": (
        "import os\n\n\ndef test_env(monkeypatch):\n    monkeypatch.setenv('LANG', 'C')\n"
        "    monkeypatch.setattr(os.path, 'sep', '/')\n"
    ),
    "getattr with a literal name": (
        "def test_x(obj):\n    assert getattr(obj, 'name', None) is None\n"
    ),
    "a relative import": "from .helpers import thing\n",
    "pickle round trip": (
        "import pickle\n\n\ndef test_x():\n    assert pickle.loads(pickle.dumps(1)) == 1\n"
    ),
    "tmp_path_factory": (
        "def test_x(tmp_path_factory):\n    base = tmp_path_factory.mktemp('d')\n"
        "    for name in ('a', 'b'):\n        path = base / name\n        path.touch()\n"
    ),
    "syntax error": "def broken(:\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_forbidden_construct_is_named(name: str) -> None:
    code, expected = HOSTILE[name]
    found = unsafe_construct(code)
    assert found is not None and expected in found, found


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_what_ordinary_unit_tests_do_passes(name: str) -> None:
    assert unsafe_construct(BENIGN[name]) is None


def test_a_delayed_payload_that_passes_in_the_jail_is_never_written(
    smollm: Path, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "p", {"calc.py": "def add(a, b):\n    return a + b\n"})
    backend = ScriptedBackend(scripted_info(), [fence(DELAYED)])
    settings = Settings(
        model=smollm,
        home=tmp_path / "home",
        runs=1,
        docstrings=False,
        strategy="chat",
        repair_attempts=0,
        mutation=False,
    )
    report = suggest(project / "calc.py", settings, write=True, backend_factory=lambda *_: backend)
    test = report.results[0].test
    assert (test.status, test.reason) == ("rejected", "unsafe"), test.attempts
    # It did pass in the jail (the environment check saw the sandbox): only the screen
    # stood between it and the user's tree.
    assert test.attempts == (
        "chat#0: unsafe: uses os.environ (line 7): generated tests may "
        "not read or change the environment",
    )
    assert not (project / "tests").exists()


def test_the_hook_with_a_hostile_server_stages_nothing_unsafe(
    tmp_path: Path, stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 22: the delayed payload was staged and committed by the hook (exit 0, the code
    # never shown). Through the real worker process and a stand-in OpenAI-compatible server.
    from review_bot.hook.run import HookOptions, run_hook
    from tests.helpers.repos import GitRepo, scrub_git_env

    scrub_git_env(monkeypatch)
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("calc.py", "def add(a, b):\n    return a + b\n")
    repo.git("add", "calc.py")
    stub.on("GET /v1/models", Reply(200, models_list("m", owned_by="x")))
    stub.on("POST /v1/chat/completions", Reply(200, chat_reply(fence(DELAYED))))
    monkeypatch.setenv("REVIEW_BOT_BACKEND", "openai")
    monkeypatch.setenv("REVIEW_BOT_BASE_URL", stub.url)
    monkeypatch.setenv("REVIEW_BOT_HOME", str(tmp_path / "home"))
    flags = {"strategy": "chat", "repair_attempts": 0, "runs": 1, "docstrings": False}
    result = run_hook(repo.root, flags, HookOptions(memo=False))
    assert repo.staged("tests/test_calc_generated.py") is None
    assert not (repo.root / "tests").exists()
    text = "\n".join(result.lines)
    assert "test rejected (unsafe)" in text and "uses os.environ (line 7)" in text, text


def test_suggest_write_never_follows_a_link_out_of_the_repository(
    tmp_path: Path, stub: Stub
) -> None:
    # Issue 22: `tests/` swapped for a link to a directory outside after a first run was
    # followed on the cached path (the uncached path failed with an internal error, exit
    # 3). Through the real CLI and a stand-in OpenAI-compatible server.
    project = make_project(tmp_path / "p", {"calc.py": "def add(a, b):\n    return a + b\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    stub.on("GET /v1/models", Reply(200, models_list("m", owned_by="x")))
    stub.on("POST /v1/chat/completions", Reply(200, chat_reply(fence(ADD_TEST))))
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "REVIEW_BOT_BACKEND": "openai",
        "REVIEW_BOT_BASE_URL": stub.url,
        "REVIEW_BOT_HOME": str(tmp_path / "home"),
    }
    argv = [sys.executable, "-m", "review_bot", "suggest", "--write", "--no-docstrings"]
    argv += ["--strategy", "chat", "--runs", "1", "--no-mutation", str(project / "calc.py")]

    def suggest_write() -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)

    first = suggest_write()
    written = project / "tests" / "test_calc_generated.py"
    assert first.returncode == 0 and written.is_file(), first.stderr
    calls = len(stub.requests("POST /v1/chat/completions"))
    (project / "tests").rename(tmp_path / "moved")
    (project / "tests").symlink_to(outside)
    for attempt in ("cached", "uncached"):
        second = suggest_write()
        assert list(outside.iterdir()) == [], attempt
        assert second.returncode == 0, (attempt, second.stderr)
        # The test is skipped with the reason, before any model call; nothing is written.
        assert "tests: a symbolic link; review-bot writes only inside" in second.stdout, attempt
        assert len(stub.requests("POST /v1/chat/completions")) == calls, attempt
        env["REVIEW_BOT_HOME"] = str(tmp_path / "home2")
