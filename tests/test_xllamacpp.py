"""The xllamacpp runtime: selection, the in-process backend on the real SmolLM2, the GBNF
converter against real llama.cpp, and `review-bot serve` as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from review_bot.commands import main
from review_bot.config import Settings
from review_bot.core.backends import llamacpp_factory
from review_bot.errors import FatalError, ModelError
from review_bot.llm import openai, runtime
from review_bot.llm.gbnf import schema_to_gbnf
from review_bot.llm.openai import LLAMA_CPP_PYTHON, OpenAIBackend, connect, json_schema_grammar
from review_bot.llm.session import ModelSession
from review_bot.llm.xllamacpp import XllamacppBackend, error_text
from tests.helpers.gguf import codellama_instruct
from tests.helpers.openai_stub import free_port
from tests.helpers.projects import make_project

MESSAGES = [
    {"role": "system", "content": "You write pytest tests."},
    {"role": "user", "content": "Test add(a, b)."},
]
CASES = {
    "type": "object",
    "properties": {
        "cases": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "a": {"type": "integer"},
                    "s": {"type": "string", "maxLength": 6},
                    "flag": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
                },
                "required": ["a", "s", "flag"],
                "additionalProperties": False,
            },
            "minItems": 2,
            "maxItems": 3,
        }
    },
    "required": ["cases"],
    "additionalProperties": False,
}


# -- which runtime ---------------------------------------------------------------------------


def test_auto_picks_xllamacpp(smollm: Path, tmp_path: Path) -> None:
    assert runtime.resolve_runtime("auto") == "xllamacpp"
    backend = llamacpp_factory(smollm, True, Settings(home=tmp_path, threads=1))
    assert type(backend) is XllamacppBackend
    assert backend.load_seconds() == 0.0  # nothing is loaded before the first call


def test_a_missing_runtime_named_explicitly_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As if llama-cpp-python were not installed: its module cannot be found.
    modules = {**runtime._MODULES, "llama-cpp-python": ("no_such_llama_cpp", "pip install x")}
    monkeypatch.setattr(runtime, "_MODULES", modules)
    with pytest.raises(FatalError, match=r"^runtime llama-cpp-python is not installed: pip"):
        runtime.resolve_runtime("llama-cpp-python")
    make_project(tmp_path, {"m.py": "def f(x):\n    return x\n"})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REVIEW_BOT_MODEL", "smollm2")
    code = main(["suggest", "m.py", "--runtime", "llama-cpp-python", "--no-cache"])
    err = capsys.readouterr().err
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: runtime llama-cpp-python is not installed: pip install x"]
    monkeypatch.setenv("REVIEW_BOT_RUNTIME", "llama.cpp")
    assert main(["suggest", "m.py"]) == 1
    assert "runtime must be one of auto, xllamacpp, llama-cpp-python" in capsys.readouterr().err


def test_engine_errors_read_as_one_line() -> None:
    overflow = {
        "code": 400,
        "message": "request (401 tokens) exceeds the available context size (256 tokens)",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 401,
        "n_ctx": 256,
    }
    assert error_text(overflow) == (
        "the prompt of 401 tokens does not fit the model's context of 256 tokens: "
        "raise n_ctx (REVIEW_BOT_N_CTX) up to the model's context length"
    )
    other = {"code": 400, "message": "bad\n  grammar", "type": "invalid_request_error"}
    assert error_text(other) == "llama.cpp (xllamacpp) refused the request: bad grammar"


# -- the in-process backend on the real model -----------------------------------------------


@pytest.fixture(scope="module")
def engine(smollm: Path) -> Iterator[XllamacppBackend]:
    backend = XllamacppBackend(smollm, n_ctx=1024, n_threads=1)
    yield backend
    backend.close()


@pytest.mark.model
def test_complete_and_chat_through_the_session(engine: XllamacppBackend, smollm: Path) -> None:
    first = engine.complete("def add(a, b):\n", max_tokens=12, temperature=0.0)
    assert engine.load_seconds() > 0
    assert first.text and 0 < first.completion_tokens <= 12 and first.prompt_tokens > 0
    again = engine.complete("def add(a, b):\n", max_tokens=12, temperature=0.0)
    assert again.text == first.text  # greedy: the same text
    session = ModelSession(lambda: engine, max_tokens=16, temperature=0.0)
    reply = session.chat(MESSAGES)
    assert reply.strip()
    # Rendered here with the GGUF's own template and sent as a completion, as for a server.
    assert engine.last_request["prompt"] == session.prompts[0]
    assert session.prompts[0].startswith("<|im_start|>system\nYou write pytest tests.")
    assert "<|im_end|>" in engine.last_request["stop"]
    assert engine.last_request["repeat_penalty"] == 1.1


@pytest.mark.model
def test_json_schema_constrains_the_reply(engine: XllamacppBackend) -> None:
    session = ModelSession(lambda: engine, max_tokens=160, temperature=0.0)
    reply = session.chat([{"role": "user", "content": "Two test cases."}], json_schema=CASES)
    jsonschema.validate(json.loads(reply), CASES)
    # Our GBNF, not llama.cpp's `json_schema` (llguidance there bounds no integer).
    assert engine.last_request["grammar"] == json_schema_grammar(CASES)


@pytest.mark.model
def test_context_overflow_is_a_clear_model_error(engine: XllamacppBackend) -> None:
    with pytest.raises(ModelError) as caught:
        engine.complete("word " * 1100, max_tokens=4, temperature=0.0)
    message = str(caught.value)
    assert message.startswith("the prompt of ") and "\n" not in message
    assert "does not fit the model's context of 1024 tokens: raise n_ctx" in message


@pytest.mark.model
def test_the_engine_port_answers_only_with_the_random_key(engine: XllamacppBackend) -> None:
    url = engine.listening_address
    assert url.startswith("http://127.0.0.1:")
    assert httpx.get(url + "/v1/models").status_code == 401
    assert httpx.post(url + "/v1/completions", json={"prompt": "x"}).status_code == 401
    assert httpx.get(url + "/v1/models", headers={"Authorization": "Bearer x"}).status_code == 401
    key = {"Authorization": f"Bearer {engine._api_key}"}
    assert httpx.get(url + "/v1/models", headers=key).status_code == 200


def test_corrupt_weights_fail_at_load(tmp_path: Path, smollm: Path) -> None:
    """A valid header with missing tensor data: one line naming the file."""
    data = smollm.read_bytes()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(data[: len(data) // 2])
    backend = XllamacppBackend(broken, n_ctx=256)
    with pytest.raises(ModelError) as caught:
        backend.complete("x", max_tokens=1, temperature=0.0)
    assert str(caught.value).startswith(f"{broken}: llama.cpp (xllamacpp) cannot load the model")
    assert "\n" not in str(caught.value)


@pytest.mark.model
def test_rendered_bos_is_not_doubled(smollm: Path, tmp_path: Path) -> None:
    """A model whose tokenizer adds BOS: the rendered `<s>` is dropped from what is sent."""
    codellama = codellama_instruct(smollm, tmp_path / "codellama-instruct.gguf")
    backend = XllamacppBackend(codellama, n_ctx=512, n_threads=1)
    try:
        session = ModelSession(lambda: backend, max_tokens=2, temperature=0.0)
        session.chat(MESSAGES)
        rendered = session.prompts[0]
        assert rendered.startswith("<s>[INST]")
        assert backend.last_request["prompt"] == rendered[len("<s>") :]
        key = {"Authorization": f"Bearer {backend._api_key}"}
        tokens = httpx.post(
            backend.listening_address + "/tokenize",
            json={"content": rendered, "add_special": False, "parse_special": True},
            headers=key,
        ).json()["tokens"]
        assert tokens.count(1) == 1  # the rendered text holds one BOS
        # What the engine evaluated: the same tokens, so the BOS once.
        usage = backend.complete(rendered, max_tokens=1, temperature=0.0)
        assert usage.prompt_tokens == len(tokens)
    finally:
        backend.close()


# -- GBNF for llama-cpp-python servers, without llama-cpp-python -----------------------------


def test_gbnf_text() -> None:
    grammar = schema_to_gbnf({"type": "object", "properties": {"k": {"enum": ['a"b', 1]}}})
    assert grammar.splitlines()[0] == (
        'root ::= "{" space (("\\"k\\"" space ":" space (("\\"a\\\\\\"b\\"" space | "1" space))))? '
        '"}" space'
    )
    assert "space ::=" in grammar and "value ::=" not in grammar


class _LlamaCppPythonStandIn:
    """Answers as llama-cpp-python's server does (`owned_by: me`, a `grammar` field), with
    real llama.cpp (the xllamacpp engine) generating under the grammar it was sent."""

    def __init__(self, model: Path, engine: XllamacppBackend) -> None:
        self.model = model
        self.engine = engine
        self.bodies: list[dict[str, Any]] = []

    def handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                entry = {"id": str(stand_in.model), "object": "model", "owned_by": "me"}
                self._reply({"object": "list", "data": [entry]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.bodies.append(body)
                keys = ("prompt", "max_tokens", "temperature", "stop", "seed", "grammar")
                forwarded = {k: body[k] for k in keys if k in body}
                server = stand_in.engine._server
                self._reply(server.handle_completions(forwarded))

        return Handler


@pytest.mark.model
def test_gbnf_works_on_a_llama_cpp_python_stand_in(
    engine: XllamacppBackend, smollm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a machine without llama-cpp-python: review-bot's converter writes the grammar.
    monkeypatch.setitem(sys.modules, "llama_cpp.llama_grammar", None)
    monkeypatch.setattr(openai, "_GRAMMARS", {})
    engine.listening_address  # noqa: B018 - loads the model
    stand_in = _LlamaCppPythonStandIn(smollm.resolve(), engine)
    http = ThreadingHTTPServer(("127.0.0.1", 0), stand_in.handler())
    thread = threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        backend = connect(f"http://127.0.0.1:{http.server_address[1]}/v1")
        assert type(backend) is OpenAIBackend and backend.model.flavor == LLAMA_CPP_PYTHON
        for seed in range(4):
            session = ModelSession(lambda: backend, max_tokens=200, temperature=0.8)
            reply = session.chat(MESSAGES, json_schema=CASES, seed=seed)
            jsonschema.validate(json.loads(reply), CASES)
        assert stand_in.bodies[-1]["grammar"] == schema_to_gbnf(CASES)
        backend.close()
    finally:
        http.shutdown()
        http.server_close()


# -- `review-bot serve` as a real process ----------------------------------------------------

CLAMP = "def clamp(x: int, lo: int, hi: int) -> int:\n    return max(lo, min(x, hi))\n"
SUGGEST = (sys.executable, "-m", "review_bot", "suggest", "clamp.py", "--json")


SERVE = (sys.executable, "-m", "review_bot", "serve")


@pytest.mark.model
def test_serve_then_suggest_against_it(smollm: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "REVIEW_BOT_HOME": str(tmp_path / "home")}
    serve = subprocess.Popen(
        [*SERVE, "--model", "smollm2", "--port", str(port), "--threads", "1"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal gives it, whatever the test process inherited.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert serve.stderr is not None
        first = serve.stderr.readline()  # written once the model is loaded and listening
        url = f"http://127.0.0.1:{port}/v1"
        assert first.startswith(f"review-bot: serving {smollm.name} at {url} (xllamacpp")
        [entry] = httpx.get(url + "/models").json()["data"]
        assert entry["owned_by"] == "llamacpp" and entry["id"] == str(smollm.resolve())
        make_project(
            tmp_path / "project",
            {"clamp.py": CLAMP},
        )
        done = subprocess.run(
            [*SUGGEST, "--no-docstrings", "--strategy", "cases", "--runs", "1", "--no-cache"],
            cwd=tmp_path / "project",
            env={**env, "REVIEW_BOT_BASE_URL": url},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["model"]["path"] == str(smollm.resolve()) and report["model_calls"] >= 1
        assert report["targets"][0]["test"]["status"] in ("kept", "rejected")
        serve.send_signal(signal.SIGINT)
        assert serve.wait(90) == 130  # a busy machine stops it slowly
        rest = serve.stderr.read()
        assert "review-bot: server stopped" in rest and rest.rstrip().endswith("Interrupted")
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/models")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        if serve.stderr is not None:
            serve.stderr.close()
