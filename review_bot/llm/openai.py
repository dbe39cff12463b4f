"""The server backend: any OpenAI-compatible HTTP server runs the model.

llama.cpp's own server, llama-cpp-python's `python -m llama_cpp.server` (what `review-bot
serve` starts), Ollama and vLLM all speak the same `/v1/completions`,
`/v1/chat/completions` and `/v1/models`. A team shares one GPU box this way, and a
commit reuses a model that stays loaded instead of loading it again.

How chat is formatted. When the server's model is a GGUF file this machine can read (the
path the server reports, or `--model` naming a local copy), review-bot reads its chat
template, renders the prompt itself exactly as the in-process backend does and sends it
to `/v1/completions`, so both backends send the same text. llama.cpp's server also tells
its template through `/props`. Otherwise the messages go to `/v1/chat/completions` and the
server applies the model's own template; a template that refuses the system role gets it
folded into the first user turn, and a model with no chat template at all gets a plain
completion prompt.

Constraints. JSON schemas travel as each server expects them: a GBNF grammar for
llama-cpp-python, `json_schema` for llama.cpp's server, `response_format` for the others.
A server that ignores them still works: every caller validates the JSON it gets back.

The API key (REVIEW_BOT_API_KEY) is sent as a bearer token and appears in no message.
"""

from __future__ import annotations

import json
import mmap
import re
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from review_bot import __version__, http
from review_bot.errors import FatalError, ModelError
from review_bot.llm import Completion, ModelInfo
from review_bot.llm.chat import Message, fold_system, plain_chat
from review_bot.llm.gguf import _Reader
from review_bot.llm.models import describe

# Statuses worth another try: overload, a gateway in between, a server still loading.
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5
MAX_RETRY_AFTER_S = 30.0
CONNECT_TIMEOUT_S = 10.0

# Server kinds, told apart by `owned_by` in /v1/models; each takes constraints its way.
LLAMA_CPP_PYTHON = "llama-cpp-python"
LLAMA_CPP = "llama.cpp"
_OWNERS = {"me": LLAMA_CPP_PYTHON, "llamacpp": LLAMA_CPP, "vllm": "vllm", "library": "ollama"}

