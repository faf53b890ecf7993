"""The encoder, the product text and the cosine ranker, without Django."""

import subprocess
import sys

import numpy as np
import pytest

from catalog.retrieval.encoder import get_encoder
from catalog.retrieval.product_text import product_text
from core.devices import resolve_device
from recsys_plugins.manager import RankerRegistry
from recsys_plugins.rankers.base import Candidates, RankingContext

from .conftest import ROOT


def test_encoder_loads_offline_from_the_package_and_gives_unit_vectors():
    encoder = get_encoder("cpu")
    vectors = encoder.encode(["grey three-seat sofa", "charcoal couch for three", "usb-c charging cable"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert encoder.encode([]).shape == (0, 384)


def test_device_choice():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(ValueError, match="auto, cpu or cuda"):
        resolve_device("tpu")


def test_retrieval_core_imports_without_django():
    code = (
        "import sys; import catalog.retrieval.encoder, catalog.retrieval.product_text, "
        "catalog.retrieval.filters, catalog.retrieval.vector_index, catalog.retrieval.lexical_index, "
        "catalog.retrieval.fusion, catalog.retrieval.store, catalog.retrieval.retriever, "
        "catalog.retrieval.keyword_slots, recsys_plugins.manager, recsys_plugins.evaluation, "
        "core.devices, core.versions; "
        "assert 'django' not in sys.modules, 'django imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_product_text_carries_type_brand_categories_and_key_attributes():
    text = product_text(
        title="Halden sofa",
        brand="Nordal",
        categories=["Furniture > Sofas"],
        attributes={"type": "3-seat sofa", "color": ["grey"], "material": ["linen"], "designer": "X"},
        description="A deep, soft sofa. " * 100,
    )
    assert text.startswith("Halden sofa. 3-seat sofa. Brand: Nordal. Category: Furniture > Sofas")
    assert "Color: grey" in text
    assert "Material: linen" in text
    assert "designer" not in text.lower()
    assert len(text) < 600


def test_cosine_ranker_orders_by_similarity_and_respects_the_limit():
    vectors = np.eye(4, dtype=np.float32)
    candidates = Candidates(np.array([10, 11, 12, 13]), vectors)
    context = RankingContext(query_vector=np.array([0.1, 0.9, 0.0, 0.4], dtype=np.float32))
    registry = RankerRegistry(entry_points=False)
    ranked = registry.rank("cosine", candidates, context, 2)
    assert [(item.product_id, item.score) for item in ranked] == [
        (11, pytest.approx(0.9)),
        (13, pytest.approx(0.4)),
    ]
    assert len(registry.rank("cosine", candidates, context, 10)) == 4
    empty = Candidates(np.zeros(0, dtype=np.int64), np.zeros((0, 4), dtype=np.float32))
    assert registry.rank("cosine", empty, context, 5) == []
