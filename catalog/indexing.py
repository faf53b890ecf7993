"""Keeping the search indexes in step with the catalog.

Two stages, both under the index store's publish lock:

1. **Encode**: products marked stale get their text re-embedded, in chunks,
   into ``ProductEmbedding`` rows. A product whose text did not change (a
   price or stock edit) keeps its vector and is only unmarked.
2. **Publish**: when the catalog changed since the active version (or on
   ``full``), a new index version is built from the stored vectors, texts and
   filter fields of every active product and made active atomically.

``build_index`` runs both; ``build_index`` the command, the Celery tasks and
the signal-driven refresh all call it. Before publishing it checks the active
version against its manifest's checksums and republishes a damaged one from
the stored vectors, without re-encoding anything.

Refreshes run by workers are recorded as ``IndexJob`` rows, claimed and
finished under the publish lock. A job marked running while nobody holds the
lock has lost its worker; ``sweep`` finds such jobs (and messages never picked
up) and hands them back to be sent again, and asks for a new refresh when the
index lags behind the catalog for any other reason.
"""

import functools
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, QuerySet, Sum
from django.utils import timezone

from core.versions import DamagedVersion

from .models import IndexJob, Product, ProductEmbedding, ProductQuerySet
from .retrieval.constraints import DIMENSIONS
from .retrieval.encoder import DIMENSION, get_encoder
from .retrieval.filters import FilterRow
from .retrieval.keyword_slots import measures_in_text
from .retrieval.product_text import product_text
from .retrieval.product_types import TypeRow
from .retrieval.store import INDEX_FORMAT, IndexStore, LiveIndex
from .services import chunks

logger = logging.getLogger(__name__)

# Products encoded per call: the encoder sorts a call's texts by length, so
# large calls pad little; each chunk is stored in its own transaction.
ENCODE_CHUNK = 1024
READ_CHUNK = 2000
# A job whose worker was lost this many times is given up (it may be what kills the worker).
MAX_ATTEMPTS = 3

Progress = Callable[[str, int, int], None]
"""``(stage, done, total)``; stage is ``encoding`` or ``publishing``."""


@dataclass
class IndexReport:
    """What ``build_index`` did."""

    encoded: int
    products: int
    version: str | None
    published: bool
    seconds: float
    repaired: str | None = None
    """What was wrong with the active version that was republished, if it was damaged."""

    @property
    def per_second(self) -> float:
        """Products encoded per second over the whole build."""
        return self.encoded / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "encoded": self.encoded,
            "products": self.products,
            "version": self.version,
            "published": self.published,
            "repaired": self.repaired,
            "seconds": round(self.seconds, 3),
            "products_per_second": round(self.per_second, 1),
        }


@functools.cache
def _store(root: Path) -> IndexStore:
    return IndexStore(root)


@functools.cache
def _live(root: Path) -> LiveIndex:
    return LiveIndex(_store(root))


def index_store() -> IndexStore:
    """The index versions under ``DATA_DIR/index``."""
    return _store(Path(settings.DATA_DIR) / "index")


def live_index() -> LiveIndex:
    """This process's copy of the active index version, following new publications."""
    return _live(Path(settings.DATA_DIR) / "index")


def build_index(
    product_ids: Iterable[int] | None = None,
    *,
    full: bool = False,
    device: str | None = None,
    on_progress: Progress | None = None,
) -> IndexReport:
    """Encode stale products (every active one with ``full``, or just ``product_ids``), then publish.

    A new version is published when the catalog changed since the active
    one, when none exists, when the active one is damaged, or with ``full``.
    """
    store = index_store()
    with store.publishing():
        return _build(store, product_ids, full=full, device=device, on_progress=on_progress)


def _build(
    store: IndexStore,
    product_ids: Iterable[int] | None,
    *,
    full: bool = False,
    device: str | None = None,
    on_progress: Progress | None = None,
) -> IndexReport:
    """``build_index`` for a caller that holds the publish lock."""
    started = time.perf_counter()
    encoded = encode_products(product_ids, full=full, device=device, on_progress=on_progress)
    signature = catalog_signature()
    repaired = None
    try:
        manifest = store.check(active) if (active := store.active_version()) else None
    except (DamagedVersion, FileNotFoundError) as problem:
        repaired = str(problem)
        logger.error("%s; republishing it from the stored vectors", problem)
        manifest = None
    published = full or manifest is None or manifest.get("signature") != signature
    if published:
        publish_active_products(signature, on_progress=on_progress)
        manifest = store.manifest()
    return IndexReport(
        encoded=encoded,
        products=manifest["products"] if manifest else 0,
        version=manifest["version"] if manifest else None,
        published=published,
        seconds=time.perf_counter() - started,
        repaired=repaired,
    )


