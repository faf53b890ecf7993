"""What every Aisle management command shares (CONTRACTS §2).

A human summary goes to stderr; with ``--json`` one JSON object goes to stdout.
"""

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
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


@contextlib.contextmanager
def open_text(name: str, mode: str) -> Iterator[IO[str]]:
    """A text file to read or write line by line; ``-`` is stdin or stdout."""
    if name == "-":
        yield sys.stdin if mode == "r" else sys.stdout
        return
    try:
        # Undecodable bytes become U+FFFD, so such a line is reported as bad JSON, not a crash.
        handle = Path(name).open(mode, encoding="utf-8", errors="replace")  # noqa: SIM115 (closed below)
    except OSError as problem:
        raise CommandError(f"cannot open {name}: {problem.strerror}") from None
    with handle:
        yield handle
