"""The parser in the running app: its versions in ``DATA_DIR/parser``, training runs and activation.

Thin Django glue around ``assistant.nlu``: the vocabulary comes from the
active catalog, corrections from reviewed ``ParserExample`` rows, progress
and scores go to a ``TrainingJob`` row.
"""

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, Max
from django.utils import timezone

from catalog.models import Product
from core import broker
from core.devices import resolve_device
from core.jobs import JobStatus

from .models import ParserExample, TrainingJob
from .nlu.baseline import KeywordParser
from .nlu.evaluation import LabelledUtterance, evaluate, load_labelled
from .nlu.frame import Frame, with_rule_slots
from .nlu.generate import generate_examples, tag_labelled
from .nlu.parser import LiveParser, Parser, ParserStore
from .nlu.training import TrainingConfig, train
from .nlu.vocabulary import ParserVocabulary

logger = logging.getLogger(__name__)
# A reviewed correction counts this many times: a handful must outweigh thousands of generated lines.
CORRECTION_WEIGHT = 5
# A new parser goes live only if it reads at least this share of the reviewed corrections exactly.
CORRECTIONS_REQUIRED = 0.9
TRAINING_JOBS = broker.JobQueue(
    "assistant.tasks.train_parser", TrainingJob, JobStatus.QUEUED, JobStatus.RUNNING
)
"""Parser training jobs and their task (named here: ``tasks`` imports this module)."""


def parser_folder() -> Path:
    """Where parser versions live: ``AISLE_PARSER_DIR``, or ``DATA_DIR/parser``."""
    return Path(settings.AISLE_PARSER_DIR or Path(settings.DATA_DIR) / "parser")


def parser_store() -> ParserStore:
    return ParserStore(parser_folder())


@functools.cache
def _live(root: Path) -> LiveParser:
    return LiveParser(ParserStore(root))


def active_parser() -> Parser | None:
    """The active parser version, reloaded when another process activates one."""
    return _live(parser_folder()).get()


def parse(text: str) -> Frame:
    """The frame of ``text``: the active parser's, or the keyword rules' before one is trained."""
    return parse_many([text])[0]


def parse_many(texts: list[str]) -> list[Frame]:
    """Frames of ``texts``; the model's get the hard slots the keyword rules read and it missed."""
    rules = _keyword_parser(_vocabulary_stamp())
    parser = active_parser()
    if parser is None:
        return rules.parse_batch(texts)
    frames = parser.parse_batch(texts)
    return [with_rule_slots(frame, rules.parse(text)) for frame, text in zip(frames, texts, strict=True)]


def _vocabulary_stamp() -> tuple[int, Any]:
    """What changes when the catalog does (one query: every turn asks)."""
    stamp = Product.objects.aggregate(products=Count("pk"), latest=Max("updated_at"))
    return stamp["products"], stamp["latest"]


@functools.lru_cache(maxsize=1)
def _keyword_parser(stamp: tuple[int, Any]) -> KeywordParser:
    return KeywordParser(catalog_vocabulary())


def catalog_vocabulary() -> ParserVocabulary:
    """Product types, brands and features of the active catalog."""
    products = Product.objects.active().select_related("brand")
    products = products.prefetch_related("attribute_values__attribute")
    brands, attributes = [], []
    for product in products.iterator(chunk_size=2000):  # prefetches per chunk
        if product.brand:
            brands.append(product.brand.name)
        attributes.append(product.attribute_dict())
    return ParserVocabulary.from_catalog(brands, attributes)


def training_examples(vocabulary: ParserVocabulary) -> list:
    """Generated examples plus every reviewed correction, ``CORRECTION_WEIGHT`` times each."""
    examples = generate_examples(vocabulary, settings.AISLE_PARSER_EXAMPLES, seed=settings.AISLE_PARSER_SEED)
    for correction in reviewed_corrections():
        example = tag_labelled(correction.text, correction.intent, correction.slots, vocabulary)
        examples += [example] * CORRECTION_WEIGHT
    return examples


def start_training(device: str = "auto", epochs: int | None = None, activate: bool = True) -> TrainingJob:
    """Queue a training run on the worker's ``gpu`` queue; returns its job row.

    The job is stored first and its task sent once that commits; a broker that is down leaves the
    job queued for ``resend_queued_jobs``, it never delays or fails the caller.
    """
    job = TrainingJob.objects.create(
        device=device, epochs=epochs or settings.AISLE_PARSER_EPOCHS, activate=activate
    )
    TRAINING_JOBS.send_on_commit(job.pk)
    return job


def resend_queued_jobs() -> list[int]:
    """Send again the jobs still queued ``AISLE_TRAINING_RESEND_AFTER`` seconds after they were
    created; returns their ids. A job delivered twice trains once (``TRAINING_JOBS.claim``)."""
    return TRAINING_JOBS.resend_stale(settings.AISLE_TRAINING_RESEND_AFTER)


