"""action.yml and the example workflows: GitHub's schemas (check-jsonschema's vendored copies,
no network), and the properties the security of the set-up rests on."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))  # YAML 1.2: `on` is a string


def check(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    # Any attempt to reach the network goes to a closed loopback port and fails.
    dead = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "NO_PROXY": ""}
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_action_matches_the_github_actions_schema() -> None:
    done = check("vendor.github-actions", ACTION)
    assert done.returncode == 0, done.stdout + done.stderr


def test_example_workflows_match_the_github_workflows_schema() -> None:
    assert {p.name for p in WORKFLOWS} >= {
        "review-self-hosted.yml",
        "review-fork-safe.yml",
        "review-fork-safe-post.yml",
    }
    done = check("vendor.github-workflows", *WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_does_reject_a_broken_action(tmp_path: Path) -> None:
    broken = tmp_path / "action.yml"
    broken.write_text(ACTION.read_text().replace("using: composite", "using: compost"))
    done = check("vendor.github-actions", broken)
    assert done.returncode == 1 and "action.yml" in done.stdout


# -- action.yml ---------------------------------------------------------------------------------

action = load(ACTION)
STEPS: list[dict[str, Any]] = action["runs"]["steps"]


def step(name: str) -> dict[str, Any]:
    return next(s for s in STEPS if s.get("name") == name)


def test_inputs_are_declared_and_used() -> None:
    declared = set(action["inputs"])
    assert declared >= {
        "github_token",
        "model",
        "model_cache",
        "base_url",
        "gpu_layers",
        "level",
        "fail_level",
        "python_version",
        "extra_args",
    }
    assert action["inputs"]["github_token"]["default"] == "${{ github.token }}"
    text = ACTION.read_text()
    used = set(re.findall(r"inputs\.(\w+)", text))
    assert used == declared  # nothing referenced that is not declared, nothing unused


def test_the_token_never_reaches_the_step_that_runs_generated_code() -> None:
    review = step("Review the pull request")
    post = step("Post the review")
    assert "review-bot review --dry-run" in review["run"]
    assert not any("token" in str(v).lower() for v in review["env"].values())
    assert "GITHUB_TOKEN" not in review["env"]
    assert post["env"]["GITHUB_TOKEN"] == "${{ inputs.github_token }}"
    assert "--post-from" in post["run"]
    # Only the posting step sees the token at all.
    holders = [s["name"] for s in STEPS if "github_token" in str(s)]
    assert holders == ["Post the review"]


def test_steps_install_cache_and_run() -> None:
    uses = [s.get("uses", "") for s in STEPS]
    assert uses[0].startswith("actions/setup-python@")
    assert sum(u.startswith("actions/cache@") for u in uses) == 2  # wheels, the model
    install = step("Install review-bot")
    assert 'CMAKE_ARGS="-DGGML_CUDA=on"' in install["run"]
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert "nvidia-smi" in step("Detect a GPU")["run"]
    model_cache = step("Restore the model")
    assert model_cache["with"]["key"] == "review-bot-model-${{ inputs.model }}"
    assert "review-bot models pull" in step("Download the model")["run"]


@pytest.mark.parametrize("name", [s["name"] for s in STEPS if "run" in s])
def test_run_scripts_are_valid_bash(name: str, tmp_path: Path) -> None:
    script = step(name)["run"]
    # Expressions are substituted by the runner before bash sees the script.
    plain = re.sub(r"\$\{\{.*?\}\}", "x", script)
    path = tmp_path / "step.sh"
    path.write_text(plain)
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -- the examples -------------------------------------------------------------------------------


def jobs(path: Path) -> list[dict[str, Any]]:
    return list(load(path)["jobs"].values())


def action_steps(path: Path) -> list[dict[str, Any]]:
    return [s for job in jobs(path) for s in job["steps"] if "review-bot@" in s.get("uses", "")]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_examples_pass_only_declared_inputs(path: Path) -> None:
    for s in action_steps(path):
        assert set(s.get("with", {})) <= set(action["inputs"]), s


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_keep_no_token_and_have_the_history(path: Path) -> None:
    for job in jobs(path):
        for s in job["steps"]:
            if s.get("uses", "").startswith("actions/checkout@"):
                assert s["with"]["persist-credentials"] is False
                assert s["with"]["fetch-depth"] == 0
                assert s["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"


def test_fork_safe_pair() -> None:
    folder = ROOT / "examples" / "workflows"
    unprivileged = load(folder / "review-fork-safe.yml")
    poster = load(folder / "review-fork-safe-post.yml")
    assert list(unprivileged["on"]) == ["pull_request"]
    assert unprivileged["permissions"] == {"contents": "read"}
    [job] = unprivileged["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"  # never a self-hosted runner for fork code
    [review] = action_steps(folder / "review-fork-safe.yml")
    assert review["with"]["dry_run"] == "true"
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in job["steps"])
    # The privileged side: triggered by part 1's name, never checks out or runs PR code.
    assert poster["on"]["workflow_run"]["workflows"] == [unprivileged["name"]]
    [post_job] = poster["jobs"].values()
    uses = [s.get("uses", "") for s in post_job["steps"]]
    assert not any(u.startswith("actions/checkout@") for u in uses)
    assert not any("run" in s for s in post_job["steps"])
    [post] = action_steps(folder / "review-fork-safe-post.yml")
    assert set(post["with"]) <= {"post_from", "fail_level", "level", "github_token"}
    assert "pull_request_target" not in (folder / "review-fork-safe-post.yml").read_text()


def test_self_hosted_example_refuses_forks() -> None:
    [job] = jobs(ROOT / "examples" / "workflows" / "review-self-hosted.yml")
    assert "self-hosted" in job["runs-on"]
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({}, {"kind": "bundled"}),
        ({"MODEL": "models/m.gguf"}, {"kind": "file", "model": "<tmp>/models/m.gguf"}),
        ({"MODEL": "owner/repo/file.Q4_K_M.gguf"}, {"kind": "hub"}),
        ({"MODEL": "codellama-7b-instruct"}, {"kind": "hub"}),
        ({"MODEL": "o/r/f.gguf", "BASE_URL": "http://127.0.0.1:8080/v1"}, {"kind": "server"}),
        ({"POST_FROM": "/tmp/r.json"}, {"kind": "none", "review": "/tmp/r.json"}),
        ({"OUTPUT": "out/r.json"}, {"kind": "bundled", "review": "out/r.json"}),
        ({"GPU": "true"}, {"flavour": "cuda"}),
    ],
)
def test_the_model_and_paths_step(
    inputs: dict[str, str], expected: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.gguf").write_bytes(b"GGUF")
    output = tmp_path / "github-output"
    env = {
        # The runner sets every variable of the step's `env`, empty when the input is.
        **dict.fromkeys(step("Choose paths and the model")["env"], ""),
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "GITHUB_OUTPUT": str(output),
        "MODEL_CACHE": "~/.cache/review-bot",
        "GPU": "false",
        **inputs,
    }
    bash = shutil.which("bash")
    assert bash is not None
    script = step("Choose paths and the model")["run"]
    done = subprocess.run(
        [bash, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    got = dict(line.split("=", 1) for line in output.read_text().splitlines())
    want = {key: value.replace("<tmp>", str(tmp_path)) for key, value in expected.items()}
    assert got.items() >= want.items()
    assert got["model_cache"] == f"{tmp_path}/home/.cache/review-bot"
    if "review" not in expected:
        assert got["review"] == f"{tmp_path}/runner-temp/review-bot/review.json"
