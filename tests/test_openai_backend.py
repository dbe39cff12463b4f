"""The server backend: HTTP behaviour against a loopback stub, success paths against a
real `llama_cpp.server` started by `review-bot serve` with the bundled GGUF."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from review_bot.commands import main
from review_bot.config import Settings
from review_bot.core import Engine
from review_bot.errors import FatalError
from review_bot.llm.chat import Message, fold_system, plain_chat, render_chat
from review_bot.llm.models import describe
from review_bot.llm.openai import OpenAIBackend, OpenAIChatBackend, connect, json_schema_grammar
from review_bot.llm.openai_http import (
    LLAMA_CPP,
    LLAMA_CPP_PYTHON,
    SERVER_TEMPLATE,
    Client,
    ServerError,
    ServerModel,
    choose_model,
    normalize_base_url,
)
from review_bot.llm.session import ModelSession
from review_bot.suggest import suggest
from tests.helpers.gguf import codegemma_it, codellama_instruct
from tests.helpers.openai_stub import Reply, Stub, free_port, models_list, stub
from tests.helpers.projects import make_project

__all__ = ["stub"]  # the OpenAI-compatible stub fixture, from tests/helpers/openai_stub.py

MESSAGES: list[Message] = [
    {"role": "system", "content": "You write pytest tests."},
    {"role": "user", "content": "Test add()."},
]


def completion(text: str, finish: str = "stop") -> dict[str, Any]:
    return {
        "choices": [{"text": text, "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }


def chat_reply(text: str) -> dict[str, Any]:
    return {
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3},
    }


def client(stub: Stub, delays: list[float], **kwargs: Any) -> Client:
    return Client(stub.url, sleep=delays.append, **kwargs)


# -- HTTP behaviour ----------------------------------------------------------------------


def test_base_url_gets_v1_unless_it_has_a_path() -> None:
    assert normalize_base_url("http://box:8000") == "http://box:8000/v1"
    assert normalize_base_url(" http://box:8000/ ") == "http://box:8000/v1"
    assert normalize_base_url("https://gpu.example/api/v1/") == "https://gpu.example/api/v1"
    with pytest.raises(FatalError, match="http:// or https://"):
        normalize_base_url("ftp://box")
    with pytest.raises(FatalError, match="http:// or https://"):
        normalize_base_url("box:8000")


def test_5xx_and_429_are_retried_with_backoff_and_retry_after(stub: Stub) -> None:
    stub.on(
        "POST /v1/completions",
        Reply(500, {"error": {"message": "out of memory"}}),
        Reply(429, {"error": "busy"}, {"Retry-After": "2"}),
        Reply(200, completion("ok")),
    )
    delays: list[float] = []
    http = client(stub, delays)
    data = http.request("POST", "completions", {"prompt": "x"})
    assert data["choices"][0]["text"] == "ok"
    assert len(stub.requests("POST /v1/completions")) == 3
    assert delays == [0.5, 2.0]  # backoff, then the server's Retry-After
    http.close()


def test_retries_are_bounded(stub: Stub) -> None:
    stub.on("POST /v1/completions", Reply(503, {"error": {"message": "loading model"}}))
    delays: list[float] = []
    http = client(stub, delays, retries=2)
    with pytest.raises(ServerError, match=r"answered /completions with 503 after 3 attempts: load"):
        http.request("POST", "completions", {})
    assert len(stub.requests("POST /v1/completions")) == 3
    assert delays == [0.5, 1.0]
    http.close()


def test_a_trickling_server_is_cut_at_the_deadline(stub: Stub) -> None:
    # Issue 22: one byte every 5 s kept the hook waiting past 900 s; a read timeout never
    # fired because every read got a byte.
    import time

    body = {"choices": [{"text": "x" * 200}]}
    stub.on("POST /v1/completions", Reply(200, body, trickle_s=0.02))
    http = Client(stub.url, timeout_s=1.0, retries=0)
    start = time.monotonic()
    with pytest.raises(ServerError, match=r"did not finish answering /completions within 1 s"):
        http.request("POST", "completions", {})
    assert time.monotonic() - start < 10
    http.close()


def test_an_answer_over_the_size_cap_is_cut_and_not_used(stub: Stub) -> None:
    # Issue 22: a 52 MB reply was kept as a 52 MB test.
    stub.on("POST /v1/completions", Reply(200, {"choices": [{"text": "x" * 1_200_000}]}))
    http = Client(stub.url, retries=0)
    with pytest.raises(ServerError, match=r"sent more than 1000000 bytes for /completions"):
        http.request("POST", "completions", {})
    stub.on("POST /v1/completions", Reply(200, {"choices": [{"text": "ok"}]}))
    assert http.request("POST", "completions", {}) == {"choices": [{"text": "ok"}]}
    http.close()


def test_client_errors_are_not_retried(stub: Stub) -> None:
    stub.on("POST /v1/completions", Reply(400, {"error": {"message": "context length exceeded"}}))
    http = client(stub, [])
    with pytest.raises(ServerError, match=r"with 400: context length exceeded$") as caught:
        http.request("POST", "completions", {})
    assert caught.value.status == 400
    assert len(stub.requests("POST /v1/completions")) == 1
    http.close()


def test_api_key_is_sent_as_bearer_and_never_shown(stub: Stub) -> None:
    stub.on("GET /v1/models", Reply(401, {"detail": "Invalid API key"}))
    http = client(stub, [], api_key="s3cret-key")
    with pytest.raises(ServerError, match="refused the request \\(401\\)") as caught:
        http.request("GET", "models")
    assert "s3cret-key" not in str(caught.value)
    assert stub.seen[0].headers["Authorization"] == "Bearer s3cret-key"
    http.close()


def test_unreachable_server_is_one_clear_line() -> None:
    delays: list[float] = []
    http = Client(f"http://127.0.0.1:{free_port()}", sleep=delays.append, retries=2)
    with pytest.raises(
        ServerError, match=r"cannot reach the model server at .*\(after 3 attempts; start one"
    ):
        http.request("GET", "models")
    assert delays == [0.5, 1.0]
    http.close()


def test_a_slow_generation_times_out_without_retry(stub: Stub) -> None:
    stub.on("POST /v1/completions", Reply(200, completion("late"), delay_s=1.5))
    http = client(stub, [], timeout_s=0.3)
    with pytest.raises(ServerError, match=r"did not answer /completions within 0.3 s"):
        http.request("POST", "completions", {})
    assert len(stub.requests("POST /v1/completions")) == 1
    http.close()


def test_wait_ready_waits_for_a_loading_server(stub: Stub) -> None:
    stub.on(
        "GET /v1/models",
        Reply(503, {"error": {"message": "Loading model"}}),
        Reply(503, {"error": {"message": "Loading model"}}),
        Reply(200, models_list("m")),
    )
    delays: list[float] = []
    assert client(stub, delays).wait_ready(30)[0]["id"] == "m"
    assert len(delays) == 2
    stub.on("GET /v1/models", Reply(503, {"error": {"message": "Loading model"}}))
    with pytest.raises(ServerError, match=r"not ready after 0\.2 s: 503 Loading model"):
        Client(stub.url, backoff_s=0.05).wait_ready(0.2)


def test_stream_yields_server_sent_events(stub: Stub) -> None:
    events = "".join(f"data: {json.dumps(completion(t))}\n\n" for t in ("a", "b"))
    stub.on(
        "POST /v1/completions",
        Reply(200, events + "data: [DONE]\n\n", {"Content-Type": "text/event-stream"}),
    )
    http = client(stub, [])
    texts = [e["choices"][0]["text"] for e in http.stream("completions", {"prompt": "x"})]
    assert texts == ["a", "b"]
    assert stub.seen[0].body["stream"] is True
    http.close()


# -- discovery and request bodies -----------------------------------------------------------


def test_choose_model_by_path_name_or_tag() -> None:
    ids = ["/srv/models/codellama-7b-instruct.Q4_K_M.gguf", "codegemma:2b"]
    assert choose_model(ids, None, "u") == ids[0]
    assert choose_model(ids, Path("codellama-7b-instruct.Q4_K_M.gguf"), "u") == ids[0]
    assert choose_model(ids, Path("/elsewhere/codegemma:2b"), "u") == "codegemma:2b"
    with pytest.raises(ServerError, match=r"does not serve nope\.gguf; it serves: /srv"):
        choose_model(ids, Path("nope.gguf"), "u")
    with pytest.raises(ServerError, match="serves no model"):
        choose_model([], None, "u")


def test_unknown_template_goes_through_the_chat_endpoint(stub: Stub) -> None:
    stub.on("GET /v1/models", Reply(200, models_list("codellama:7b-instruct", owned_by="library")))
    stub.on("POST /v1/chat/completions", Reply(200, chat_reply('{"cases": []}')))
    backend = connect(stub.url, model=Path("codellama:7b-instruct"))
    assert isinstance(backend, OpenAIChatBackend)
    info = backend.info()
    assert info.chat_template == SERVER_TEMPLATE and info.path == "codellama:7b-instruct"
    assert backend.model.flavor == "ollama" and backend.load_seconds() == 0.0
    session = ModelSession(lambda: backend, max_tokens=32)
    schema = {"type": "object", "properties": {"cases": {"type": "array"}}}
    assert session.chat(MESSAGES, json_schema=schema) == '{"cases": []}'
    body = stub.requests("POST /v1/chat/completions")[0].body
    assert body["messages"] == MESSAGES and body["model"] == "codellama:7b-instruct"
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert "grammar" not in body and "repeat_penalty" not in body
    assert session.prompts == [json.dumps(MESSAGES)] and session.completion_tokens == 3
    backend.close()


def test_chat_endpoint_folds_a_refused_system_role_then_falls_back(stub: Stub) -> None:
    stub.on("GET /v1/models", Reply(200, models_list("gemma", owned_by="vllm")))
    stub.on(
        "POST /v1/chat/completions",
        Reply(500, {"error": {"message": "System role not supported"}}),
        Reply(200, chat_reply("folded")),
    )
    backend = connect(stub.url)
    assert isinstance(backend, OpenAIChatBackend)
    reply = backend.chat(MESSAGES, max_tokens=8, temperature=0.0)
    assert reply.text == "folded" and backend.fold_system
    sent = stub.requests("POST /v1/chat/completions")
    assert len(sent) == 2  # a template's refusal is not retried as a server failure
    assert sent[1].body["messages"] == fold_system(MESSAGES)
    # A base model: the server has no chat template at all -> a plain completion prompt.
    stub.on(
        "POST /v1/chat/completions",
        Reply(400, {"error": {"message": "this model has no chat template"}}),
    )
    stub.on("POST /v1/completions", Reply(200, completion("plain")))
    assert backend.chat(MESSAGES, max_tokens=8, temperature=0.0).text == "plain"
    assert stub.requests("POST /v1/completions")[0].body["prompt"] == plain_chat(MESSAGES)
    assert backend.no_chat
    backend.close()


def test_llama_cpp_server_props_give_the_template(stub: Stub) -> None:
    template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<a>"
    stub.on(
        "GET /v1/models",
        Reply(200, models_list("qwen.gguf", owned_by="llamacpp", meta={"n_ctx_train": 32768})),
    )
    stub.on(
        "GET /props",
        Reply(200, {"chat_template": template, "bos_token": "<s>", "eos_token": "</s>"}),
    )
    stub.on("POST /v1/completions", Reply(200, completion("{}", finish="length")))
    backend = connect(stub.url, seed=7)
    assert type(backend) is OpenAIBackend
    assert backend.info().chat_template == template
    assert backend.info().context_length == 32768
    session = ModelSession(lambda: backend)
    session.chat(MESSAGES, json_schema={"type": "object"})
    body = stub.requests("POST /v1/completions")[0].body
    assert body["prompt"] == render_chat(template, MESSAGES, bos_token="<s>", eos_token="</s>")
    assert body["grammar"] == json_schema_grammar({"type": "object"}) and body["seed"] == 7
    assert "json_schema" not in body
    assert backend.model.flavor == LLAMA_CPP and body["repeat_penalty"] == 1.1
    backend.close()


def test_grammar_keeps_the_schema_property_order() -> None:
    """Properties come out in the schema's order, as the in-process grammar makes them."""
    schema = {
        "type": "object",
        "properties": {"zeta": {"type": "integer"}, "alpha": {"type": "integer"}},
        "required": ["zeta", "alpha"],
    }
    root = next(line for line in json_schema_grammar(schema).splitlines() if "root ::=" in line)
    assert root.index("zeta") < root.index("alpha")


