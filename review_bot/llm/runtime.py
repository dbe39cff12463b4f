"""Which llama.cpp runtime runs a model in this process, chosen by the `runtime` setting.

- `xllamacpp`: llama.cpp's own server engine in prebuilt wheels (no compiler needed); the
  default install has it.
- `llama-cpp-python`: the bindings built from source, an optional extra
  (`pip install 'review-bot[llama-cpp-python]'`).
- `auto` (the default): xllamacpp when it can be imported, else llama-cpp-python.

A runtime chosen by name that is not installed is one line saying what to install.
"""

from __future__ import annotations

import importlib.util

from review_bot.config import RUNTIME_CHOICES
from review_bot.errors import FatalError

AUTO, XLLAMACPP, LLAMA_CPP_PYTHON = RUNTIME_CHOICES

XLLAMACPP_VERSION = "2026.10.11549"
# runtime -> (module imported, what to install)
_MODULES = {
    XLLAMACPP: ("xllamacpp", f"pip install 'xllamacpp=={XLLAMACPP_VERSION}'"),
    LLAMA_CPP_PYTHON: ("llama_cpp", "pip install 'review-bot[llama-cpp-python]'"),
}


def installed(runtime: str) -> bool:
    """Whether the runtime's module can be imported (found, not imported: that is slow)."""
    module = _MODULES[runtime][0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # pragma: no cover - a broken install
        return False


def install_hint(runtime: str) -> str:
    return _MODULES[runtime][1]


def resolve_runtime(setting: str) -> str:
    """The runtime a setting means here: XLLAMACPP or LLAMA_CPP_PYTHON, installed."""
    if setting == AUTO:
        for runtime in (XLLAMACPP, LLAMA_CPP_PYTHON):
            if installed(runtime):
                return runtime
        raise FatalError(
            "no llama.cpp runtime is installed: "
            f"{install_hint(XLLAMACPP)} (or use --backend openai with a server)"
        )
    if setting not in _MODULES:
        raise FatalError(f"runtime must be one of {', '.join(RUNTIME_CHOICES)}, not {setting!r}")
    if not installed(setting):
        raise FatalError(f"runtime {setting} is not installed: {install_hint(setting)}")
    return setting
