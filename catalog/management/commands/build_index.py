"""``build_index [--full]``: bring product embeddings up to date with the catalog."""

from typing import Any

from django.core.management.base import CommandParser

from catalog.models import Product
from catalog.services import build_embeddings
from config.commands import AisleCommand


class Command(AisleCommand):
    help = "Encode new and changed products (all of them with --full); prints products per second."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--full", action="store_true", help="Re-encode every active product.")
        parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        products = Product.objects.active()
        total = products.count() if options["full"] else products.stale().count()
        with self.progress(total, "products") as bar:
            report = build_embeddings(
                full=options["full"],
                device=options["device"],
                on_batch=lambda done: bar.update(done - bar.n),
            )
        self.report(
            options,
            f"Indexed {report.products} products in {report.seconds:.1f}s "
            f"({report.per_second:.0f} products/s).",
            {
                "products": report.products,
                "seconds": round(report.seconds, 3),
                "products_per_second": round(report.per_second, 1),
            },
        )
