"""The OpenAI-compatible HTTP API as review-bot speaks it: the client (one retry loop,
review_bot.http), its errors, and what a server says it serves (model discovery)."""

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
from review_bot.llm import ModelInfo
from review_bot.llm.gguf import _Reader
from review_bot.llm.models import describe

# Statuses worth another try: overload, a gateway in between, a server still loading.
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5
MAX_RETRY_AFTER_S = 30.0
# The largest answer read from a model server: a reply of a few thousand tokens is tens of
# kilobytes; a 52 MB one became a 52 MB test (issue 22).
MAX_REPLY_BYTES = 1_000_000
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
    def where(self) -> str:
        return f"the model server at {self.base_url}"

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """The Transport of llm/openai.py: one JSON POST to `path` under the base URL."""
        return self.request("POST", path, body)

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
            deadline_s=self.timeout_s,
            max_bytes=MAX_REPLY_BYTES,
        )

    def request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """One JSON request; connection errors, 429 and 5xx are retried `retries` times."""
        try:
            answer = http.send(self._http, method, path, self.policy, json=body)
        except http.TooSlow:
            raise ServerError(
                f"the model server at {self.base_url} did not finish answering /{path} within "
                f"{self.timeout_s:g} s; raise request_timeout_s (REVIEW_BOT_REQUEST_TIMEOUT_S)"
            ) from None
        except http.TooLarge:
            raise ServerError(
                f"the model server at {self.base_url} sent more than {MAX_REPLY_BYTES} bytes "
                f"for /{path}; the answer was cut off and not used"
            ) from None
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