def test_no_choice_and_non_json_answers_are_errors(stub: Stub) -> None:
    stub.on("GET /v1/models", Reply(200, models_list("m", owned_by="x")))
    stub.on("POST /v1/completions", Reply(200, {"choices": []}))
    backend = connect(stub.url)
    with pytest.raises(ServerError, match="returned no choice"):
        backend.complete("x", max_tokens=1, temperature=0.0)
    stub.on("POST /v1/completions", Reply(200, "<html>proxy login</html>"))
    with pytest.raises(ServerError, match="not JSON"):
        backend.complete("x", max_tokens=1, temperature=0.0)
    backend.close()


def test_engine_needs_a_url_for_the_openai_backend(tmp_path: Path) -> None:
    settings = Settings(backend="openai", home=tmp_path / "home")
    with pytest.raises(FatalError, match="needs the server's URL"):
        Engine(tmp_path, settings)


def test_engine_with_a_base_url_loads_nothing_locally(tmp_path: Path, stub: Stub) -> None:
    """A base_url alone selects the server; the model file need not exist here."""
    stub.on("GET /v1/models", Reply(200, models_list("team-model", owned_by="vllm")))
    settings = Settings(base_url=stub.url, model=Path("team-model"), home=tmp_path / "home")
    engine = Engine(tmp_path, settings)
    try:
        assert engine.remote and not engine.session.started
        ref = engine.model_ref()
        assert (ref.path, ref.arch, ref.bundled) == ("team-model", "unknown", False)
    finally:
        engine.close()
    engine = Engine(tmp_path, settings)  # the model's identity is cached now: no request
    try:
        before = len(stub.seen)
        assert engine.model_ref().path == "team-model" and len(stub.seen) == before
    finally:
        engine.close()


