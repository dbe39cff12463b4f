"""`review-bot models list|info|pull|path`, `serve --print-command` and `doctor`.

`pull` runs huggingface_hub against a loopback stand-in for the hub (HF_ENDPOINT) that
answers its HEAD and GET requests, with Range for resumed transfers.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from review_bot.commands import main
from review_bot.errors import FatalError
from review_bot.llm.gpu import backend_name, build_info, describe_gpu_layers, resolve_gpu_layers
from review_bot.llm.threads import default_server_threads
from tests.helpers.gguf import codegemma_it
from tests.helpers.gguf import write_gguf as _gguf
from tests.helpers.openai_stub import Reply, Stub, free_port, models_list, stub
from tests.helpers.projects import make_project

__all__ = ["stub"]  # the OpenAI-compatible stub fixture, shared with its own module

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))  # every exit status comes back as main()'s return value
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def tiny_gguf(path: Path, arch: str = "llama", padding: int = 200_000) -> bytes:
    """A GGUF header (no tensors) padded to a size worth interrupting."""
    _gguf(path, {"general.architecture": arch, "general.name": "tiny"})
    data = path.read_bytes() + bytes(padding)
    path.write_bytes(data)
    return data


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "rb-home"
    monkeypatch.setenv("REVIEW_BOT_HOME", str(path))
    monkeypatch.chdir(tmp_path)
    return path


# -- list, info, path --------------------------------------------------------------------


def test_models_list(home: Path, capsys: pytest.CaptureFixture[str], smollm: Path) -> None:
    models = home / "models"
    models.mkdir(parents=True)
    tiny_gguf(models / "codellama-7b-instruct.Q4_K_M.gguf", padding=0)
    tiny_gguf(models / "mine.gguf", padding=0)
    hidden = models / ".cache" / "huggingface" / "download"
    hidden.mkdir(parents=True)
    (hidden / "partial.gguf").write_bytes(b"GGUF")
    code, out, _ = run(capsys, "models", "list")
    assert code == 0
    assert f"model cache: {models}" in out
    lines = out.splitlines()
    assert any(line.split()[:1] == ["codellama-7b-instruct"] for line in lines)
    assert any("mine.gguf" in line for line in lines) and "partial" not in out
    assert lines[1].split()[:5] == ["qwen2.5-coder-0.5b", "491.4", "MB", "(not", "assembled)"]
    assert any(line.split()[:1] == ["smollm2"] and str(smollm) in line for line in lines)
    available = out.split("available with `review-bot models pull NAME`:")[1]
    assert "codegemma-2b" in available and "codellama-7b-instruct " not in available
    code, out, _ = run(capsys, "models", "list", "--json")
    data = json.loads(out)
    assert [m["name"] for m in data["models"]] == [
        "qwen2.5-coder-0.5b",
        "codellama-7b-instruct",
        "mine.gguf",
        "smollm2",
    ]
    assert data["models"][0]["path"] is None
    assert "codellama-7b-instruct" not in {e["name"] for e in data["available"]}


def test_models_info_smoke_model(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "info", "smollm2")
    assert code == 0
    assert "architecture:   llama\n" in out and "quantization:   Q4_1\n" in out
    assert "parameters:     134.5M\n" in out and "context length: 8192\n" in out
    assert "chat template:  yes\nsystem role:    supported\nFIM tokens:     none\n" in out
    assert "strategy:       auto: cases, then chat\n" in out
    code, out, _ = run(capsys, "models", "info", "smollm2", "--json")
    facts = json.loads(out)
    assert not facts["bundled"] and facts["eos_token"] == "<|im_end|>"  # not the default
    assert facts["strategies"] == ["cases", "chat"] and "<|im_end|>" in facts["stop_tokens"]


def test_models_info_codegemma_template(
    home: Path, capsys: pytest.CaptureFixture[str], smollm: Path, tmp_path: Path
) -> None:
    model = codegemma_it(smollm, tmp_path / "codegemma-it.gguf")
    (tmp_path / "pyproject.toml").write_text('[tool.review-bot]\nstrategy = "complete"\n')
    code, out, _ = run(capsys, "models", "info", str(model), "--json")
    facts = json.loads(out)
    assert code == 0
    assert facts["system_role"] == (
        "not supported (System role not supported): folded into the first user turn"
    )
    assert facts["fim"] == {
        "family": "codegemma",
        "tokens": ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"],
        "stop": ["<|file_separator|>", "<|fim_prefix|>"],
    }
    assert "<end_of_turn>" in facts["stop_tokens"]
    assert facts["strategy"] == "complete (set in the configuration)"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "model file not found"),
        (b"hello, not a model\n", "not a GGUF model file"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 5), "truncated GGUF file"),
        ("clip", "unsupported model architecture 'clip'"),
    ],
)
def test_bad_model_files_give_one_line(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: bytes | str | None,
    message: str,
) -> None:
    path = tmp_path / "model.gguf"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        _gguf(path, {"general.architecture": content})
    for command in (["models", "info"], ["serve", "--print-command", "--model"]):
        code, out, err = run(capsys, *command, str(path))
        assert code == 1 and out == ""
        assert err == f"Error: {path}: {message}\n"


def test_models_path(home: Path, capsys: pytest.CaptureFixture[str], smollm: Path) -> None:
    assert run(capsys, "models", "path", "smollm2") == (0, f"{smollm}\n", "")
    code, _, err = run(capsys, "models", "path", "codegemma-2b")
    assert code == 1
    assert err == (
        f"Error: codegemma-2b is not in {home / 'models'}: "
        "run `review-bot models pull codegemma-2b`\n"
    )
    pulled = home / "models" / "codegemma-2b-Q4_K_M.gguf"
    pulled.parent.mkdir(parents=True)
    tiny_gguf(pulled, padding=0)
    assert run(capsys, "models", "path", "codegemma-2b") == (0, f"{pulled}\n", "")
    ref = "bartowski/codegemma-2b-GGUF/codegemma-2b-Q4_K_M.gguf"
    assert run(capsys, "models", "path", ref) == (0, f"{pulled}\n", "")
    code, _, err = run(capsys, "models", "pull", "not-a-model")
    assert code == 1 and "neither a known model" in err


# -- pull against a stand-in hub ---------------------------------------------------------


@dataclass
class Hub:
    files: dict[str, bytes] = field(default_factory=dict)  # "repo/file" -> content
    claimed_sha: dict[str, str] = field(default_factory=dict)  # a lying X-Linked-Etag
    cut_first_get: bool = False
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _hub_handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _lookup(self) -> tuple[str, bytes] | None:
            # /{owner}/{repo}/resolve/{revision}/{filename}
            parts = self.path.split("/")
            if len(parts) < 6 or parts[3] != "resolve":
                return None
            key = f"{parts[1]}/{parts[2]}/{'/'.join(parts[5:])}"
            return (key, hub.files[key]) if key in hub.files else None

        def _headers(self, status: int, key: str, data: bytes, length: int) -> None:
            sha = hub.claimed_sha.get(key, hashlib.sha256(data).hexdigest())
            self.send_response(status)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{sha}"')
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")

        def do_HEAD(self) -> None:
            hub.seen.append(("HEAD", self.path, {k.lower(): v for k, v in self.headers.items()}))
            found = self._lookup()
            if found is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            key, data = found
            self._headers(200, key, data, len(data))
            self.end_headers()

        def do_GET(self) -> None:
            hub.seen.append(("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
            found = self._lookup()
            assert found is not None
            key, data = found
            start = 0
            if self.headers.get("Range", "").startswith("bytes="):
                start = int(self.headers["Range"][len("bytes=") :].split("-")[0])
                self._headers(206, key, data, len(data) - start)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self._headers(200, key, data, len(data))
            self.end_headers()
            body = data[start:]
            if hub.cut_first_get and start == 0:
                hub.cut_first_get = False
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True  # the connection drops mid-transfer
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Hub]:
    state = Hub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _hub_handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", state.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    yield state
    server.shutdown()
    server.server_close()


def test_pull_downloads_checks_and_describes(
    home: Path, hub: Hub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tiny_gguf(tmp_path / "src.gguf")
    hub.files["acme/tiny-GGUF/tiny.Q4_K_M.gguf"] = data
    code, out, _ = run(capsys, "models", "pull", "acme/tiny-GGUF/tiny.Q4_K_M.gguf")
    target = home / "models" / "tiny.Q4_K_M.gguf"
    assert code == 0, out
    assert target.read_bytes() == data
    assert out == f"{target}\n  llama, unknown parameters\n"
    assert [s[0] for s in hub.seen if "resolve/main" in s[1]][-1] == "GET"
    assert all(s[2].get("authorization") == "Bearer hf_test_token" for s in hub.seen)
    # A curated name resolves to its repository and file.
    hub.files["bartowski/codegemma-2b-GGUF/codegemma-2b-Q4_K_M.gguf"] = data
    assert run(capsys, "models", "pull", "codegemma-2b")[0] == 0
    pulled = home / "models" / "codegemma-2b-Q4_K_M.gguf"
    assert run(capsys, "models", "path", "codegemma-2b") == (0, f"{pulled}\n", "")


def test_pull_with_a_wrong_sha256_leaves_nothing(
    home: Path, hub: Hub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tiny_gguf(tmp_path / "src.gguf")
    hub.files["acme/tiny-GGUF/tiny.gguf"] = data
    hub.claimed_sha["acme/tiny-GGUF/tiny.gguf"] = "ab" * 32
    code, out, err = run(capsys, "models", "pull", "acme/tiny-GGUF/tiny.gguf")
    assert code == 1 and out == ""
    actual = hashlib.sha256(data).hexdigest()
    assert err == (
        f"Error: acme/tiny-GGUF/tiny.gguf: sha256 mismatch (expected {'ab' * 32}, "
        f"got {actual}); the download was removed\n"
    )
    models = home / "models"
    assert not list(models.rglob("*.gguf")) and not list(models.rglob("*.incomplete"))
    assert not list(models.rglob("*.metadata"))


def test_interrupted_pull_resumes(
    home: Path, hub: Hub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # huggingface_hub writes in chunks of 10 MiB and resumes after the last whole one.
    data = tiny_gguf(tmp_path / "src.gguf", padding=24_000_000)
    hub.files["acme/tiny-GGUF/tiny.gguf"] = data
    hub.cut_first_get = True
    code, out, _ = run(capsys, "models", "pull", "acme/tiny-GGUF/tiny.gguf")
    assert code == 0, out
    assert (home / "models" / "tiny.gguf").read_bytes() == data
    ranges = [s[2].get("range") for s in hub.seen if s[0] == "GET"]
    # The second request asked only for what the dropped connection had not delivered.
    assert ranges[0] is None and ranges[1] is not None
    resumed_at = int(ranges[1].removeprefix("bytes=").split("-")[0])
    assert 0 < resumed_at < len(data)


def test_pull_of_a_missing_file(home: Path, hub: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "models", "pull", "acme/tiny-GGUF/nope.gguf")
    assert code == 1
    assert err.count("\n") == 1 and "nope.gguf" in err


# -- serve ---------------------------------------------------------------------------------


def test_serve_plan_on_xllamacpp(
    home: Path, capsys: pytest.CaptureFixture[str], smollm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVIEW_BOT_N_CTX", "1024")
    monkeypatch.setenv("REVIEW_BOT_API_KEY", "topsecret")
    monkeypatch.setenv("REVIEW_BOT_MODEL", "smollm2")
    code, out, _ = run(
        capsys, "serve", "--print-command", "--port", "8123", "--gpu-layers", "3", "--threads", "1"
    )
    assert code == 0
    command, _, config_text = out.partition("\n")
    model = str(smollm.resolve())
    # The same server as llama.cpp's own binary would run it; the key is not shown.
    assert command == (
        f"llama-server -m {model} --alias {model} --host 127.0.0.1 --port 8123 -c 1024 "
        "-ngl 3 --seed 1234 -np 1 -t 1 -tb 1 --api-key '(set)'"
    )
    config = json.loads(config_text)
    assert "topsecret" not in out and config["api_key"] == "(set)"
    assert (config["model"], config["n_ctx"], config["n_gpu_layers"]) == (model, 1024, 3)
    assert (config["host"], config["port"], config["n_threads"]) == ("127.0.0.1", 8123, 1)
    code, out, _ = run(capsys, "serve", "--print-command", "--model", "smollm2")
    config = json.loads(out.partition("\n")[2])
    assert config["n_gpu_layers"] == resolve_gpu_layers(-1)  # auto by default
    # Half the physical cores: llama.cpp's own default took both of a 2-core machine and
    # collapsed beside a build (issue 23).
    assert config["n_threads"] == default_server_threads()
    code, _, err = run(capsys, "serve", "--model", "smollm2", "--model", str(smollm))
    assert code == 1 and "one model per port" in err and err.count("\n") == 1


@pytest.mark.llama_cpp_python
def test_serve_plan_on_llama_cpp_python(
    home: Path, capsys: pytest.CaptureFixture[str], smollm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVIEW_BOT_N_CTX", "1024")
    monkeypatch.setenv("REVIEW_BOT_API_KEY", "topsecret")
    monkeypatch.setenv("REVIEW_BOT_RUNTIME", "llama-cpp-python")
    code, out, _ = run(
        capsys, "serve", "--print-command", "--port", "8123", "--gpu-layers", "3", "--threads", "1"
    )
    assert code == 0
    command, _, config_text = out.partition("\n")
    assert command.endswith(f"-m llama_cpp.server --config_file {home / 'serve' / '8123.json'}")
    config = json.loads(config_text)
    assert "topsecret" not in out and config["api_key"] == "(set)"
    [model] = config["models"]
    assert model["model"] == model["model_alias"] == str(smollm.resolve())
    assert (model["n_ctx"], model["n_gpu_layers"], model["seed"]) == (1024, 3, 1234)
    assert model["n_threads"] == model["n_threads_batch"] == 1
    assert (config["host"], config["port"]) == ("127.0.0.1", 8123)
    code, out, _ = run(capsys, "serve", "--print-command", "--model", "smollm2")
    [model] = json.loads(out.partition("\n")[2])["models"]
    assert model["n_gpu_layers"] == resolve_gpu_layers(-1)  # auto by default
    assert model["n_threads"] == model["n_threads_batch"] == default_server_threads()


def test_serve_refuses_a_busy_port(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "serve", "--port", str(port), "--model", "smollm2")
    assert code == 1
    assert err.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ") and "--port" in err


# -- doctor ----------------------------------------------------------------------------------


def test_doctor_reports_build_model_cache_and_config(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    smollm: Path,
) -> None:
    make_project(tmp_path, {})
    (tmp_path / "pyproject.toml").write_text('[tool.review-bot]\nconvention = "numpy"\n')
    monkeypatch.setenv("REVIEW_BOT_RUNS", "3")
    monkeypatch.setenv("REVIEW_BOT_API_KEY", "topsecret")
    monkeypatch.setenv("REVIEW_BOT_MODEL", "smollm2")
    code, out, _ = run(capsys, "doctor")
    assert code == 0, out
    build = build_info()
    assert build.runtime == "xllamacpp"  # the default install's runtime
    assert f"runtime: xllamacpp {build.version}: {build.backend} build (" in out
    assert f"  {build.system_info}" in out and "(runtime = auto)" in out
    layers = describe_gpu_layers(-1, resolve_gpu_layers(-1, gpu_offload=build.gpu_offload))
    assert f"gpu_layers: -1 ({layers})" in out
    assert "backend: llamacpp (in process, xllamacpp)" in out and f"model: {smollm}\n" in out
    assert "  model = smollm2  (REVIEW_BOT_MODEL)" in out
    assert "`review-bot serve` needs" not in out  # xllamacpp's server needs nothing more
    assert "  strategy: auto: cases, then chat" in out
    assert f"model cache: {home / 'models'} (0 GGUF files, 0 B)" in out
    assert "  runs = 3  (REVIEW_BOT_RUNS)" in out
    assert "  convention = numpy  (pyproject.toml)" in out
    assert "  strategy = auto  (default)" in out
    assert re.search(r"^threads: [1-9]\d* \(auto: \d+ physical cores, ", out, re.MULTILINE)
    assert "  api_key = (set)  (REVIEW_BOT_API_KEY)" in out and "topsecret" not in out
    assert out.rstrip().endswith("all needed parts are present")


def test_doctor_exits_1_when_the_model_is_unusable(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 5))
    code, out, _ = run(capsys, "doctor", "--model", str(broken))
    assert code == 1
    assert f"missing:\n  - {broken}: truncated GGUF file" in out
    assert f"  model = {broken}  (flag)" in out


def test_doctor_checks_the_server(
    home: Path, capsys: pytest.CaptureFixture[str], stub: Stub
) -> None:
    stub.on("GET /v1/models", Reply(200, models_list("codellama:7b", owned_by="vllm")))
    code, out, _ = run(capsys, "doctor", "--base-url", stub.url)
    assert code == 0, out
    assert f"backend: openai, server at {stub.url}" in out
    assert "  server: vllm, serving codellama:7b; chat through the server's template" in out
    port = free_port()
    code, out, _ = run(
        capsys, "doctor", "--backend", "openai", "--base-url", f"http://127.0.0.1:{port}"
    )
    assert code == 1
    assert f"  - cannot reach the model server at http://127.0.0.1:{port}/v1" in out
    code, out, _ = run(capsys, "doctor", "--backend", "openai")
    assert code == 1 and "  - backend openai needs base_url" in out


def test_doctor_and_models_info_name_the_chosen_runtime(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    version = build_info("xllamacpp").version
    monkeypatch.setenv("REVIEW_BOT_MODEL", "smollm2")
    code, out, _ = run(capsys, "models", "info", "smollm2")
    assert code == 0
    assert f"runtime:        xllamacpp {version} (auto), CPU build, no GPU offload" in out
    code, out, _ = run(capsys, "models", "info", "smollm2", "--json")
    assert json.loads(out)["runtime"] == {
        "setting": "auto",
        "name": "xllamacpp",
        "version": version,
        "build": "CPU",
        "gpu_offload": False,
    }
    code, out, _ = run(capsys, "doctor", "--runtime", "xllamacpp")
    assert code == 0 and f"runtime: xllamacpp {version}: CPU build" in out
    assert "  runtime = xllamacpp  (flag)" in out
    if importlib.util.find_spec("llama_cpp") is None:
        code, out, _ = run(capsys, "doctor", "--runtime", "llama-cpp-python")
        assert code == 1
        assert "  - runtime llama-cpp-python is not installed: pip install" in out
        # A server runs the model: a missing runtime is only a note.
        monkeypatch.setenv("REVIEW_BOT_RUNTIME", "llama-cpp-python")
        code, out, _ = run(capsys, "doctor", "--base-url", "http://127.0.0.1:9/v1")
        assert "note: runtime llama-cpp-python is not installed" in out


# -- gpu -----------------------------------------------------------------------------------


def test_gpu_layers_auto_and_backend_names() -> None:
    assert resolve_gpu_layers(-1, gpu_offload=True) == -1  # every layer
    assert resolve_gpu_layers(-1, gpu_offload=False) == 0
    assert resolve_gpu_layers(12, gpu_offload=False) == 12
    with pytest.raises(FatalError, match="gpu_layers must be -1"):
        resolve_gpu_layers(-2)
    assert describe_gpu_layers(-1, -1) == "auto -> all layers"
    assert describe_gpu_layers(8, 8) == "8 layers"
    assert backend_name("CUDA : ARCHS = 890 | USE_GRAPHS = 1 | CPU : AVX2 = 1 |", True) == "CUDA"
    assert backend_name("Metal : EMBED_LIBRARY = 1 | CPU : NEON = 1 |", True) == "Metal"
    assert backend_name("CPU : SSE3 = 1 | AVX2 = 1 |", False) == "CPU"
    assert backend_name("CPU : SSE3 = 1 |", True) == "GPU"
    # xllamacpp names its devices: CUDA0, ROCm0, Vulkan0, MTL0.
    assert backend_name("CPU : AVX2 = 1 |", True, ("CUDA0",)) == "CUDA"
    assert backend_name("CPU : AVX2 = 1 |", True, ("Vulkan0",)) == "Vulkan"
    assert backend_name("CPU : AVX2 = 1 |", True, ("MTL0",)) == "Metal"
    assert backend_name("CPU : AVX2 = 1 |", True, ("ROCm0",)) == "ROCm"


def test_gpu_devices_of_xllamacpp_device_info() -> None:
    from review_bot.llm.gpu import gpu_devices

    cpu = {"name": "CPU", "type": 0}
    assert gpu_devices([cpu]) == ()
    assert gpu_devices([cpu, {"name": "CUDA0", "type": 1}, {"name": "iGPU", "type": 2}]) == (
        "CUDA0",
        "iGPU",
    )
