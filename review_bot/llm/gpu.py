"""Which llama.cpp build is installed, and how many layers go to the GPU.

`gpu_layers` follows llama.cpp's `n_gpu_layers`, except that -1, the default, means
*auto*: every layer when llama-cpp-python was built with a GPU backend (CUDA, Metal,
Vulkan, ROCm, SYCL), none otherwise. A plain CPU build then never asks for offload it
cannot do, and a GPU build uses its GPU without any configuration.
"""

from __future__ import annotations

from typing import NamedTuple

from review_bot.errors import FatalError

AUTO = -1
ALL_LAYERS = -1  # llama.cpp's own value for "offload every layer"

# Markers in llama.cpp's system info string -> the backend's usual name.
_BACKENDS = (
    ("CUDA", "CUDA"),
    ("METAL", "Metal"),
    ("HIP", "ROCm"),
    ("ROCM", "ROCm"),
    ("VULKAN", "Vulkan"),
    ("SYCL", "SYCL"),
    ("MUSA", "MUSA"),
    ("CANN", "CANN"),
    ("OPENCL", "OpenCL"),
    ("KOMPUTE", "Kompute"),
)


class BuildInfo(NamedTuple):
    version: str
    backend: str  # "CPU" or the GPU backend's name
    gpu_offload: bool
    system_info: str


def backend_name(system_info: str, gpu_offload: bool) -> str:
    """The GPU backend named in llama.cpp's system info, or "CPU"."""
    upper = system_info.upper()
    for marker, name in _BACKENDS:
        if f"{marker} :" in upper or f"{marker} =" in upper or f"{marker}:" in upper:
            return name
    # Offload without a recognised marker: a backend newer than this list.
    return "GPU" if gpu_offload else "CPU"


def build_info() -> BuildInfo:
    """Describe the installed llama-cpp-python; FatalError when it cannot be imported."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise FatalError(f"llama-cpp-python is not installed: {exc}") from None
    offload = bool(llama_cpp.llama_supports_gpu_offload())
    raw = llama_cpp.llama_print_system_info()
    system = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return BuildInfo(
        version=str(getattr(llama_cpp, "__version__", "unknown")),
        backend=backend_name(system, offload),
        gpu_offload=offload,
        system_info=system.strip(" |\n"),
    )


def resolve_gpu_layers(setting: int, *, gpu_offload: bool | None = None) -> int:
    """The `n_gpu_layers` to pass to llama.cpp for a `gpu_layers` setting.

    `gpu_offload` is asked of llama.cpp when not given (tests pass it).
    """
    if setting < AUTO:
        raise FatalError(
            f"gpu_layers must be -1 (auto: all layers on a GPU build), 0 (CPU only) "
            f"or a number of layers, not {setting}"
        )
    if setting != AUTO:
        return setting
    if gpu_offload is None:
        gpu_offload = build_info().gpu_offload
    return ALL_LAYERS if gpu_offload else 0


def describe_gpu_layers(setting: int, resolved: int) -> str:
    """A readable account of the setting, for `review-bot doctor`."""
    what = "all layers" if resolved == ALL_LAYERS else f"{resolved} layers"
    if resolved == 0:
        what = "none (CPU only)"
    if setting == AUTO:
        return f"auto -> {what}"
    return what
