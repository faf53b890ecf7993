"""Which device torch runs on and how: CPU or CUDA, 16-bit autocast where it is fast, thread counts.

No Django imports: the GPU machine runs these helpers on their own.
"""

import contextlib
from collections.abc import Iterator
from typing import Any


def resolve_device(requested: str = "auto") -> str:
    """``auto`` picks CUDA when torch sees a GPU; ``cuda`` without one is an error."""
    import torch

    requested = (requested or "auto").lower()
    if requested not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("AISLE_DEVICE=cuda but torch sees no CUDA device")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def reduced_precision(device: str) -> Any:
    """The 16-bit type this device computes fastest in, or ``None`` to stay in fp32.

    bf16 needs a CPU with native support (AVX-512 BF16 or AMX); elsewhere it
    would be emulated and slower than fp32. Vectors differ from fp32 ones by a
    cosine of about 1e-4, well below what changes a ranking.
    """
    import torch

    if device == "cuda":
        return torch.float16
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return None


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run torch's intra-op work on ``count`` threads (``None``: leave as is)."""
    import torch

    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def quiet_model_loading() -> Iterator[None]:
    """Load packaged weights without transformers' warnings and progress bars.

    Loading MiniLM reports its unused pooler weights as "UNEXPECTED" and lists every layer as
    "not sharded" (there is no tensor-parallel plan here); a worker's log records those, and the
    "Loading weights" bar, as warnings on every run, though nothing is wrong.
    """
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()
