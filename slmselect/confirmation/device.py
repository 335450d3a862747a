"""Where a confirm run trains, in which precision, and how much memory it may use.

:func:`choose_device` is a pure function of what the machine offers, so its decisions are tested on any
machine; :func:`detect_device` asks torch what the machine offers and calls it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from slmselect.errors import ParameterError, did_you_mean

DEVICES = ("auto", "cpu", "cuda", "mps")
_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class DeviceChoice:
    """The device and precision of a run.

    ``weights_dtype`` is the dtype the base model is held in; ``autocast_dtype`` is the dtype of the
    forward pass under ``torch.autocast`` (``None``: no autocast); ``grad_scaler`` says whether fp16
    loss scaling is needed.
    """

    device: str
    weights_dtype: str
    autocast_dtype: str | None
    grad_scaler: bool
    reason: str

    @property
    def weight_bytes(self) -> int:
        return _DTYPE_BYTES[self.weights_dtype]

    @property
    def label(self) -> str:
        """Short text for reports: the device and the compute precision."""
        return f"{self.device}/{self.autocast_dtype or self.weights_dtype}"


def choose_device(
    requested: str = "auto",
    *,
    cuda_available: bool,
    cuda_bf16: bool = False,
    mps_available: bool = False,
) -> DeviceChoice:
    """Pick device and dtypes from ``requested`` and what the machine offers (pure; no torch).

    ``auto`` prefers CUDA (bf16 weights where supported, else fp32 weights with fp16 autocast and a
    GradScaler), then Apple MPS (fp32), then the CPU (fp32).
    """
    req = (requested or "auto").strip().lower()
    base = req.split(":", 1)[0]
    if base not in DEVICES:
        raise ParameterError(
            f"The 'device' parameter of confirm must be one of {', '.join(map(repr, DEVICES))} "
            f"(or 'cuda:0'); got {requested!r}." + did_you_mean(req, DEVICES)
        )
    if base == "cuda" and not cuda_available:
        raise ParameterError(
            f"device={requested!r} was asked for but torch sees no CUDA GPU here "
            "(torch.cuda.is_available() is False); use device='auto' or 'cpu', or install a CUDA build of torch."
        )
    if base == "cuda" and req not in ("cuda", "cuda:0"):
        index = req.split(":", 1)[1]
        raise ParameterError(
            f"device={requested!r}: training runs through transformers.Trainer, which uses the first visible GPU "
            f"(and every visible GPU at once); choose GPU {index} with CUDA_VISIBLE_DEVICES={index} and device='cuda'."
        )
    if base == "mps" and not mps_available:
        raise ParameterError(
            f"device={requested!r} was asked for but the Apple MPS backend is not available; use 'auto' or 'cpu'."
        )
    if base == "cuda" or (base == "auto" and cuda_available):
        device = req if base == "cuda" else "cuda"
        if cuda_bf16:
            return DeviceChoice(device, "bfloat16", None, False, "CUDA GPU with bf16 support: bf16 weights")
        return DeviceChoice(
            device, "float32", "float16", True, "CUDA GPU without bf16: fp32 weights, fp16 autocast, GradScaler"
        )
    if base == "mps" or (base == "auto" and mps_available):
        return DeviceChoice("mps", "float32", None, False, "Apple GPU (MPS): fp32")
    why = "asked for the CPU" if base == "cpu" else "no GPU found"
    return DeviceChoice("cpu", "float32", None, False, f"{why}: CPU, fp32")


#: Compute capability from which a CUDA GPU runs bf16 natively (Ampere). Below it (T4, V100) torch's
#: ``is_bf16_supported()`` still says True, through emulation: slow, and not what fp16 + GradScaler gives.
NATIVE_BF16_CAPABILITY = (8, 0)


def native_bf16(capability: tuple[int, int] | None) -> bool:
    """Whether a CUDA GPU of compute ``capability`` (major, minor) computes in bf16 natively."""
    return capability is not None and tuple(capability) >= NATIVE_BF16_CAPABILITY


def detect_device(requested: str = "auto") -> DeviceChoice:
    """:func:`choose_device` with what torch reports about this machine (bf16 only where the GPU has it natively)."""
    import torch

    cuda = torch.cuda.is_available()
    bf16 = bool(cuda and native_bf16(torch.cuda.get_device_capability(0)))
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return choose_device(requested, cuda_available=cuda, cuda_bf16=bf16, mps_available=mps)


def cpu_count() -> int:
    """CPU cores this process may run on (its affinity), not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_memory(device: str) -> int | None:
    """Bytes free for a new model on ``device``: CUDA free memory, or MemAvailable from /proc/meminfo."""
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # macOS and others: total physical memory as an upper bound
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def gpu_name(device: str) -> str | None:
    if device.startswith("cuda"):
        import torch

        return str(torch.cuda.get_device_name(torch.device(device)))
    if device == "mps":
        return "Apple MPS"
    return None


class PeakMemory:
    """Peak memory of one stage: CUDA's allocator peak, or the process's peak RSS on the CPU.

    On Linux the RSS high-water mark is reset per stage by writing 5 to /proc/self/clear_refs; where that
    is not possible the process-lifetime peak (``getrusage``) is reported instead.
    """

    def __init__(self, device: str) -> None:
        self.device = device

    def reset(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(torch.device(self.device))
            return
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")
        except OSError:
            pass

    def peak_bytes(self) -> int | None:
        if self.device.startswith("cuda"):
            import torch

            return int(torch.cuda.max_memory_allocated(torch.device(self.device)))
        try:
            with open("/proc/self/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            import resource
            import sys

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return int(peak if sys.platform == "darwin" else peak * 1024)
        except (ImportError, OSError):
            return None
