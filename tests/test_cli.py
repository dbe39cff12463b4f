"""The command line: exit codes, one-line errors, and the real model end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from review_bot.commands import main
from tests.helpers.projects import make_project

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "review_bot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.py", b"def f(:\n    pass\n", "broken.py:1: syntax error"),
        ("latin.py", b"x = 'caf\xe9'\n", "not UTF-8"),
        ("blob.py", b"\x00\x01binary", "binary file"),
        ("notes.txt", b"hello", "not a Python file"),
    ],
)
def test_bad_input_is_one_line_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["suggest", str(path)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.startswith("Error: ") and err.count("\n") == 1


def test_missing_file_and_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suggest", str(tmp_path / "gone.py")]) == 1
    assert "no such file" in capsys.readouterr().err
    project = make_project(tmp_path / "p", {"m.py": "def f():\n    return 1\n"})
    assert main(["suggest", str(project / "m.py"), "--model", str(tmp_path / "no.gguf")]) == 1
    err = capsys.readouterr().err
    assert err == f"Error: {tmp_path / 'no.gguf'}: model file not found\n"


def test_corrupt_model_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path / "p", {"m.py": "def f():\n    return 1\n"})
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGUF" + b"\xff" * 64)
    assert main(["suggest", str(project / "m.py"), "--model", str(fake), "--no-cache"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "GGUF" in err and err.count("\n") == 1


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suggest", "x.py", "--strategy", "telepathy"]) == 2
    assert "Invalid value for '--strategy'" in capsys.readouterr().err
    assert main(["nonsense"]) == 2


def test_unknown_function_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path / "p", {"m.py": "def f():\n    return 1\n"})
    assert main(["suggest", str(project / "m.py"), "--function", "g"]) == 1
    assert "no function named g" in capsys.readouterr().err


@pytest.mark.model
def test_suggest_on_the_real_model_end_to_end(tmp_path: Path) -> None:
    """The README's demo path on the smoke-test GGUF: the CLI, the cache, then --write."""
    project = tmp_path / "demo"
    shutil.copytree(DEMO, project)
    args = ("suggest", "textutils.py", "--function", "clamp", "--function", "slugify", "--json")
    args += ("--model", "smollm2")
    first = run_cli(*args, cwd=project)
    assert first.returncode == 0, first.stderr
    assert "SmolLM2-135M is a smoke-test model" in first.stderr
    report = json.loads(first.stdout)
    assert report["model"]["arch"] == "llama"
    assert report["model"]["path"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert report["cache"] == {"hits": 0, "misses": 4}
    assert report["timings"]["model_s"] > 0 and report["model_calls"] > 0
    assert [t["test"]["status"] for t in report["targets"]].count("kept") >= 1, report
    for target in report["targets"]:
        assert target["test"]["status"] in ("kept", "rejected")
        assert (target["test"]["code"] is not None) == (target["test"]["status"] == "kept")
    # A second run on unchanged code: no model call at all, the same answers.
    second = run_cli(*args, cwd=project)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["model_calls"] == 0 and again["cache"] == {"hits": 4, "misses": 0}
    assert again["targets"] == report["targets"]
    # No model was used: no banner about it (issue 21).
    assert "smoke-test model" not in second.stderr
    # --write takes the cached results; the written tests pass under a separate pytest.
    third = run_cli(*args, "--write", cwd=project)
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout)["model_calls"] == 0
    generated = project / "tests" / "test_textutils_generated.py"
    assert generated.is_file()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(generated)],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout
