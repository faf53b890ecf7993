"""``load_demo_catalog [--if-empty]``: import the built-in demo catalog."""

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from catalog.importers import read_catalog
from catalog.models import Product
from catalog.services import import_rows
from core.commands import AisleCommand

DEMO_CATALOG = Path(__file__).resolve().parents[2] / "demo" / "demo_catalog.jsonl"


class Command(AisleCommand):
    help = "Import the built-in demo catalog (furniture, decor, phone accessories; USD)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if any product exists.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and Product.objects.exists():
            self.report(options, "Catalog not empty; demo catalog not loaded.", {"loaded": False})
            return
        summary = import_rows(read_catalog(DEMO_CATALOG, "jsonl"))
        self.report(options, f"Demo catalog: {summary.describe()}", {"loaded": True, **summary.as_dict()})
