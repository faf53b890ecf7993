"""``fit_rankers [--queue]``: train the trainable rankers on all feedback so far."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import AisleCommand
from recsys_plugins import ranking
from recsys_plugins.models import RankerTrainingRun


class Command(AisleCommand):
    help = (
        "Train every trainable ranker (cf, popularity and plugins' own) on all feedback events so far, "
        "publish the result as a new version in DATA_DIR/rankers and activate it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--queue", action="store_true", help="Queue the run for a Celery worker instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["queue"]:
            run = ranking.start_training(reason="command")
            self.report(
                options, f"Ranker training run #{run.pk} is queued.", {"run": run.pk, "status": run.status}
            )
            return
        run = RankerTrainingRun.objects.create(reason="command")
        try:
            ranking.run_training(run)
        except Exception as problem:
            raise CommandError(f"ranker training failed: {problem}") from None
        self.report(
            options,
            f"Trained on {run.events} feedback events on the {run.device_used}: {run.message}; "
            f"version {run.version} is active.",
            {
                "run": run.pk,
                "status": run.status,
                "version": run.version,
                "events": run.events,
                "reports": run.reports,
            },
        )
