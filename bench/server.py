"""Benchmark of the server backend against the in-process one, on this machine.

    .venv/bin/python bench/server.py                   # smollm2, 2 repeats
    .venv/bin/python bench/server.py --model m.gguf --repeats 3 --commits 3

1. Generation: the prompts review-bot sends for each function of the demo file (a chat
   test prompt, a grammar-constrained cases prompt, a grammar-constrained docstring
   prompt), rendered with the model's own chat template, streamed from llama-cpp-python
   in this process and from `review-bot serve` (llama_cpp.server) over HTTP. Greedy
   decoding, so both produce the same tokens. Reported: time to first token, decode
   tokens/s, and the total per target (the three prompts of one function).
2. A commit: wall time of `review-bot suggest FILE --no-cache` on a one-function file,
   loading the model in process, and with REVIEW_BOT_BASE_URL pointing at the resident
   server (no model load).

Prints Markdown; `--output` writes the figures as JSON, `--doc` the Markdown section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from review_bot.config import Settings, default_home
from review_bot.generate.cases import case_schema
from review_bot.generate.docstrings import render as docstrings
from review_bot.generate.tests import context_of, import_line
from review_bot.llm import ModelInfo
from review_bot.llm.chat import Message, plain_chat, render_chat
from review_bot.llm.gpu import build_info, resolve_gpu_layers
from review_bot.llm.models import describe, resolve_model, stop_tokens
from review_bot.llm.openai import OpenAIBackend, connect
from review_bot.llm.openai_http import Client
from review_bot.prompts import Prompts
from review_bot.targets import targets_in_source

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo" / "textutils.py"
ONE_FUNCTION = """\
def clamp(value: int, low: int, high: int) -> int:
    if low > high:
        raise ValueError("low must not exceed high")
    if value < low:
        return low
    if value > high:
        return high
    return value