def run_training(
    job: TrainingJob,
    fall_back_to_cpu: bool = False,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> TrainingJob:
    """Train, evaluate on the held-out set, save a version and activate it unless it is worse.

    Progress, loss, metrics and the outcome are saved on ``job`` as it goes.
    Raises on failure after marking the job failed.
    """
    try:
        device = _training_device(job.device, fall_back_to_cpu)
        _update(
            job,
            status=TrainingJob.Status.RUNNING,
            started_at=timezone.now(),
            device_used=device,
            progress={"stage": "generating"},
        )
        vocabulary = catalog_vocabulary()
        examples = training_examples(vocabulary)
        _update(job, progress={"stage": "training", "examples": len(examples)})
        trained = train(
            examples,
            vocabulary,
            TrainingConfig(epochs=job.epochs, seed=settings.AISLE_PARSER_SEED),
            device=device,
            on_progress=on_progress or progress_saver(job),
        )
        _update(job, progress={**job.progress, "stage": "evaluating"})
        store = parser_store()
        with store.publishing(), store.staging() as staging:
            trained.save(staging)
            served = Parser.load(staging, device="cpu")  # scored as the web processes will run it
            metrics = _heldout_metrics(served)
            active = store.active_version()
            active_parser = store.load(active) if active else None
            baseline = _heldout_metrics(active_parser) if active_parser else None
            corrections = reviewed_corrections()
            if corrections:  # what the admins corrected, read before (the active version) and now
                metrics["corrections"] = {
                    "count": len(corrections),
                    "accuracy": _exact_frames(served, corrections),
                    "before": _exact_frames(active_parser, corrections) if active_parser else None,
                }
            activate, reason = _should_activate(job.activate, metrics, baseline)
            manifest = {
                "metrics": metrics,
                "examples": len(examples),
                "epochs": job.epochs,
                "device": device,
                "vocabulary": {"categories": len(vocabulary.categories), "brands": len(vocabulary.brands)},
            }
            version = store.commit(staging, manifest, activate=activate)
        _update(
            job,
            status=TrainingJob.Status.SUCCEEDED,
            finished_at=timezone.now(),
            version=version,
            metrics=metrics,
            activated=activate,
            message=reason,
            progress={**job.progress, "stage": "done"},
        )
        logger.info("parser version %s: %s", version, reason)
        return job
    except Exception as problem:
        _update(
            job, status=TrainingJob.Status.FAILED, finished_at=timezone.now(), message=str(problem)[:2000]
        )
        raise


def activate_version(version: str) -> None:
    """Make a kept parser version active (a rollback); web processes follow on their next parse."""
    parser_store().activate(version)


def _training_device(requested: str, fall_back_to_cpu: bool) -> str:
    try:
        return resolve_device(requested)
    except RuntimeError:
        if fall_back_to_cpu:
            logger.warning("no CUDA device on this worker; training on the CPU instead")
            return "cpu"
        raise


def _heldout_metrics(parser: Parser) -> dict[str, Any]:
    report = evaluate(parser.parse_batch, load_labelled())
    keys = (
        "utterances",
        "intent_accuracy",
        "slot_precision",
        "slot_recall",
        "slot_f1",
        "exact_frame",
        "per_intent",
    )
    return {key: report[key] for key in keys}


def reviewed_corrections() -> list[LabelledUtterance]:
    """The admins' reviewed corrections, as labelled utterances."""
    return [
        LabelledUtterance(example.text, example.intent, example.slots or {})
        for example in ParserExample.objects.filter(reviewed=True).order_by("pk")
    ]


def _exact_frames(parser: Parser, utterances: list[LabelledUtterance]) -> float:
    return evaluate(parser.parse_batch, utterances)["exact_frame"]


def _should_activate(
    wanted: bool, metrics: dict[str, Any], active: dict[str, Any] | None
) -> tuple[bool, str]:
    """Activation guard: the mean of intent accuracy and slot F1 must not drop below the active
    version's, and the reviewed corrections must be read right (``CORRECTIONS_REQUIRED`` of them)."""
    if not wanted:
        return False, "kept, not activated (--no-activate)"
    score = (metrics["intent_accuracy"] + metrics["slot_f1"]) / 2
    if active is None:  # anything trained beats the keyword rules serving until now
        return True, f"activated: first parser version (held-out score {score:.4f})"
    corrections = metrics.get("corrections")
    if corrections and corrections["accuracy"] < CORRECTIONS_REQUIRED:
        return (
            False,
            f"not activated: it reads {corrections['accuracy']:.0%} of the {corrections['count']} reviewed "
            f"corrections right, under the {CORRECTIONS_REQUIRED:.0%} required",
        )
    active_score = (active["intent_accuracy"] + active["slot_f1"]) / 2
    if score < active_score:
        return (
            False,
            f"not activated: held-out score {score:.4f} is below the active version's {active_score:.4f}",
        )
    return True, f"activated: held-out score {score:.4f} (active version had {active_score:.4f})"


PROGRESS_LOG_STEPS = 10
"""Training logs its progress this many times per run (the admin shows every step)."""


def progress_saver(job: TrainingJob) -> Callable[[dict[str, Any]], None]:
    """Saves each progress report on ``job`` (the admin's progress bar) and logs one per tenth of
    the steps, so that a worker's log, not only a terminal, shows how far training is."""
    logged_tenth = 0

    def save(progress: dict[str, Any]) -> None:
        nonlocal logged_tenth
        _update(job, progress={"stage": "training", **progress}, loss=progress["loss"])
        step, steps = progress["step"], progress["steps"]
        tenth = step * PROGRESS_LOG_STEPS // max(1, steps)
        if tenth > logged_tenth:
            logged_tenth = tenth
            logger.info(
                "parser training job %s: step %s of %s (epoch %s), loss %.4f",
                job.pk,
                step,
                steps,
                progress["epoch"],
                progress["loss"],
            )

    return save


def _update(job: TrainingJob, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=list(fields))
