"""``roll_back_index [VERSION]``: serve a kept index version again (default: the one before the active)."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from catalog.indexing import index_store, roll_back_index
from core.commands import AisleCommand


class Command(AisleCommand):
    help = (
        "Activate a kept index version: VERSION, or the newest good one before the active one. "
        "It is served until the catalog changes and the next refresh publishes anew."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("version", nargs="?", help="A kept version's name (see DATA_DIR/index/versions).")

    def handle(self, *args: Any, **options: Any) -> None:
        previous = index_store().active_version()
        try:
            version = roll_back_index(options["version"])
        except LookupError as problem:
            raise CommandError(str(problem)) from None
        self.report(
            options,
            f"Index version {version} is active (was {previous}).",
            {"version": version, "previous": previous},
        )
