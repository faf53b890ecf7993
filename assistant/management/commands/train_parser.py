"""``train_parser [--device auto|cpu|cuda] [--epochs N] [--no-activate]`` (CONTRACTS §2)."""

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from assistant import parsing
from assistant.models import TrainingJob
from core.commands import AisleCommand


class Command(AisleCommand):
    help = (
        "Build training data from the catalog vocabulary and reviewed corrections, fine-tune the parser, "
        "score it on the held-out set, save a new version and activate it unless it is worse."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=settings.AISLE_DEVICE)
        parser.add_argument("--epochs", type=int, default=settings.AISLE_PARSER_EPOCHS)
        parser.add_argument("--no-activate", action="store_true", help="Keep the new version inactive.")
        parser.add_argument("--if-missing", action="store_true", help="Do nothing if a parser is active.")
        parser.add_argument(
            "--background",
            action="store_true",
            help="Queue the run for a Celery worker and return at once (the keyword rules answer until "
            "the new parser is active; web processes switch to it without a restart).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["epochs"] <= 50:
            raise CommandError("--epochs must be from 1 to 50")
        if options["if_missing"] and parsing.parser_store().active_version():
            version = parsing.parser_store().active_version()
            self.report(options, f"Parser version {version} is active; not training.", {"version": version})
            return
        if options["background"]:
            self._queue(options)
            return
        job = TrainingJob.objects.create(
            device=options["device"], epochs=options["epochs"], activate=not options["no_activate"]
        )
        with self.progress(None, "step", "training") as bar:
            saver = parsing.progress_saver(job)

            def on_progress(progress: dict[str, Any]) -> None:
                saver(progress)
                bar.total = progress["steps"]
                bar.n = progress["step"]
                bar.set_postfix(epoch=progress["epoch"], loss=progress["loss"])

            try:
                parsing.run_training(job, on_progress=on_progress)
            except RuntimeError as problem:
                raise CommandError(str(problem)) from None
        metrics = job.metrics
        self.report(
            options,
            f"Parser version {job.version} on {job.device_used}: "
            f"intent accuracy {metrics['intent_accuracy']:.3f}, "
            f"slot F1 {metrics['slot_f1']:.3f}, exact frames {metrics['exact_frame']:.3f}; {job.message}.",
            {
                "job": job.pk,
                "version": job.version,
                "device": job.device_used,
                "activated": job.activated,
                "message": job.message,
                "loss": job.loss,
                "metrics": metrics,
            },
        )

    def _queue(self, options: dict[str, Any]) -> None:
        """A run for the worker, unless one is queued or running already (``make run`` twice)."""
        pending = (TrainingJob.Status.QUEUED, TrainingJob.Status.RUNNING)
        waiting = TrainingJob.objects.filter(status__in=pending).order_by("pk").first()
        job = waiting or parsing.start_training(
            options["device"], options["epochs"], not options["no_activate"]
        )
        state = "is already waiting" if waiting else "is queued"
        self.report(
            options,
            f"Parser training job {job.pk} {state} for the worker; keyword rules answer until it is done.",
            {"job": job.pk, "queued": not waiting},
        )