def roll_back_index(version: str | None = None) -> str:
    """Activate the kept index ``version``, or the newest good one before the active one; returns it.

    Raises ``LookupError`` when there is none or it is damaged. The rollback lasts
    until the catalog changes: the next refresh publishes the catalog as it is.
    """
    store = index_store()
    with store.publishing():
        previous = store.active_version()
        activated = store.roll_back(version)
    logger.warning("index rolled back from version %s to %s", previous, activated)
    return activated


# ------------------------------------------------------------------------------ refresh jobs


def queue_refresh(reason: str, product_ids: list[int] | None = None, full: bool = False) -> IndexJob | None:
    """A new queued refresh job to send, or ``None`` when a refresh of whatever is stale waits already.

    Such a waiting job has not looked at the catalog yet, so it also takes this request's edits.
    """
    if product_ids is None and not full and _waiting_jobs().exists():
        return None
    return IndexJob.objects.create(reason=reason[:200], product_ids=product_ids, full=full)


def waiting_job() -> IndexJob | None:
    """The refresh of whatever is stale that waits for a worker, if one does."""
    return _waiting_jobs().order_by("queued_at").first()


def job_for(job_id: int | None, product_ids: list[int] | None = None, full: bool = False) -> IndexJob | None:
    """The job a refresh task runs: its row, or a new one for a task sent without one."""
    if job_id is None:
        return IndexJob.objects.create(reason="sent without a job row", product_ids=product_ids, full=full)
    return IndexJob.objects.filter(pk=job_id).first()


def run_refresh(
    job: IndexJob, worker: str, task_id: str = "", on_progress: Progress | None = None
) -> IndexReport | None:
    """Run ``job`` under the publish lock; ``None`` when it had finished already (a repeated message).

    The job is marked running and finished while the lock is held, so a job marked running
    while nobody holds the lock has lost its worker (see ``sweep``).
    """
    store = index_store()
    with store.publishing():
        now = timezone.now()
        claimed = IndexJob.objects.filter(
            pk=job.pk, status__in=[IndexJob.Status.QUEUED, IndexJob.Status.RUNNING]
        ).update(
            status=IndexJob.Status.RUNNING,
            worker=worker[:200],
            task_id=task_id[:64],
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
        )
        if not claimed:
            return None
        job.refresh_from_db()

        logged = {"stage": "", "tenths": -1}

        def report_progress(stage: str, done: int, total: int) -> None:
            progress = {"stage": stage, "done": done, "total": total}
            IndexJob.objects.filter(pk=job.pk).update(progress=progress, heartbeat_at=timezone.now())
            tenths = 10 * done // max(total, 1)
            if (stage, tenths) != (logged["stage"], logged["tenths"]):  # the worker's log, a tenth at a time
                logged.update(stage=stage, tenths=tenths)
                logger.info("index refresh %s: %s %d of %d products", job.pk, stage, done, total)
            if on_progress:
                on_progress(stage, done, total)

        try:
            report = _build(store, job.product_ids, full=job.full, on_progress=report_progress)
        except Exception as problem:
            _finish(job, IndexJob.Status.FAILED, error=f"{type(problem).__name__}: {problem}"[:2000])
            raise
        _finish(job, IndexJob.Status.SUCCEEDED, result=report.as_dict())
    return report


def sweep() -> list[IndexJob]:
    """Refresh jobs to send: lost ones again, and a new one when the index lags behind the catalog.

    Returns nothing while a refresh runs (it holds the publish lock); the next sweep looks again.
    """
    store = index_store()
    with store.publishing(blocking=False) as free:
        if not free:
            return []
        jobs = _requeue_lost_jobs()
        if not _waiting_jobs().exists() and (reason := refresh_needed(store)):
            jobs.append(IndexJob.objects.create(reason=f"sweep: {reason}"[:200]))
            logger.info("index sweep queued a refresh: %s", reason)
    return jobs


