"""Where torch runs and in what precision: one rule for the node's generator and for training.

    device  auto -> cuda if available, else mps, else cpu; or cpu, cuda, cuda:N, mps (checked)
    dtype   auto -> cuda: bfloat16 where supported, else float16
                    mps:  float16 to generate; float32 to train (no mixed precision off CUDA)
                    cpu:  float32 (bf16 was slower on CPUs without AVX-512 bf16)
            or float32, bfloat16, float16 (float16 training needs CUDA)

torch is imported only when a function runs, so ``DTYPES`` is free to import (config, CLI, recipes).
"""

from __future__ import annotations

from typing import Any

from .generation import GenerationError

DTYPES = ("auto", "float32", "bfloat16", "float16")


def pick_device(device: str = "auto") -> str:
    """``auto`` -> cuda if available, else mps, else cpu; otherwise the value, checked."""
    import torch

    name = (device or "auto").strip().lower()
    mps = getattr(torch.backends, "mps", None)
    mps_ok = mps is not None and mps.is_available()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise GenerationError(f"invalid device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GenerationError(f"device {device!r} requested but CUDA is not available")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise GenerationError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not mps_ok:
        raise GenerationError(f"device {device!r} requested but MPS is not available")
    return name


def dtype_name(dtype: str, device: str, training: bool = False) -> str:
    """The dtype ``auto`` resolves to on ``device`` (see the module docstring), or ``dtype`` checked."""
    name = (dtype or "auto").strip().lower()
    if name not in DTYPES:
        raise GenerationError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    on_cuda, on_mps = device.startswith("cuda"), device.startswith("mps")
    if name == "auto":
        if on_cuda:
            import torch

            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return "float16" if on_mps and not training else "float32"
    if training and name == "float16" and not on_cuda:
        raise GenerationError("dtype float16 needs a CUDA GPU to train; use float32 (or auto) on CPU")
    return name


def pick_dtype(dtype: str, device: str, training: bool = False) -> Any:
    """The torch dtype for ``dtype`` on ``device``."""
    import torch

    return getattr(torch, dtype_name(dtype, device, training))
