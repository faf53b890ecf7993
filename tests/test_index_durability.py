"""A lost index refresh is found again: a real worker killed mid-refresh, then a new worker converges."""

import os
import time

import pytest
from celery.result import AsyncResult
from django.db import transaction

from catalog.importers import read_catalog
from catalog.indexing import build_index
from catalog.models import IndexJob, Product
from catalog.services import import_rows
from catalog.tasks import refresh_index

from .conftest import DEMO_CATALOG, running_worker
from .test_worker import indexed_ids, wait_for

# Workers started here use these settings: the automatic refresh (signals and sweeps) on.
SWEEPING_SETTINGS = "tests.settings_auto_refresh"


def active_ids() -> set[int]:
    return set(Product.objects.active().values_list("pk", flat=True))


def converged() -> bool:
    return not Product.objects.active().stale().exists() and indexed_ids() == active_ids()


@pytest.mark.smoke
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_refresh_is_made_good_by_the_next_worker_without_any_edit(process_env, tmp_path):
    env = {**process_env, "DJANGO_SETTINGS_MODULE": SWEEPING_SETTINGS}
    # The doomed refresh goes to a queue only the first worker reads: no other worker of the
    # session can take it, and a broker that redelivers it later delivers it to nobody.
    private_queue = f"index-kill-{os.getpid()}-{time.monotonic_ns()}"
    with running_worker(env, tmp_path / "first.log", f"--queues={private_queue}") as first:
        with transaction.atomic():  # the whole demo catalog arrives at once, a few products retired
            import_rows(read_catalog(DEMO_CATALOG, "jsonl"))
            retired = list(Product.objects.order_by("pk").values_list("pk", flat=True)[:20])
            Product.objects.filter(pk__in=retired).update(is_active=False)
        total = Product.objects.active().count()
        assert total > 400
        result = refresh_index.apply_async(queue=private_queue)
        wait_for(lambda: AsyncResult(result.id).state in ("STARTED", "PROGRESS"), "the refresh to start")
        time.sleep(1.0)  # loading the encoder and encoding hundreds of products takes longer
        first.kill()
        first.wait(timeout=30)
    stale_after_kill = Product.objects.active().stale().count()
    assert stale_after_kill > 0, "the refresh finished before it could be killed"
    killed = IndexJob.objects.get(status=IndexJob.Status.RUNNING)  # its record outlives the worker

    with running_worker(env, tmp_path / "second.log"):
        wait_for(converged, "the index to converge after the worker was killed", timeout=240)

    assert indexed_ids() == active_ids()
    assert not set(retired) & indexed_ids()
    assert not Product.objects.stale().exists()  # retired products are not left flagged either
    killed.refresh_from_db()  # the killed refresh itself was sent again and finished
    assert killed.status == IndexJob.Status.SUCCEEDED, killed.error
    assert killed.attempts == 2
    assert "was lost during attempt 1" in killed.error


@pytest.mark.django_db
def test_deactivated_products_are_not_left_stale_by_a_refresh(indexed_catalog):
    retired = Product.objects.order_by("pk").first()
    retired.is_active = False
    retired.save()  # marks it stale, as any save does
    assert Product.objects.filter(pk=retired.pk, index_stale=True).exists()

    report = build_index()

    assert report.published
    assert not Product.objects.stale().exists()
    assert retired.pk not in indexed_ids()
