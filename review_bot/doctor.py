"""`review-bot doctor` below the command line: is everything a run needs present?

The llama.cpp runtime (xllamacpp or llama-cpp-python), its build and GPU offload, the
model (a local file, or the one a server serves), the model cache, the server's extra
modules, and every setting with where it came from. Lines to print, and the problems that
make the installation unfit.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from review_bot import __version__
from review_bot.config import HOOK_KEEP_ALIVE_S, Settings, load_settings, read_pyproject
from review_bot.errors import FatalError, ModelError
from review_bot.llm import catalog
from review_bot.llm.default_model import MODEL_NAMES
from review_bot.llm.models import describe, resolve_model
from review_bot.llm.report import model_lines
from review_bot.llm.runtime import LLAMA_CPP_PYTHON, XLLAMACPP
from review_bot.llm.serve import missing_server_modules
from review_bot.progress import Progress

# What to do when gpu_layers is set on a build without a GPU backend, per runtime.
GPU_HINTS = {
    XLLAMACPP: "this xllamacpp wheel has no GPU backend: install a CUDA, ROCm or Vulkan "
    "wheel of xllamacpp from its maintainers' package index to use the GPU",
    LLAMA_CPP_PYTHON: "this llama-cpp-python has no GPU backend: rebuild it with "
    'CMAKE_ARGS="-DGGML_CUDA=on" (or -DGGML_METAL=on) to use the GPU',
}


class Diagnosis(NamedTuple):
    lines: list[str]
    problems: list[str]  # none: all needed parts are present


def diagnose(
    root: Path,
    flags: Mapping[str, Any],
    model: str | None = None,
    progress: Progress | None = None,
) -> Diagnosis:
    """The report of `doctor` for the project at `root`; `model` is a file or a name.

    The default model is assembled if it was not yet (its sha256 is checked): `progress`
    hears about it.
    """
    from review_bot.core.backends import uses_server
    from review_bot.llm.gpu import BuildInfo, build_info, describe_gpu_layers, resolve_gpu_layers
    from review_bot.llm.threads import resolve_threads

    problems: list[str] = []
    notes: list[str] = []
    flags = dict(flags)
    base_settings = load_settings(root, flags)
    if model:
        packaged = model in MODEL_NAMES and not Path(model).exists()
        flags["model"] = model if packaged else catalog.resolve(base_settings.home, model)
    settings = load_settings(root, flags)
    out = [f"review-bot {__version__} (Python {sys.version.split()[0]})"]

    server = uses_server(settings)
    gpu_offload = False
    build: BuildInfo | None = None
    try:
        build = build_info(settings.runtime)
    except FatalError as exc:
        # A server runs the model: no runtime is needed here, only `serve` would need one.
        (notes if server else problems).append(str(exc))
    else:
        gpu_offload = build.gpu_offload
        chosen = " (runtime = auto)" if settings.runtime == "auto" else ""
        out.append(f"runtime: {build.summary()}{chosen}")
        out.append(f"  {build.system_info}")
    try:
        layers = resolve_gpu_layers(settings.gpu_layers, gpu_offload=gpu_offload)
    except FatalError as exc:
        problems.append(str(exc))
    else:
        account = describe_gpu_layers(settings.gpu_layers, layers)
        out.append(f"gpu_layers: {settings.gpu_layers} ({account})")
        if settings.gpu_layers > 0 and not gpu_offload and build is not None:
            notes.append(f"gpu_layers is set but {GPU_HINTS[build.runtime]}")

    threads = resolve_threads(settings.threads)
    out.append(f"threads: {threads.n} ({threads.why})")
    out.append(_python_line(root, settings, problems, notes))
    if server:
        out.append(f"backend: openai, server at {settings.base_url}")
        out.extend(_check_server(settings, problems))
    else:
        where = f"in process, {build.runtime}" if build is not None else "in process"
        out.append(f"backend: llamacpp ({where})")
        out.extend(_check_local_model(settings, problems, progress))
        out.append(_resident_line(settings))

    out.append(jail_line(settings, problems))
    directory = catalog.models_dir(settings.home)
    count, size = catalog.directory_size(directory)
    out.append(f"model cache: {directory} ({count} GGUF files, {catalog.human_size(size)})")
    out.append(f"state directory: {settings.home}")
    missing = missing_server_modules()
    if missing and build is not None and build.runtime == LLAMA_CPP_PYTHON:
        notes.append(f"`review-bot serve` needs llama-cpp-python[server]: {', '.join(missing)}")
    out.append(f"configuration (project {root}):")
    out.extend(config_sources(root, settings, flags))
    for note in notes:
        out.append(f"note: {note}")
    if problems:
        out.append("missing:")
        out.extend(f"  - {problem}" for problem in problems)
    else:
        out.append("all needed parts are present")
    return Diagnosis(out, problems)


def _resident_line(settings: Settings) -> str:
    """Whether runs keep the model loaded (keep_alive_s), and what is loaded now."""
    from review_bot.llm import resident

    keep = settings.keep_alive_s
    said = f"{keep:g} s after the last call" if keep else "0: each run loads it"
    if keep is None:
        said = (
            f"the hook keeps it {HOOK_KEEP_ALIVE_S:g} s after the last call; "
            "suggest and review load it"
        )
    if not resident.available():
        return f"resident model: not on this system (keep_alive_s: {said})"
    try:
        loaded = resident.running()
    except FatalError as exc:
        return f"resident model: {exc}"
    now = ", ".join(
        f"{Path(r.status['model']).name} (pid {r.status['pid']}, "
        f"{r.status['threads']} threads, idle {r.status['idle_s']:g} s)"
        for r in loaded
    )
    return f"resident model: {now or 'none loaded now'}; keep_alive_s: {said}"


def _python_line(root: Path, settings: Settings, problems: list[str], notes: list[str]) -> str:
    """The interpreter that runs the tests, and why (sandbox/interpreter.py's order)."""
    from review_bot.sandbox import interpreter

    try:
        interp = interpreter.prepare(interpreter.find_python(root, settings.python), settings.jail)
    except FatalError as exc:
        problems.append(str(exc))
        return "python: unusable"
    if interp.own:
        notes.append(
            "no project environment found: the tests run with review-bot's own Python, "
            "which may lack the project's dependencies; set python"
        )
    return f"tests run with: {interpreter.describe(interp)}"


def jail_line(settings: Settings, problems: list[str]) -> str:
    """Which jail generated code runs in, and why that one."""
    from review_bot.sandbox import jail

    try:
        found = jail.resolve(settings.jail, sys.executable)
    except FatalError as exc:
        problems.append(str(exc))
        return f"jail: unusable (jail = {settings.jail})"
    if found.kind == "none" and settings.jail != "none":
        return f"jail: none ({found.why}; generated code runs with the basic guards only)"
    return f"jail: {found.kind} ({found.why})"


def config_sources(root: Path, settings: Settings, flags: Mapping[str, Any]) -> list[str]:
    """`name = value (where from)` for every setting; secrets are not shown."""
    pyproject = read_pyproject(root)
    lines = []
    for field in dataclasses.fields(settings):
        name = field.name
        value: Any = getattr(settings, name)
        if flags.get(name) is not None:
            origin = "flag"
        elif os.environ.get(f"REVIEW_BOT_{name.upper()}"):
            origin = f"REVIEW_BOT_{name.upper()}"
        elif name in pyproject:
            origin = "pyproject.toml"
        elif name == "tests_dir" and value != Settings.tests_dir:
            origin = "pytest testpaths"
        else:
            origin = "default"
        if name == "api_key":
            value = "(set)" if value else "(not set)"
        lines.append(f"  {name} = {value}  ({origin})")
    return lines


def _check_local_model(
    settings: Settings, problems: list[str], progress: Progress | None
) -> list[str]:
    try:
        path, bundled = resolve_model(settings.model, settings.home, progress)
        info = describe(path, bundled)
    except ModelError as exc:
        problems.append(str(exc))
        return ["model: unusable"]
    return model_lines(info, settings)


def _check_server(settings: Settings, problems: list[str]) -> list[str]:
    from review_bot.llm.openai_http import Client, discover

    if not settings.base_url:
        problems.append("backend openai needs base_url (--base-url or REVIEW_BOT_BASE_URL)")
        return []
    try:
        client = Client(
            settings.base_url,
            api_key=settings.api_key,
            timeout_s=min(settings.request_timeout_s, 10.0),
            retries=1,
        )
    except FatalError as exc:
        problems.append(str(exc))
        return []
    try:
        served = discover(
            client,
            settings.model,
            ready_timeout_s=min(settings.request_timeout_s, 10.0),
            connect_grace_s=1.0,
        )
    except FatalError as exc:
        problems.append(str(exc))
        return ["  server: unreachable or unusable"]
    finally:
        client.close()
    how = (
        "chat through the server's template"
        if served.server_chat
        else "chat template rendered here, sent as completions"
    )
    lines = [f"  server: {served.flavor}, serving {served.id}; {how}"]
    return lines + model_lines(served.info, settings)