"""


class Call(NamedTuple):
    target: str
    kind: str  # "chat" | "cases" | "docstring"
    prompt: str
    json_schema: dict[str, Any] | None
    max_tokens: int


class Timing(NamedTuple):
    ttft_s: float
    total_s: float
    tokens: int

    @property
    def decode_tps(self) -> float:
        decode = self.total_s - self.ttft_s
        return (self.tokens - 1) / decode if self.tokens > 1 and decode > 0 else 0.0


def render(info: ModelInfo, messages: list[Message]) -> str:
    """As ModelSession.render: the text either backend is sent for these messages."""
    if info.chat_template:
        return render_chat(
            info.chat_template, messages, bos_token=info.bos_token, eos_token=info.eos_token
        )
    return plain_chat(messages)


def review_bot_calls(info: ModelInfo, max_tokens: int) -> list[Call]:
    """What review-bot asks for each demo function, as the strategies phrase it."""
    prompts = Prompts(DEMO.parent)
    calls: list[Call] = []
    source = DEMO.read_text()
    for target in targets_in_source(DEMO.parent, DEMO, source):
        chat: list[Message] = [
            {"role": "system", "content": prompts.render("test_system.j2", target=target)},
            {
                "role": "user",
                "content": prompts.render(
                    "test_user.j2",
                    target=target,
                    context=context_of(target),
                    import_line=import_line(target),
                ),
            },
        ]
        calls.append(Call(target.display, "chat", render(info, chat), None, max_tokens))
        schema = case_schema(target, 8)
        if schema is not None:
            fields = schema["properties"]["cases"]["items"]["properties"]
            example = "{" + ", ".join(f'"{name}": ...' for name in fields) + "}"
            content = prompts.render("cases_user.j2", target=target, n_cases=8, example=example)
            cases: list[Message] = [{"role": "user", "content": content}]
            calls.append(Call(target.display, "cases", render(info, cases), schema, max_tokens))
        doc_schema = docstrings.docstring_schema(target)
        properties = doc_schema.get("properties", {})
        content = prompts.render(
            "docstring_user.j2",
            target=target,
            documents_return="returns" in properties,
            documents_yield="yields" in properties,
        )
        doc: list[Message] = [{"role": "user", "content": content}]
        calls.append(Call(target.display, "docstring", render(info, doc), doc_schema, max_tokens))
    return calls


def stream_in_process(llama: Any, info: ModelInfo, call: Call, seed: int) -> Timing:
    from llama_cpp.llama_grammar import LlamaGrammar

    bos = info.bos_token
    tokens = llama.tokenize(
        call.prompt.encode(), add_bos=not (bos and call.prompt.startswith(bos)), special=True
    )
    grammar = None
    if call.json_schema is not None:
        grammar = LlamaGrammar.from_json_schema(json.dumps(call.json_schema), verbose=False)
    start = time.perf_counter()
    first = 0.0
    count = 0
    for _ in llama.create_completion(
        prompt=tokens,
        max_tokens=call.max_tokens,
        temperature=0.0,
        top_p=0.95,
        repeat_penalty=1.1,
        stop=list(stop_tokens(info)),
        grammar=grammar,
        seed=seed,
        stream=True,
    ):
        count += 1
        if count == 1:
            first = time.perf_counter() - start
    return Timing(first, time.perf_counter() - start, count)


def stream_server(backend: OpenAIBackend, call: Call, seed: int) -> Timing:
    body = backend.completion_body(
        call.prompt,
        max_tokens=call.max_tokens,
        temperature=0.0,
        stop=stop_tokens(backend.info()),
        json_schema=call.json_schema,
        seed=seed,
    )
    start = time.perf_counter()
    first = 0.0
    count = 0
    for _ in backend.transport.stream("completions", body):  # type: ignore[attr-defined]
        count += 1
        if count == 1:
            first = time.perf_counter() - start
    return Timing(first, time.perf_counter() - start, count)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server(NamedTuple):
    url: str
    process: subprocess.Popen[bytes]
    ready_s: float


def start_server(model: Path, home: Path, n_ctx: int, threads: int) -> Server:
    port = free_port()
    env = {**os.environ, "REVIEW_BOT_HOME": str(home), "REVIEW_BOT_N_CTX": str(n_ctx)}
    start = time.perf_counter()
    command = [sys.executable, "-m", "review_bot", "serve", "--model", str(model)]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--threads", str(threads)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    client = Client(url, backoff_s=0.05)
    try:
        client.wait_ready(300)
    finally:
        client.close()
    return Server(url, process, time.perf_counter() - start)


def stop_server(server: Server) -> None:
    os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


def time_commit(
    file: Path, env: dict[str, str], extra: list[str]
) -> tuple[float, dict[str, Any] | None, str]:
    """Wall time, the JSON report (None on failure) and the error line of one run."""
    command = [sys.executable, "-m", "review_bot", "suggest", str(file), "--no-cache", "--json"]
    command += extra
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=file.parent)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return wall, None, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    report: dict[str, Any] = json.loads(done.stdout)
    return wall, report, ""


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def per_target(timings: dict[str, list[list[Timing]]], calls: list[Call]) -> Iterator[str]:
    """Markdown rows: one per target, both backends side by side."""
    names = list(dict.fromkeys(call.target for call in calls))
    for name in names:
        cells = [f"`{name}`"]
        for backend in ("in-process", "server"):
            rows = [
                [t for call, t in zip(calls, run, strict=True) if call.target == name]
                for run in timings[backend]
            ]
            total = median([sum(t.total_s for t in row) for row in rows])
            ttft = median([statistics.mean(t.ttft_s for t in row) for row in rows])
            cells += [f"{ttft * 1000:.0f} ms", f"{total:.2f} s"]
        yield "| " + " | ".join(cells) + " |"


def generation(
    args: argparse.Namespace, model_path: Path, info: ModelInfo, calls: list[Call], home: Path
) -> tuple[list[str], dict[str, Any]]:
    """The same prompts streamed in process and from the server, interleaved."""
    import llama_cpp

    start = time.perf_counter()
    llama = llama_cpp.Llama(
        model_path=str(model_path),
        n_ctx=min(args.n_ctx, info.context_length or args.n_ctx),
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_gpu_layers=resolve_gpu_layers(Settings().gpu_layers),
        seed=1234,
        verbose=False,
    )
    load_s = time.perf_counter() - start
    timings: dict[str, list[list[Timing]]] = {"in-process": [], "server": []}
    server = start_server(model_path, home, args.n_ctx, args.threads)
    try:
        backend = connect(server.url)
        # Warm-ups, not counted; then each prompt on both backends in turn, the order
        # swapped every repeat, so that a busy machine slows both alike.
        stream_in_process(llama, info, calls[0], 0)
        stream_server(backend, calls[0], 0)
        for repeat in range(args.repeats):
            local: list[Timing] = []
            remote: list[Timing] = []
            for call in calls:
                if repeat % 2 == 0:
                    local.append(stream_in_process(llama, info, call, 0))
                    remote.append(stream_server(backend, call, 0))
                else:
                    remote.append(stream_server(backend, call, 0))
                    local.append(stream_in_process(llama, info, call, 0))
            timings["in-process"].append(local)
            timings["server"].append(remote)
        backend.close()
    finally:
        stop_server(server)
        del llama

    def summary(backend: str) -> tuple[float, float, float]:
        flat = [t for run in timings[backend] for t in run]
        ttft = median([t.ttft_s for t in flat])
        tps = median([t.decode_tps for t in flat])
        total = median([sum(t.total_s for t in run) for run in timings[backend]])
        return ttft, tps, total

    lines = [
        "### Generation, same prompts",
        "",
        f"{len(calls)} prompts ({len({c.target for c in calls})} functions of "
        "`examples/demo/textutils.py` x chat test / cases / docstring, the last two "
        f"grammar-constrained), greedy, at most {args.max_tokens} tokens each, streamed; "
        f"{args.threads} CPU thread(s) per backend; medians of {args.repeats} repeats.",
        "",
        "| backend | model load | time to first token (median) | decode tokens/s (median) "
        "| all prompts (median) |",
        "|---|---|---|---|---|",
    ]
    for backend, load in (("in-process", load_s), ("server", server.ready_s)):
        ttft, tps, total = summary(backend)
        what = "in this process" if backend == "in-process" else "server start to ready"
        lines.append(
            f"| {backend} | {load:.2f} s ({what}) | {ttft * 1000:.0f} ms | {tps:.1f} "
            f"| {total:.2f} s |"
        )
    tokens = [t.tokens for t in timings["in-process"][0]]
    same = tokens == [t.tokens for t in timings["server"][0]]
    lines += [
        "",
        f"Stream chunks per repeat: {sum(tokens)}"
        + (" on both sides (the same greedy output)." if same else "; the server's differ."),
        "",
        "Per function (its three prompts): time to first token (mean) and total.",
        "",
        "| function | in-process TTFT | in-process total | server TTFT | server total |",
        "|---|---|---|---|---|",
        *per_target(timings, calls),
        "",
    ]
    data = {
        "load_s": {"in-process": load_s, "server_ready": server.ready_s},
        "calls": [c._replace(prompt=c.prompt[:80])._asdict() for c in calls],
        "timings": {k: [[t._asdict() for t in run] for run in v] for k, v in timings.items()},
    }
    return lines, data


def commits(
    args: argparse.Namespace, model_path: Path, home: Path, tmp: Path
) -> tuple[list[str], dict[str, Any]]:
    """`review-bot suggest` in a fresh process: loading the model vs a resident server."""
    project = tmp / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
    file = project / "clampmod.py"
    file.write_text(ONE_FUNCTION)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEW_BOT_")}
    base_env["REVIEW_BOT_HOME"] = str(home)
    # A busy machine can make a generation slow; the in-process run has no such limit.
    base_env["REVIEW_BOT_REQUEST_TIMEOUT_S"] = "1800"
    if args.model is not None:
        base_env["REVIEW_BOT_MODEL"] = str(model_path)
    extra = args.commit_args.split()
    runs: dict[str, list[tuple[float, dict[str, Any] | None, str]]] = {
        "loads": [],
        "resident": [],
    }
    # `review-bot suggest` loads its model with a thread per core: so does this server.
    server = start_server(model_path, home, args.n_ctx, os.cpu_count() or 1)
    try:
        resident = {**base_env, "REVIEW_BOT_BASE_URL": server.url}
        resident.pop("REVIEW_BOT_MODEL", None)
        for _ in range(args.commits):
            runs["loads"].append(time_commit(file, base_env, extra))
            runs["resident"].append(time_commit(file, resident, extra))
    finally:
        stop_server(server)
    flags = " ".join(["--no-cache", *extra])
    lines = [
        "### A commit: resident server vs loading the model",
        "",
        f"`review-bot suggest clampmod.py {flags}` on a one-function file (defaults "
        f"otherwise), {args.commits} runs of each kind, alternating, each a fresh process as "
        "a hook is; the server uses as many threads as the in-process backend.",
        "",
        "| model | wall time (median) | model time in the run (median) | runs |",
        "|---|---|---|---|",
    ]
    for kind, label in (("loads", "loaded by the command"), ("resident", "resident server")):
        done = [(w, r) for w, r, _ in runs[kind] if r is not None]
        walls = [w for w, _ in done]
        model_s = [r["timings"]["model_s"] for _, r in done]
        shown = ", ".join(f"{w:.1f}" if r is not None else "failed" for w, r, _ in runs[kind])
        lines.append(f"| {label} | {median(walls):.2f} s | {median(model_s):.2f} s | {shown} s |")
    errors = sorted({e for kind in runs.values() for _, r, e in kind if r is None and e})
    saving = median([w for w, r, _ in runs["loads"] if r]) - median(
        [w for w, r, _ in runs["resident"] if r]
    )
    lines += ["", f"Median saving per commit: {saving:.2f} s.", ""]
    lines += [f"Failed run: {error}" for error in errors]
    data = {
        kind: [{"wall_s": w, "report": r, "error": e} for w, r, e in values]
        for kind, values in runs.items()
    }
    return lines, data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=Path("smollm2"),
        help="GGUF file or packaged name (default: smollm2, as in the published figures)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs of every prompt")
    parser.add_argument("--commits", type=int, default=3, help="timed commits of each kind")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="CPU threads of both backends in the generation part (default: all)",
    )
    parser.add_argument(
        "--commit-args",
        default="",
        help="extra `review-bot suggest` arguments of the timed commits, e.g. --no-tests",
    )
    parser.add_argument(
        "--only", choices=("generation", "commits"), help="run one part of the benchmark"
    )
    parser.add_argument("--output", type=Path, help="write the figures as JSON")
    parser.add_argument("--doc", type=Path, help="write the Markdown section to this file")
    args = parser.parse_args(argv)

    model_path, _ = resolve_model(args.model, default_home())
    info = describe(model_path)
    calls = review_bot_calls(info, args.max_tokens)
    build = build_info()
    lines = [
        "## Server backend",
        "",
        f"Model `{model_path.name}` ({info.arch}, {info.quantization}); "
        f"llama-cpp-python {build.version}, {build.backend} build; "
        f"{os.cpu_count()} CPU threads, {platform.machine()}, Python {platform.python_version()}; "
        f"load average at start {os.getloadavg()[0]:.1f}.",
        "",
    ]
    data: dict[str, Any] = {"model": str(model_path)}

    def emit() -> None:
        text = "\n".join(lines)
        if args.doc is not None:
            args.doc.write_text(text)
        if args.output is not None:
            args.output.write_text(json.dumps(data, indent=2))

    with tempfile.TemporaryDirectory(prefix="rb-bench-") as tmp:
        home = Path(tmp) / "home"
        if args.only in (None, "generation"):
            part, data["generation"] = generation(args, model_path, info, calls, home)
            lines += part
            print("\n".join(lines), flush=True)
            emit()
        if args.only in (None, "commits"):
            part, data["commits"] = commits(args, model_path, home, Path(tmp))
            lines += part
            print("\n".join(part), flush=True)
    lines.append(f"Load average at the end {os.getloadavg()[0]:.1f}.")
    emit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
