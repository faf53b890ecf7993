"""Celery through the configured broker to a real worker process.

In the services pass the broker and result backend are Redis; in the embedded
pass they are the filesystem broker in DATA_DIR.
"""

import time
from collections.abc import Callable

import pytest
from django.conf import settings

from assistant.search import find_products
from catalog.indexing import index_store, live_index
from catalog.models import Brand, Product, ProductEmbedding
from catalog.tasks import refresh_index


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def indexed_ids() -> set[int]:
    version = live_index().get()
    return set(version.ids.tolist()) if version else set()


def has_word(product_id: int, word: str) -> bool:
    """Whether the active index version's keyword index has ``word`` for the product."""
    version = live_index().get()
    scores = version.lexical.scores(word)
    position = version.positions_of([product_id])
    return scores is not None and len(position) == 1 and scores[position[0]] > 0


@pytest.mark.smoke
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_refresh_index_runs_in_a_worker(small_catalog, celery_worker):
    assert not ProductEmbedding.objects.exists()
    product_ids = list(Product.objects.values_list("pk", flat=True)[:5])

    result = refresh_index.delay(product_ids).get(timeout=120)

    assert result["encoded"] == 5
    assert result["published"] is True
    assert ProductEmbedding.objects.filter(product_id__in=product_ids).count() == 5
    assert not Product.objects.filter(pk__in=product_ids, index_stale=True).exists()
    assert Product.objects.filter(index_stale=True).count() == len(small_catalog) - 5
    # The worker published; this process sees the new version without reloading anything.
    assert index_store().active_version() == result["version"]
    assert indexed_ids() == set(product_ids)
    log = celery_worker.read_text()
    assert "catalog.tasks.refresh_index" in log
    assert "succeeded" in log
    expected = "redis://" if settings.REDIS_URL else "filesystem://"
    assert settings.CELERY_BROKER_URL.startswith(expected)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_task_for_products_deleted_meanwhile_encodes_nothing(small_catalog, celery_worker):
    gone = Product.objects.create(sku="GONE", title="Gone", price=1)
    gone_id = gone.pk
    gone.delete()
    assert refresh_index.delay([gone_id]).get(timeout=120)["encoded"] == 0


@pytest.mark.smoke
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_catalog_edits_reach_the_index_through_signals_and_the_worker(
    indexed_catalog, celery_worker, settings
):
    settings.AISLE_INDEX_AUTO_REFRESH = True
    settings.AISLE_INDEX_REFRESH_DELAY = 0.2
    first_version = index_store().active_version()

    # Create: a product nobody has seen is found once the worker has indexed it.
    hammock = Product.objects.create(
        sku="NEW-1",
        title="Zephyrine hanging hammock chair",
        description="A woven rope hammock chair.",
        price=80,
    )
    wait_for(lambda: hammock.pk in indexed_ids(), "the new product in the index")
    assert index_store().active_version() != first_version
    assert find_products("zephyrine hammock", {}, 3).products[0][0].sku == "NEW-1"

    # Edit: the new title's words find it, the old ones no longer do.
    hammock.title = "Quillon porch swing"
    hammock.save()
    wait_for(lambda: has_word(hammock.pk, "quillon"), "the edited title")
    assert not has_word(hammock.pk, "zephyrine")
    assert not Product.objects.get(pk=hammock.pk).index_stale
    assert find_products("quillon porch swing", {}, 1).products[0][0].pk == hammock.pk

    # A brand rename is part of every product text of that brand.
    brand = Brand.objects.create(name="Plainco", slug="plainco")
    hammock.brand = brand
    hammock.save()
    wait_for(lambda: has_word(hammock.pk, "plainco"), "the brand edit")
    brand.name = "Vortexa"
    brand.save()
    wait_for(lambda: has_word(hammock.pk, "vortexa"), "the renamed brand")

    # Deactivate and delete: gone from the index itself, not only filtered out on the way.
    other = Product.objects.exclude(pk=hammock.pk).first()
    hammock.is_active = False
    hammock.save()
    other_id = other.pk
    other.delete()
    wait_for(lambda: not {hammock.pk, other_id} & indexed_ids(), "the removals")
    assert len(indexed_ids()) == len(indexed_catalog) - 1
    assert "catalog.tasks.refresh_index" in celery_worker.read_text()