# A stand-in for a server whose chat template cannot be read from here: the chat then goes
# to /v1/chat/completions and the server applies the model's own template. The text below
# is only rendered if something formats chat locally anyway, so it is plain ChatML.
SERVER_TEMPLATE = (
    "{# review-bot: the server applies the model's own chat template #}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_SPACES = re.compile(r"\s+")


class ServerError(ModelError):
    """The server could not be reached or refused a request; one line, exit code 1."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def normalize_base_url(url: str) -> str:
    """`http://host:port` gets the usual `/v1`; any other path is kept as given."""
    text = url.strip().rstrip("/")
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise FatalError(f"base_url {url!r} is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FatalError(f"base_url must be an http:// or https:// URL, not {url!r}")
    if parsed.path in ("", "/"):
        text += "/v1"
    return text


def _one_line(text: str, limit: int = 300) -> str:
    line = _SPACES.sub(" ", text).strip()
    return line if len(line) <= limit else line[: limit - 3] + "..."


def error_message(response: httpx.Response) -> str:
    """The server's own explanation, from the usual shapes of an error body."""
    try:
        data = response.json()
    except ValueError:
        return _one_line(response.text) or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return _one_line(error if isinstance(error, str) else json.dumps(error))
    return _one_line(json.dumps(data))


class Client:
    """HTTP to an OpenAI-compatible server: timeouts, bounded retries with backoff."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        headers = {"Accept": "application/json", "User-Agent": f"review-bot/{__version__}"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S)),
        )
        # Sockets are closed even when an owner forgets close(): no ResourceWarning.
        self._finalizer = weakref.finalize(self, self._http.close)

    @property
    def root_url(self) -> str:
        """The server's root, where llama.cpp and vLLM answer /health and /props."""
        url = httpx.URL(self.base_url)
        return str(url.copy_with(path="/"))

    def close(self) -> None:
        self._finalizer()

    @property
    def policy(self) -> http.Policy:
        """The server's retries: 429 and 5xx (not a template's refusal), waiting its
        Retry-After seconds up to MAX_RETRY_AFTER_S; connection errors, but not a
        generation that timed out."""
        return http.Policy(
            retries=self.retries,
            backoff_s=self.backoff_s,
            retryable=_retryable,
            retry_transport=_retry_transport,
            max_retry_after_s=MAX_RETRY_AFTER_S,
            sleep=self._sleep,
        )

    def request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """One JSON request; connection errors, 429 and 5xx are retried `retries` times."""
        try:
            answer = http.send(self._http, method, path, self.policy, json=body)
        except http.Unreachable as exc:
            if isinstance(exc.error, httpx.ConnectTimeout):
                raise ServerError(
                    f"cannot reach the model server at {self.base_url}: connection timed out "
                    f"(after {exc.attempts} attempts)"
                ) from None
            if isinstance(exc.error, httpx.TimeoutException):
                raise ServerError(
                    f"the model server at {self.base_url} did not answer /{path} within "
                    f"{self.timeout_s:g} s; raise request_timeout_s (REVIEW_BOT_REQUEST_TIMEOUT_S)"
                ) from None
            raise ServerError(
                f"cannot reach the model server at {self.base_url}: {_one_line(str(exc.error))} "
                f"(after {exc.attempts} attempts; start one with `review-bot serve`)"
            ) from None
        return self._json(answer.response, path, answer.attempts)

    def _json(self, response: httpx.Response, path: str, attempts: int = 1) -> dict[str, Any]:
        status = response.status_code
        where = f"the model server at {self.base_url}"
        path = path if "://" in path else "/" + path
        if status in (401, 403):
            raise ServerError(
                f"{where} refused the request ({status}): check REVIEW_BOT_API_KEY", status
            )
        if status >= 400:
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            raise ServerError(
                f"{where} answered {path} with {status}{tries}: {error_message(response)}", status
            )
        try:
            data = response.json()
        except ValueError:
            raise ServerError(f"{where} answered {path} with something that is not JSON") from None
        if not isinstance(data, dict):
            raise ServerError(f"{where} answered {path} with JSON that is not an object")
        return data

    def stream(self, path: str, body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Server-sent events of a `stream: true` request, as parsed JSON objects."""
        payload = {**body, "stream": True}
        try:
            with self._http.stream("POST", path, json=payload) as response:
                if response.status_code >= 400:
                    response.read()
                    self._json(response, path)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[len("data:") :].strip()
                    if data == "[DONE]":
                        return
                    if data:
                        event = json.loads(data)
                        if isinstance(event, dict):
                            yield event
        except httpx.TransportError as exc:
            raise ServerError(
                f"lost the model server at {self.base_url}: {_one_line(str(exc))}"
            ) from None

    def wait_ready(self, timeout_s: float, *, connect_grace_s: float | None = None) -> list[Any]:
        """Poll /v1/models until the server lists its models; return them.

        A server that is still loading its model answers 503 (llama.cpp, vLLM) or refuses
        connections (llama-cpp-python listens only once loaded). Refused connections end
        the wait after `connect_grace_s`, so that a server that is simply not running is
        reported quickly; a loading server is given all of `timeout_s`.
        """
        start = time.monotonic()
        grace = timeout_s if connect_grace_s is None else min(connect_grace_s, timeout_s)
        attempt = 0
        while True:
            elapsed = time.monotonic() - start
            try:
                response = self._http.get("models", timeout=max(min(5.0, timeout_s), 0.1))
            except httpx.TransportError as exc:
                problem = _one_line(str(exc)) or type(exc).__name__
                if elapsed >= grace:
                    raise ServerError(
                        f"cannot reach the model server at {self.base_url}: {problem} "
                        "(start one with `review-bot serve`, or check base_url)"
                    ) from None
            else:
                if response.status_code not in (502, 503, 504):
                    data = self._json(response, "models")
                    models = data.get("data")
                    if not isinstance(models, list):
                        raise ServerError(
                            f"the model server at {self.base_url} answered /models without a list"
                        )
                    return models
                problem = f"{response.status_code} {error_message(response)}"
                if elapsed >= timeout_s:
                    raise ServerError(
                        f"the model server at {self.base_url} is not ready after "
                        f"{timeout_s:g} s: {problem}"
                    )
            self._sleep(min(self.backoff_s * 2**attempt, 2.0))
            attempt += 1


def _retryable(response: httpx.Response) -> bool:
    if response.status_code not in RETRY_STATUS:
        return False
    # A chat template that refuses a message fails the same way every time: do not retry.
    if response.status_code == 500:
        message = error_message(response).lower()
        return not ("not supported" in message or "template" in message)
    return True


def _retry_transport(exc: httpx.TransportError) -> bool:
    # A generation that ran out of time would run out of time again; a connection that
    # timed out may well be made on the next try.
    return isinstance(exc, httpx.ConnectTimeout) or not isinstance(exc, httpx.TimeoutException)


class ServerModel(NamedTuple):
    id: str  # the name the server knows the model by, sent with every request
    flavor: str  # LLAMA_CPP_PYTHON, LLAMA_CPP, "vllm", "ollama" or "openai"
    info: ModelInfo
    local: Path | None  # a GGUF on this machine with the model's template and metadata
    add_bos: bool  # the server's tokenizer adds BOS itself: a rendered BOS is dropped
    server_chat: bool  # chat goes to /v1/chat/completions (template unknown here)


def flavor_of(entry: Mapping[str, Any]) -> str:
    return _OWNERS.get(str(entry.get("owned_by", "")), "openai")


def choose_model(ids: Sequence[str], wanted: Path | None, base_url: str) -> str:
    """The served model `wanted` names: a path, a file name or stem, or a server's tag."""
    if not ids:
        raise ServerError(f"the model server at {base_url} serves no model")
    if wanted is None:
        return ids[0]
    text = str(wanted)
    if text in ids:
        return text
    names = {wanted.name, wanted.stem}
    for candidate in ids:
        if candidate in names or Path(candidate).name in names or Path(candidate).stem in names:
            return candidate
    raise ServerError(
        f"the model server at {base_url} does not serve {text}; it serves: {', '.join(ids)}"
    )


_BOS_KEYS = ("tokenizer.ggml.add_bos_token", "tokenizer.ggml.model")


def _tokenizer_keys(path: Path) -> dict[str, Any]:
    """The two keys `_adds_bos` needs, read until both are found.

    They usually come before the vocabulary, so this skips most of a header that
    describe() has just parsed in full: a hook pays for one parse, not two.
    """
    found: dict[str, Any] = {}
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        reader = _Reader(data, path)
        reader.pos = 4
        reader.unpack("<I")  # version
        reader.unpack("<Q")  # tensors
        for _ in range(reader.unpack("<Q")):
            key = reader.string()
            value = reader.value(reader.unpack("<I"), keep=False)
            if key in _BOS_KEYS:
                found[key] = value
                if len(found) == len(_BOS_KEYS):
                    break
    return found


def _adds_bos(path: Path) -> bool:
    """Whether llama.cpp's tokenizer puts BOS in front of a prompt for this model."""
    meta = _tokenizer_keys(path)
    flag = meta.get("tokenizer.ggml.add_bos_token")
    if isinstance(flag, bool):
        return flag
    # llama.cpp's default when the file does not say: SentencePiece vocabularies add it.
    return meta.get("tokenizer.ggml.model") == "llama"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def discover(
    client: Client, wanted: Path | None, *, ready_timeout_s: float, connect_grace_s: float = 3.5
) -> ServerModel:
    """Which model the server runs and what review-bot knows about it.

    A server that refuses connections is given `connect_grace_s` (a restart in progress);
    one that answers "loading" is given all of `ready_timeout_s`.
    """
    models = client.wait_ready(ready_timeout_s, connect_grace_s=connect_grace_s)
    entries = [e for e in models if isinstance(e, dict)]
    ids = [str(e.get("id", "")) for e in entries]
    model_id = choose_model(ids, wanted, client.base_url)
    entry = entries[ids.index(model_id)]
    flavor = flavor_of(entry)
    served = Path(model_id)
    local = next(
        (
            p
            for p in (served if served.is_absolute() else None, wanted)
            if p is not None and p.is_file()
        ),
        None,
    )
    if local is not None:
        info = describe(local)._replace(path=model_id)
        return ServerModel(model_id, flavor, info, local, _adds_bos(local), server_chat=False)
    props: dict[str, Any] = {}
    if flavor == LLAMA_CPP:
        try:
            props = client.request("GET", client.root_url + "props")
        except ServerError:
            props = {}  # an older server without /props: chat through the server
    meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
    assert isinstance(meta, dict)
    generation = props.get("default_generation_settings")
    n_ctx = generation.get("n_ctx") if isinstance(generation, dict) else None
    template = props.get("chat_template")
    template = template if isinstance(template, str) and template.strip() else None
    info = ModelInfo(
        path=model_id,
        arch=str(meta.get("arch") or props.get("model_arch") or "unknown"),
        name=served.name or model_id,
        n_params=_int(meta.get("n_params")),
        context_length=_int(meta.get("n_ctx_train"))
        or _int(entry.get("max_model_len"))
        or _int(n_ctx),
        quantization=None,
        chat_template=template or SERVER_TEMPLATE,
        bos_token=str(props.get("bos_token") or ""),
        eos_token=str(props.get("eos_token") or ""),
        fim=None,
    )
    add_bos = bool(info.bos_token)  # llama.cpp tells the BOS text only when it uses one
    return ServerModel(model_id, flavor, info, None, add_bos, server_chat=template is None)


_GRAMMARS: dict[str, str] = {}


def json_schema_grammar(schema: Mapping[str, Any]) -> str:
    """llama.cpp's GBNF for a JSON schema, made by llama-cpp-python's own converter.

    Key order matters: properties are generated in the schema's order, as in process.
    """
    key = json.dumps(schema)
    if key not in _GRAMMARS:
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        _GRAMMARS[key] = json_schema_to_gbnf(key)
    return _GRAMMARS[key]


class OpenAIBackend:
    """Completions from a server; chat is rendered here with the model's own template."""

    def __init__(self, client: Client, model: ServerModel, *, seed: int = 1234) -> None:
        self.client = client
        self.model = model
        self.seed = seed
        self.last_request: dict[str, Any] = {}  # the JSON body last sent, for tests

    def info(self) -> ModelInfo:
        return self.model.info

    def load_seconds(self) -> float:
        return 0.0  # the model is loaded on the server, not here

    def close(self) -> None:
        self.client.close()

    def _options(
        self,
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str],
        json_schema: Mapping[str, Any] | None,
        seed: int | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model.id,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": 0.95,
            "seed": self.seed if seed is None else seed,
        }
        if stop:
            body["stop"] = list(stop)
        flavor = self.model.flavor
        if flavor in (LLAMA_CPP_PYTHON, LLAMA_CPP):
            body["repeat_penalty"] = 1.1  # as the in-process backend samples
        if json_schema is not None:
            if flavor == LLAMA_CPP_PYTHON:
                body["grammar"] = json_schema_grammar(json_schema)
            elif flavor == LLAMA_CPP:
                body["json_schema"] = dict(json_schema)
            else:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "reply", "schema": dict(json_schema)},
                }
        return body

    def _send(self, path: str, body: dict[str, Any], *, chat: bool) -> Completion:
        self.last_request = body
        start = time.perf_counter()
        data = self.client.request("POST", path, body)
        seconds = time.perf_counter() - start
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ServerError(f"the model server at {self.client.base_url} returned no choice")
        choice = choices[0]
        if chat:
            message = choice.get("message")
            text = message.get("content") if isinstance(message, dict) else None
        else:
            text = choice.get("text")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        assert isinstance(usage, dict)
        return Completion(
            text=text if isinstance(text, str) else "",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            seconds=seconds,
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        )

    def completion_prompt(self, prompt: str) -> str:
        """The text sent for `prompt`: without a rendered BOS when the server adds one."""
        bos = self.model.info.bos_token
        if self.model.add_bos and bos and prompt.startswith(bos):
            return prompt[len(bos) :]
        return prompt

    def completion_body(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
        json_schema: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """The JSON body of a /v1/completions request (`stream` may be added to it)."""
        body = self._options(
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            json_schema=json_schema,
            seed=seed,
        )
        body["prompt"] = self.completion_prompt(prompt)
        return body

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
        json_schema: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Completion:
        body = self.completion_body(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            json_schema=json_schema,
            seed=seed,
        )
        return self._send("completions", body, chat=False)


class OpenAIChatBackend(OpenAIBackend):
    """A server whose chat template is unknown here: chat goes to its chat endpoint."""

    def __init__(self, client: Client, model: ServerModel, *, seed: int = 1234) -> None:
        super().__init__(client, model, seed=seed)
        self.fold_system = False  # set once the server's template refuses the system role
        self.no_chat = False  # set once the server says the model has no chat template

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
        json_schema: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Completion:
        while True:
            if self.no_chat:
                return self.complete(
                    plain_chat(messages),
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=stop,
                    json_schema=json_schema,
                    seed=seed,
                )
            body = self._options(
                max_tokens=max_tokens,
                temperature=temperature,
                stop=stop,
                json_schema=json_schema,
                seed=seed,
            )
            sent = fold_system(messages) if self.fold_system else list(messages)
            body["messages"] = [dict(m) for m in sent]
            try:
                return self._send("chat/completions", body, chat=True)
            except ServerError as exc:
                reason = str(exc).lower()
                if exc.status is None or exc.status < 400 or exc.status in (401, 403):
                    raise
                if "system" in reason and not self.fold_system and _has_system(messages):
                    self.fold_system = True  # CodeGemma: "System role not supported"
                    continue
                if "template" in reason:
                    self.no_chat = True  # a base model: no chat template at all
                    continue
                raise


def _has_system(messages: Sequence[Message]) -> bool:
    return bool(messages) and messages[0]["role"] == "system"


def connect(
    base_url: str,
    *,
    model: Path | None = None,
    api_key: str | None = None,
    timeout_s: float = 120.0,
    seed: int = 1234,
    retries: int = DEFAULT_RETRIES,
) -> OpenAIBackend:
    """A backend for the model `model` names on the server (its default when None)."""
    client = Client(base_url, api_key=api_key, timeout_s=timeout_s, retries=retries)
    try:
        served = discover(client, model, ready_timeout_s=timeout_s)
    except BaseException:
        client.close()
        raise
    kind = OpenAIChatBackend if served.server_chat else OpenAIBackend
    return kind(client, served, seed=seed)