def refresh_needed(store: IndexStore) -> str | None:
    """Why the index lags behind the catalog, or ``None`` when it does not."""
    if count := Product.objects.to_encode().count():
        return f"{count} active products to encode"
    if count := Product.objects.filter(is_active=False).stale().count():
        return f"{count} retired products still in the index"
    active = store.active_version()
    if active is None:
        return "no index version yet" if Product.objects.active().exists() else None
    try:
        store.check(active)
        # The newest version, not the active one: a rollback is left alone until the catalog changes.
        newest = store.manifest(store.versions()[-1])
    except (DamagedVersion, FileNotFoundError) as problem:
        return str(problem)
    if newest.get("signature") != catalog_signature():
        return f"the catalog changed since version {newest['version']}"
    return None


def _waiting_jobs() -> QuerySet[IndexJob]:
    """Refreshes of whatever is stale, sent within ``AISLE_INDEX_JOB_TIMEOUT`` and not started yet."""
    return IndexJob.objects.filter(
        status=IndexJob.Status.QUEUED, product_ids__isnull=True, queued_at__gte=_overdue()
    )


def _overdue() -> datetime:
    """Jobs queued before this were not picked up in time: their message is taken for lost."""
    return timezone.now() - timedelta(seconds=settings.AISLE_INDEX_JOB_TIMEOUT)


def _requeue_lost_jobs() -> list[IndexJob]:
    """Put back jobs whose worker died (running, while the caller holds the publish lock) and
    queued ones not picked up within ``AISLE_INDEX_JOB_TIMEOUT``; returns those to send again."""
    now = timezone.now()
    lost = IndexJob.objects.filter(status=IndexJob.Status.RUNNING) | IndexJob.objects.filter(
        status=IndexJob.Status.QUEUED, queued_at__lt=_overdue()
    )
    requeued = []
    for job in lost.order_by("pk"):
        if job.status == IndexJob.Status.RUNNING and job.attempts >= MAX_ATTEMPTS:
            _finish(job, IndexJob.Status.FAILED, error=f"its worker was lost {job.attempts} times; given up")
            logger.error("index refresh %s given up: its worker was lost %d times", job.pk, job.attempts)
            continue
        if job.status == IndexJob.Status.RUNNING:
            note = f"worker {job.worker} was lost during attempt {job.attempts}"
        else:
            note = "no worker picked it up"
        IndexJob.objects.filter(pk=job.pk, status=job.status).update(
            status=IndexJob.Status.QUEUED, queued_at=now, error=note
        )
        logger.warning("index refresh %s: %s; sending it again", job.pk, note)
        requeued.append(job)
    return requeued


def _finish(job: IndexJob, status: str, **fields: object) -> None:
    IndexJob.objects.filter(pk=job.pk).update(status=status, finished_at=timezone.now(), **fields)


def text_for(product: Product) -> str:
    """The text ``product`` is embedded and keyword-matched by (see ``retrieval.product_text``)."""
    return product_text(
        title=product.title,
        brand=product.brand.name if product.brand else "",
        categories=[category.full_name for category in product.categories.all()],
        attributes=product.attribute_dict(),
        description=product.description,
    )


def encode_products(
    product_ids: Iterable[int] | None = None,
    *,
    full: bool = False,
    device: str | None = None,
    on_progress: Progress | None = None,
) -> int:
    """Embed stale active products (all with ``full``, or the given ids); returns how many were encoded.

    A product edited while its chunk was encoding stays stale, so the next
    run picks it up again. Retired (inactive) stale products are settled too
    (see ``_settle_retired``), so that none stays marked stale.
    """
    products = Product.objects.active()
    if product_ids is not None:
        products = products.filter(pk__in=list(product_ids))
    elif not full:
        products = Product.objects.to_encode()
    total = products.count()
    products = _with_text_fields(products)
    encoder = None
    done = encoded = 0
    for chunk in chunks(products.order_by("pk").iterator(chunk_size=ENCODE_CHUNK), ENCODE_CHUNK):
        texts = [text_for(product) for product in chunk]
        hashes = [_digest(text) for text in texts]
        changed = [i for i, product in enumerate(chunk) if full or _stored_hash(product) != hashes[i]]
        vectors = np.zeros((0, 0), dtype=np.float32)
        if changed:
            encoder = encoder or get_encoder(device or settings.AISLE_DEVICE)
            vectors = encoder.encode([texts[i] for i in changed])
        _store_embeddings(chunk, changed, hashes, vectors, encoder.name if encoder else "")
        done += len(chunk)
        encoded += len(changed)
        if on_progress:
            on_progress("encoding", done, total)
    if product_ids is None:
        _settle_retired()
    return encoded


