"""``import_catalog PATH --format {ikea,bestbuy,jsonl,csv} [--dry-run]``"""

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from catalog.importers import READERS, RowError, read_catalog
from catalog.services import import_rows
from core.commands import AisleCommand


class Command(AisleCommand):
    help = "Create or update products by SKU from a catalog file; bad rows are listed, not fatal."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("path", type=Path)
        parser.add_argument("--format", required=True, choices=sorted(READERS), dest="fmt")
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; store nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        with self.progress(None, "products") as bar:
            try:
                summary = import_rows(
                    read_catalog(options["path"], options["fmt"]),
                    dry_run=options["dry_run"],
                    on_row=bar.update,
                )
            except RowError as error:
                raise CommandError(f"cannot import {options['path']}: {error}") from None
        for rejection in summary.rejected[:20]:
            self.stderr.write(f"  row {rejection['row']}: {rejection['reason']}")
        if len(summary.rejected) > 20:
            self.stderr.write(f"  … and {len(summary.rejected) - 20} more rejected rows (see --json)")
        prefix = "Dry run, nothing stored: would have " if options["dry_run"] else ""
        self.report(options, prefix + summary.describe(), summary.as_dict())
