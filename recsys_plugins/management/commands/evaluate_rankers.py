"""``evaluate_rankers [--rankers a,b] [--queries N] [--seed S] [--filters {type,parsed}] [--json]``:
every installed ranker, plugins included, scored on search queries made from the live index."""

from collections.abc import Mapping
from typing import Any

import numpy as np
from django.core.management.base import CommandError, CommandParser

from assistant import parsing
from assistant.search import find_products
from catalog.indexing import live_index
from catalog.retrieval.constraints import ACTIVE_SLOTS
from core.commands import AisleCommand
from recsys_plugins import ranking
from recsys_plugins.catalog_eval import (
    RETRIEVAL,
    Catalog,
    CatalogQuery,
    Pool,
    evaluate,
    generate_queries,
)
from recsys_plugins.evaluation import CUTOFF
from recsys_plugins.manager import RankerRegistry
from recsys_plugins.rankers.base import ProductFacts

FILTERS = {
    "type": "only the product type filters the pool: other colours, materials, brands and prices stay "
    "in it for the rankers to order",
    "parsed": "every slot the parser reads in the query filters the pool, as a shopper's first search "
    "does (its pool holds only exact matches)",
}


class Command(AisleCommand):
    help = (
        "Score installed rankers (default: all, plugins included, enabled or not) on search queries "
        "made from the live index's product types, colours, materials, brands and prices: graded "
        "NDCG@10, brand and category diversity, price spread and time per ranking, beside the "
        "retrieval order. Each ranker orders the pool the live search finds for an anonymous shopper."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--rankers", default="", help="Comma-separated (default: every installed one).")
        parser.add_argument(
            "--queries", type=int, default=100, help="How many queries to make (default 100)."
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the queries drawn (default 0).")
        parser.add_argument(
            "--filters",
            choices=list(FILTERS),
            default="type",
            help="; ".join(f"{name}: {meaning}" for name, meaning in FILTERS.items()) + " (default type).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["queries"] < 1:
            raise CommandError("--queries must be at least 1")
        registry = ranking.registry()
        installed = registry.rankers()
        rankers = [name.strip() for name in options["rankers"].split(",") if name.strip()] or list(installed)
        unknown = [name for name in rankers if name not in installed]
        if unknown or not rankers:
            named = ", ".join(unknown) or "at all"
            raise CommandError(f"no ranker named {named}; installed: {', '.join(installed) or 'none'}")
        snapshot = live_index().get()
        if snapshot is None or len(snapshot) == 0:
            raise CommandError("there is no search index to make queries from; run build_index first")
        catalog = Catalog(snapshot.ids, ProductFacts(**snapshot.facts(np.arange(len(snapshot)))))
        queries = generate_queries(catalog.facts, options["queries"], options["seed"])
        if not queries:
            raise CommandError("no product type of the index has enough products to ask for")
        pools = LivePool(registry, rankers[0], options["filters"])
        report = {
            "index": {"version": snapshot.name, "products": len(snapshot)},
            "filters": options["filters"],
            "seed": options["seed"],
            **evaluate(registry, rankers, queries, pools, catalog),
        }
        self.report(options, summary(report), report)


class LivePool:
    """The pool and the context ``find_products`` ranks for a query, for an anonymous shopper.

    The search is asked to rank with ``probe`` (any installed ranker); what it hands the first
    ``aisle_score_candidates`` call is the first page's pool, its candidates and context exactly
    as the live search builds them, read through pluggy's hook-call monitoring.
    """

    def __init__(self, registry: RankerRegistry, probe: str, filters: str) -> None:
        self.registry, self.probe, self.filters = registry, probe, filters

    def __call__(self, query: CatalogQuery) -> Pool | None:
        if self.filters == "type":
            slots: dict[str, Any] = {"category": query.type_words}
        else:
            read = parsing.parse(query.text).slots
            slots = {name: value for name, value in read.items() if name in ACTIVE_SLOTS}
        captured: list[Pool] = []

        def before(hook_name: str, implementations: Any, kwargs: Mapping[str, Any]) -> None:
            if hook_name == "aisle_score_candidates" and not captured:
                captured.append((kwargs["candidates"], kwargs["context"]))

        undo = self.registry.plugins.add_hookcall_monitoring(before, lambda *_: None)
        try:
            find_products(query.text, slots, CUTOFF, ranker=self.probe, shopper=ranking.Shopper())
        except ValueError:  # a price floor above the ceiling: nothing to rank
            return None
        finally:
            undo()
        return captured[0] if captured else None


def summary(report: Mapping[str, Any]) -> str:
    """The report as a table, one ranker a line, the retrieval order first."""
    pool = report["pool"]
    lines = [
        f"{report['evaluated']} of {report['queries']} catalog queries (seed {report['seed']}, "
        f"filters {report['filters']}) had products to rank; index {report['index']['version']}, "
        f"{report['index']['products']} products.",
        f"Pools: {pool['mean_size']} candidates on average, {pool['search_ms']} ms per search; "
        f"NDCG@10 of the best order of each pool: {_number(pool['ceiling_ndcg@10'])}.",
        f"  {'ranker':<14}{'NDCG@10':>9}{'brand div':>11}{'type div':>10}{'price CV':>10}{'ms':>7}  plugin",
    ]
    for name, row in report["rankers"].items():
        origin = "the search's own order" if name == RETRIEVAL else f"{row['plugin']} ({row['package']})"
        if row["failed_queries"] and not row["queries"]:
            lines.append(f"  {name:<14}failed on every query: {row.get('reason', '')}  {origin}")
            continue
        lines.append(
            f"  {name:<14}{_number(row['ndcg@10']):>9}{_number(row['brand_diversity'], 2):>11}"
            f"{_number(row['category_diversity'], 2):>10}{_number(row['price_cv'], 2):>10}"
            f"{_number(row['ms'], 2):>7}  {origin}"
        )
        if row["failed_queries"]:
            lines.append(f"  {'':<14}failed on {row['failed_queries']} queries: {row.get('reason', '')}")
        if row["hook_errors"]:
            lines.append(f"  {'':<14}{row['hook_errors']} hook calls failed while it ranked (skipped)")
    for plugin, reason in report["failed_plugins"].items():
        lines.append(f"  plugin {plugin} was not loaded: {reason}")
    return "\n".join(lines)


def _number(value: float | None, places: int = 4) -> str:
    return "-" if value is None else f"{value:.{places}f}"
