"""Which llama.cpp runtime and build is installed, and how many layers go to the GPU.

`gpu_layers` follows llama.cpp's `n_gpu_layers`, except that -1, the default, means
*auto*: every layer when the runtime in use (llm/runtime.py) was built with a GPU backend
(CUDA, Metal, Vulkan, ROCm, SYCL), none otherwise. A plain CPU build then never asks for
offload it cannot do, and a GPU build uses its GPU without any configuration.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from review_bot.errors import FatalError
from review_bot.llm.runtime import AUTO as AUTO_RUNTIME
from review_bot.llm.runtime import LLAMA_CPP_PYTHON, XLLAMACPP, install_hint, resolve_runtime

AUTO = -1
ALL_LAYERS = -1  # llama.cpp's own value for "offload every layer"

# Markers in llama.cpp's system info string or device names -> the backend's usual name.
_BACKENDS = (
    ("CUDA", "CUDA"),
    ("METAL", "Metal"),
    ("MTL", "Metal"),
    ("HIP", "ROCm"),
    ("ROCM", "ROCm"),
    ("VULKAN", "Vulkan"),
    ("SYCL", "SYCL"),
    ("MUSA", "MUSA"),
    ("CANN", "CANN"),
    ("OPENCL", "OpenCL"),
    ("KOMPUTE", "Kompute"),
)
# ggml_backend_dev_type values of devices that hold layers: GPU, IGPU (integrated).
_GPU_DEVICE_TYPES = (1, 2)


class BuildInfo(NamedTuple):
    version: str
    backend: str  # "CPU" or the GPU backend's name
    gpu_offload: bool
    system_info: str
    runtime: str = LLAMA_CPP_PYTHON  # XLLAMACPP or LLAMA_CPP_PYTHON

    def summary(self) -> str:
        """`xllamacpp 2026.10.11549: CPU build (no GPU offload)`."""
        offload = "GPU offload available" if self.gpu_offload else "no GPU offload"
        return f"{self.runtime} {self.version}: {self.backend} build ({offload})"


def backend_name(system_info: str, gpu_offload: bool, devices: tuple[str, ...] = ()) -> str:
    """The GPU backend named by the GPU devices or in llama.cpp's system info, or "CPU"."""
    for device in devices:
        for marker, name in _BACKENDS:
            if device.upper().startswith(marker):
                return name
    upper = system_info.upper()
    for marker, name in _BACKENDS:
        if f"{marker} :" in upper or f"{marker} =" in upper or f"{marker}:" in upper:
            return name
    # Offload without a recognised marker: a backend newer than this list.
    return "GPU" if gpu_offload else "CPU"


def _llama_cpp_python() -> BuildInfo:
    try:
        import llama_cpp
    except ImportError as exc:
        raise FatalError(f"llama-cpp-python cannot be imported: {exc}") from None
    offload = bool(llama_cpp.llama_supports_gpu_offload())
    raw = llama_cpp.llama_print_system_info()
    system = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return BuildInfo(
        version=str(getattr(llama_cpp, "__version__", "unknown")),
        backend=backend_name(system, offload),
        gpu_offload=offload,
        system_info=system.strip(" |\n"),
        runtime=LLAMA_CPP_PYTHON,
    )


def gpu_devices(devices: list[dict[str, Any]]) -> tuple[str, ...]:
    """The names of the devices in xllamacpp's get_device_info() that can hold layers."""
    return tuple(
        str(device.get("name", "GPU"))
        for device in devices
        if int(device.get("type", 0)) in _GPU_DEVICE_TYPES
    )


def _xllamacpp() -> BuildInfo:
    try:
        import xllamacpp
    except ImportError as exc:
        raise FatalError(
            f"xllamacpp cannot be imported: {exc} ({install_hint(XLLAMACPP)})"
        ) from None
    system = str(xllamacpp.get_system_info())
    gpus = gpu_devices(list(xllamacpp.get_device_info()))
    return BuildInfo(
        version=str(getattr(xllamacpp, "__version__", "unknown")),
        backend=backend_name(system, bool(gpus), gpus),
        gpu_offload=bool(gpus),
        system_info=system.strip(" |\n"),
        runtime=XLLAMACPP,
    )


def build_info(runtime: str = AUTO_RUNTIME) -> BuildInfo:
    """Describe the runtime the `runtime` setting names; FatalError when it is missing."""
    chosen = resolve_runtime(runtime)
    return _xllamacpp() if chosen == XLLAMACPP else _llama_cpp_python()


def runtime_facts(setting: str) -> dict[str, Any]:
    """The runtime a `runtime` setting means, for `models info --json` and `doctor`."""
    try:
        build = build_info(setting)
    except FatalError as exc:
        return {"setting": setting, "name": None, "error": str(exc)}
    return {
        "setting": setting,
        "name": build.runtime,
        "version": build.version,
        "build": build.backend,
        "gpu_offload": build.gpu_offload,
    }


def runtime_text(facts: dict[str, Any]) -> str:
    """One line for `runtime_facts`: `xllamacpp 2026.10.11549, CPU build, no GPU offload`."""
    if facts["name"] is None:
        return f"none ({facts['error']})"
    offload = "GPU offload available" if facts["gpu_offload"] else "no GPU offload"
    chosen = " (auto)" if facts["setting"] == AUTO_RUNTIME else ""
    return f"{facts['name']} {facts['version']}{chosen}, {facts['build']} build, {offload}"


def resolve_gpu_layers(
    setting: int, *, gpu_offload: bool | None = None, runtime: str = AUTO_RUNTIME
) -> int:
    """The `n_gpu_layers` to pass to llama.cpp for a `gpu_layers` setting.

    `gpu_offload` is asked of the runtime when not given (tests pass it).
    """
    if setting < AUTO:
        raise FatalError(
            f"gpu_layers must be -1 (auto: all layers on a GPU build), 0 (CPU only) "
            f"or a number of layers, not {setting}"
        )
    if setting != AUTO:
        return setting
    if gpu_offload is None:
        gpu_offload = build_info(runtime).gpu_offload
    return ALL_LAYERS if gpu_offload else 0


def describe_gpu_layers(setting: int, resolved: int) -> str:
    """A readable account of the setting, for `review-bot doctor`."""
    what = "all layers" if resolved == ALL_LAYERS else f"{resolved} layers"
    if resolved == 0:
        what = "none (CPU only)"
    if setting == AUTO:
        return f"auto -> {what}"
    return what
