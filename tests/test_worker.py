"""Celery through the configured broker to a real worker process.

In the services pass the broker and result backend are Redis; in the embedded
pass they are the filesystem broker in DATA_DIR.
"""

import pytest
from django.conf import settings

from catalog.models import Product, ProductEmbedding
from catalog.tasks import rebuild_embeddings


@pytest.mark.smoke
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rebuild_embeddings_runs_in_a_worker(small_catalog, celery_worker):
    assert not ProductEmbedding.objects.exists()
    product_ids = list(Product.objects.values_list("pk", flat=True)[:5])

    result = rebuild_embeddings.delay(product_ids).get(timeout=120)

    assert result["products"] == 5
    assert ProductEmbedding.objects.filter(product_id__in=product_ids).count() == 5
    assert not Product.objects.filter(pk__in=product_ids, index_stale=True).exists()
    assert Product.objects.filter(index_stale=True).count() == len(small_catalog) - 5
    log = celery_worker.read_text()
    assert "catalog.tasks.rebuild_embeddings" in log
    assert "succeeded" in log
    expected = "redis://" if settings.REDIS_URL else "filesystem://"
    assert settings.CELERY_BROKER_URL.startswith(expected)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_task_for_products_deleted_meanwhile_does_nothing(small_catalog, celery_worker):
    gone = Product.objects.create(sku="GONE", title="Gone", price=1)
    gone_id = gone.pk
    gone.delete()
    assert rebuild_embeddings.delay([gone_id]).get(timeout=120)["products"] == 0