def _settle_retired() -> None:
    """Unmark stale inactive products, dropping the vector of those whose text changed, so
    that reactivating one (even with ``QuerySet.update``) gets it encoded again."""
    retired = _with_text_fields(Product.objects.filter(is_active=False).stale())
    for chunk in chunks(retired.order_by("pk").iterator(chunk_size=READ_CHUNK), READ_CHUNK):
        outdated = [
            product.pk for product in chunk if _stored_hash(product) not in (None, _digest(text_for(product)))
        ]
        with transaction.atomic():
            ProductEmbedding.objects.filter(product_id__in=outdated).delete()
            _unmark(chunk)


def _with_text_fields(products: ProductQuerySet) -> ProductQuerySet:
    """``products`` with what ``text_for`` and the filter rows read, fetched in bulk."""
    return products.select_related("brand", "embedding").prefetch_related(
        "categories", "attribute_values__attribute"
    )


def _unmark(products: list[Product]) -> None:
    """Clear the stale mark of products not edited since they were read."""
    for product in products:
        Product.objects.filter(pk=product.pk, updated_at=product.updated_at).update(index_stale=False)


def _stored_hash(product: Product) -> str | None:
    try:
        return product.embedding.text_hash
    except ProductEmbedding.DoesNotExist:
        return None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _store_embeddings(
    products: list[Product], changed: list[int], hashes: list[str], vectors: np.ndarray, model_name: str
) -> None:
    with transaction.atomic():
        ProductEmbedding.objects.bulk_create(
            [
                ProductEmbedding(
                    product=products[i], model_name=model_name, vector=vector.tobytes(), text_hash=hashes[i]
                )
                for i, vector in zip(changed, vectors, strict=True)
            ],
            update_conflicts=True,
            unique_fields=["product"],
            update_fields=["model_name", "vector", "text_hash", "updated_at"],
        )
        _unmark(products)


def catalog_signature() -> str:
    """Changes whenever the set of active products, one of them, a stored vector or the layout of
    an index version (``INDEX_FORMAT``) changes: a version of an older layout is rebuilt."""
    summary = (
        Product.objects.active()
        .filter(embedding__isnull=False)
        .aggregate(
            count=Count("pk"),
            ids=Sum("pk"),
            edited=Max("updated_at"),
            embedded=Max("embedding__updated_at"),
        )
    )
    summary["format"] = INDEX_FORMAT
    return _digest(repr(sorted((key, str(value)) for key, value in summary.items())))


def publish_active_products(signature: str, on_progress: Progress | None = None) -> str:
    """Build and activate an index version of every active product that has a vector."""
    products = _with_text_fields(Product.objects.active().filter(embedding__isnull=False)).order_by("pk")
    total = products.count()
    ids, vectors, texts, rows, type_rows = [], [], [], [], []
    model_names = set()
    for product in products.iterator(chunk_size=READ_CHUNK):
        attributes = product.attribute_dict()
        ids.append(product.pk)
        vectors.append(np.frombuffer(product.embedding.vector, dtype=np.float32))
        model_names.add(product.embedding.model_name)
        texts.append(text_for(product))
        rows.append(
            FilterRow(
                price=float(product.price),
                stock=product.stock,
                brand=product.brand.name if product.brand else "",
                categories=[category.path for category in product.categories.all()],
                colors=_as_list(attributes.get("color")),
                materials=_as_list(attributes.get("material")),
                currency=product.currency,
                rating=product.rating,
                rating_count=product.rating_count,
                popularity=_number(attributes.get("popularity")),
                measures=measures_in_text(product.title)
                | {
                    name: value for name in DIMENSIONS if (value := _number(attributes.get(name))) is not None
                },
            )
        )
        type_rows.append(
            TypeRow(
                type=str(attributes.get("type") or ""),
                categories=[category.full_name for category in product.categories.all()],
                title=product.title,
            )
        )
        if on_progress and len(ids) % READ_CHUNK == 0:
            on_progress("publishing", len(ids), total)
    matrix = np.vstack(vectors) if vectors else np.zeros((0, DIMENSION), dtype=np.float32)
    version = index_store().publish(
        np.asarray(ids, dtype=np.int64),
        matrix,
        texts,
        rows,
        metadata={"signature": signature, "encoder": sorted(model_names)},
        type_rows=type_rows,
        encoder=get_encoder(settings.AISLE_DEVICE),
    )
    if on_progress:
        on_progress("publishing", total, total)
    return version


def _as_list(value: object) -> list[str]:
    if value in (None, ""):
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _number(value: object) -> float | None:
    """A numeric attribute as a float ("120" and 120 alike), ``None`` when it is not a number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
