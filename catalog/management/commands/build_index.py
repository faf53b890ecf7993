"""``build_index [--full]``: bring embeddings and the vector and lexical indexes up to date."""

from typing import Any

from django.core.management.base import CommandParser

from catalog.indexing import build_index
from core.commands import AisleCommand


class Command(AisleCommand):
    help = (
        "Encode new and changed products (every active one with --full) and publish a new "
        "index version if the catalog changed or the active one is damaged; prints products per second."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--full", action="store_true", help="Re-encode every active product.")
        parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        bars: dict[str, Any] = {}

        def show_progress(stage: str, done: int, total: int) -> None:
            if stage not in bars:
                bars[stage] = self.progress(total, "products", stage)
            bars[stage].update(done - bars[stage].n)

        try:
            report = build_index(full=options["full"], device=options["device"], on_progress=show_progress)
        finally:
            for bar in bars.values():
                bar.close()
        state = f"published version {report.version}" if report.published else f"kept {report.version}"
        if report.repaired:
            state += f" (republished from the stored vectors: {report.repaired})"
        self.report(
            options,
            f"Encoded {report.encoded} products in {report.seconds:.1f}s "
            f"({report.per_second:.0f} products/s); {state} with {report.products} products.",
            report.as_dict(),
        )