# -- a real llama_cpp.server -------------------------------------------------------------


class Served(NamedTuple):
    url: str
    smollm: Path
    codellama: Path
    codegemma: Path


@pytest.fixture(scope="module")
def llama_server(smollm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`review-bot serve` with three GGUFs: the server swaps between them on demand."""
    pytest.importorskip(
        "llama_cpp", reason="the optional llama-cpp-python runtime is not installed"
    )
    root = tmp_path_factory.mktemp("served")
    codellama = codellama_instruct(smollm, root / "codellama-instruct.gguf")
    codegemma = codegemma_it(smollm, root / "codegemma-it.gguf")
    port = free_port()
    env = {**os.environ, "REVIEW_BOT_HOME": str(root / "home"), "REVIEW_BOT_N_CTX": "2048"}
    log_path = root / "server.log"
    # One thread: on a busy machine, spinning OpenMP threads slow everything down.
    command = [sys.executable, "-m", "review_bot", "serve", "--port", str(port), "--threads", "1"]
    command += ["--runtime", "llama-cpp-python"]  # its server swaps between models
    for model in (smollm, codellama, codegemma):
        command += ["--model", str(model)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        probe = Client(url)
        try:
            probe.wait_ready(120)
        except ServerError as exc:
            pytest.fail(f"{exc}\n{log_path.read_text(errors='replace')}")
        finally:
            probe.close()
        yield Served(url, smollm.resolve(), codellama.resolve(), codegemma.resolve())
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_served_model_is_read_here_and_generates_what_in_process_does(
    llama_server: Served,
) -> None:
    from review_bot.llm.llamacpp import LlamaCppBackend

    backend = connect(llama_server.url, seed=3)
    assert type(backend) is OpenAIBackend and backend.model.flavor == LLAMA_CPP_PYTHON
    assert backend.model.local == llama_server.smollm
    assert backend.info().chat_template == describe(llama_server.smollm).chat_template
    session = ModelSession(lambda: backend, max_tokens=16, temperature=0.0)
    reply = session.chat(MESSAGES)
    # Rendered here with the GGUF's own template, sent as is to /v1/completions.
    assert backend.last_request["prompt"] == session.prompts[0]
    assert session.prompts[0].startswith("<|im_start|>system\nYou write pytest tests.")
    local = LlamaCppBackend(llama_server.smollm, n_ctx=2048, seed=3)
    same = local.complete(
        session.prompts[0], max_tokens=16, temperature=0.0, stop=backend.last_request["stop"]
    )
    assert reply == same.text  # greedy decoding: the same text from both backends
    backend.close()


def test_rendered_bos_is_not_doubled_by_the_server(llama_server: Served) -> None:
    from review_bot.llm.llamacpp import LlamaCppBackend

    backend = connect(llama_server.url, model=llama_server.codellama)
    assert backend.model.add_bos and backend.info().bos_token == "<s>"
    prompt = ModelSession(lambda: backend).render(MESSAGES)
    assert prompt.startswith("<s>[INST] <<SYS>>")
    sent = backend.completion_prompt(prompt)
    assert sent == prompt[len("<s>") :]
    # The server's tokenizer adds BOS to what it is sent: the same tokens as in process.
    served = backend.transport.request(  # type: ignore[attr-defined]
        "POST",
        backend.transport.root_url + "extras/tokenize",
        {"input": sent, "model": backend.model.id},
    )["tokens"]
    assert served == LlamaCppBackend(llama_server.codellama, n_ctx=256).tokenize(prompt)
    assert served.count(1) == 1
    backend.close()


def test_grammar_constrained_json_through_the_server(llama_server: Served) -> None:
    from review_bot.llm.llamacpp import LlamaCppBackend

    backend = connect(llama_server.url)
    schema = {
        "type": "object",
        "properties": {"cases": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}},
        "required": ["cases"],
        "additionalProperties": False,
    }
    session = ModelSession(lambda: backend, max_tokens=48, temperature=0.0)
    reply = session.chat([{"role": "user", "content": "Three numbers."}], json_schema=schema)
    data = json.loads(reply)
    assert set(data) == {"cases"} and all(isinstance(n, int) for n in data["cases"])
    assert "root ::=" in backend.last_request["grammar"]
    # The same grammar as in process, so the same constrained output.
    local = LlamaCppBackend(llama_server.smollm, n_ctx=2048)
    same = local.complete(
        session.prompts[0],
        max_tokens=48,
        temperature=0.0,
        stop=backend.last_request["stop"],
        json_schema=schema,
    )
    assert reply == same.text
    backend.close()


def test_server_side_template_refusing_system_is_folded(llama_server: Served) -> None:
    """CodeGemma-it's template, applied by the server, raises on a system message."""
    info = describe(llama_server.codegemma)._replace(chat_template=SERVER_TEMPLATE)
    model = ServerModel(
        str(llama_server.codegemma), LLAMA_CPP_PYTHON, info, None, False, server_chat=True
    )
    backend = OpenAIChatBackend(Client(llama_server.url), model)
    session = ModelSession(lambda: backend, max_tokens=12, temperature=0.0)
    session.chat(MESSAGES)
    assert backend.fold_system
    assert backend.last_request["messages"] == fold_system(MESSAGES)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    data = json.loads(session.chat([{"role": "user", "content": "A number."}], json_schema=schema))
    assert isinstance(data["n"], int)
    backend.close()


ADD = "def add(a: int, b: int) -> int:\n    return a + b\n"


@pytest.mark.parametrize("strategy", ["chat", "complete"])
def test_pipeline_strategies_through_the_server(
    llama_server: Served, tmp_path: Path, strategy: str
) -> None:
    project = make_project(tmp_path / "proj", {"calc.py": ADD})
    settings = Settings(
        backend="openai",
        base_url=llama_server.url,
        home=tmp_path / "home",
        strategy=strategy,
        runs=1,
        repair_attempts=0,
        max_tokens=64,
        timeout_s=20,
        docstrings=False,
    )
    report = suggest(project / "calc.py", settings)
    [result] = report.results
    assert report.stats.model_calls == 1 and report.stats.model.path == str(llama_server.smollm)
    # The call went through and its output was judged (the 135M model may fail the test).
    assert result.test.status in ("kept", "rejected")
    assert result.test.attempts[0].startswith(f"{strategy}#0: ")


def test_cli_suggest_cases_through_the_server(
    llama_server: Served,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = make_project(tmp_path / "proj", {"calc.py": ADD})
    for name, value in {"N_CASES": "4", "MAX_TOKENS": "160", "REPAIR_ATTEMPTS": "0"}.items():
        monkeypatch.setenv(f"REVIEW_BOT_{name}", value)
    code = main(
        [
            "suggest",
            str(project / "calc.py"),
            "--base-url",
            llama_server.url,
            "--strategy",
            "cases",
            "--runs",
            "1",
            "--no-docstrings",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    [target] = out["targets"]
    # Grammar-constrained cases from the server, run in the sandbox: a kept test.
    assert target["test"]["status"] == "kept", target["test"]["attempts"]
    assert "add(" in target["test"]["code"]
    assert out["model"]["path"] == str(llama_server.smollm) and out["model_calls"] >= 1
