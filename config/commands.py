"""What every Aisle management command shares (CONTRACTS §2).

A human summary goes to stderr; with ``--json`` one JSON object goes to stdout.
"""

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm


class AisleCommand(BaseCommand):
    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object to stdout.")

    def report(self, options: dict[str, Any], summary: str, payload: dict[str, Any]) -> None:
        """Write the human summary to stderr and, with --json, ``payload`` to stdout."""
        self.stderr.write(summary)
        if options["json"]:
            self.stdout.write(json.dumps(payload, ensure_ascii=False))

    def progress(self, total: int | None, unit: str, description: str | None = None) -> tqdm:
        """A progress bar on an interactive stderr, silent otherwise."""
        return tqdm(
            total=total, unit=unit, desc=description, file=sys.stderr, disable=not sys.stderr.isatty()
        )
