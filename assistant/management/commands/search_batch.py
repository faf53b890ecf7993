"""``search_batch IN OUT [--k 10] [--ranker NAME] [--user ID]`` (CONTRACTS §2)."""

import json
import time
from typing import Any

import numpy as np
from django.core.management.base import CommandError, CommandParser

from assistant.services import search_cards
from core.commands import AisleCommand, open_text
from recsys_plugins import ranking
from recsys_plugins.manager import UnknownRanker

MAX_K = 100


class Command(AisleCommand):
    help = (
        "Answer a JSONL file of {id, query} lines as a chat's first turn would (parse, retrieve, "
        "filter, rank); writes {id, results, intent, slots, ms} per line, in order. '-' is stdin/stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("input", help="JSONL of {id, query}, or - for stdin.")
        parser.add_argument("output", help="JSONL to write, or - for stdout.")
        parser.add_argument("--k", type=int, default=10, help=f"Results per query, 1 to {MAX_K}.")
        parser.add_argument(
            "--ranker",
            default=None,
            help="Ranker to order with (default: the first enabled; see /api/rankers/).",
        )
        parser.add_argument(
            "--user",
            default=None,
            help="Shopper whose feedback personalises the ranking: a user id or a session key.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["k"] <= MAX_K:
            raise CommandError(f"--k must be from 1 to {MAX_K}")
        installed = ranking.registry().rankers()
        if options["ranker"] is not None and options["ranker"] not in installed:
            raise CommandError(f"unknown ranker {options['ranker']!r}; installed: {', '.join(installed)}")
        timings: list[float] = []
        failed = 0
        with open_text(options["input"], "r") as source, open_text(options["output"], "w") as sink:
            for line_number, line in enumerate(source, start=1):
                if not line.strip():
                    continue
                row = self._answer(line, line_number, options, timings)
                failed += "error" in row
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
        summary = {
            "queries": len(timings) + failed,
            "failed": failed,
            "ms_p50": round(float(np.percentile(timings, 50)), 2) if timings else None,
            "ms_p95": round(float(np.percentile(timings, 95)), 2) if timings else None,
        }
        self.report(
            options,
            f"Answered {len(timings)} queries ({failed} bad lines); "
            f"p50 {summary['ms_p50']} ms, p95 {summary['ms_p95']} ms.",
            summary,
        )

    def _answer(self, line: str, line_number: int, options: dict[str, Any], timings: list[float]) -> dict:
        try:
            request = json.loads(line)
        except json.JSONDecodeError as problem:
            return {"id": None, "error": f"line {line_number}: invalid JSON: {problem.msg}"}
        if not isinstance(request, dict) or not isinstance(request.get("query"), str) or not request["query"]:
            return {"id": _id(request), "error": f"line {line_number}: needs a non-empty string 'query'"}
        started = time.perf_counter()
        try:
            outcome = search_cards(
                request["query"], options["k"], ranker=options["ranker"], user=options["user"]
            )
        except UnknownRanker as problem:  # checked up front; kept for a ranker removed meanwhile
            raise CommandError(str(problem)) from None
        elapsed = (time.perf_counter() - started) * 1000
        timings.append(elapsed)
        return {
            "id": request.get("id"),
            "results": [card["sku"] for card in outcome.cards],
            "intent": outcome.intent,
            "slots": outcome.slots,
            "ms": round(elapsed, 2),
        }


def _id(request: Any) -> Any:
    return request.get("id") if isinstance(request, dict) else None
