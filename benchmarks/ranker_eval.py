"""Every installed ranker, plugins included, scored offline on queries made from the IKEA + Best Buy
catalogs (``manage.py evaluate_rankers``): graded NDCG@10, brand and category diversity, price
spread and milliseconds per ranking, beside the retrieval order.

Prepares the ``DATA_DIR`` as ``dialogue_scripts.py`` does (migrate, import both catalogs, build the
index; kept between runs), then runs the command once per ``--filters`` mode. Prints one JSON line.
Exits with a "skipped" message when the public catalogs are absent.

    python benchmarks/ranker_eval.py --data-dir /tmp/aisle-bench-rankers --queries 300
"""

import argparse
import io
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.dialogue_scripts import add_setup_arguments, prepare, set_up_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_setup_arguments(parser)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--filters", default="type,parsed", help="Comma-separated modes of evaluate_rankers.")
    parser.add_argument("--rankers", default="", help="Comma-separated (default: every installed one).")
    args = parser.parse_args()
    set_up_django(args)
    from django.core.management import call_command

    parser_used = prepare(args.data, args.train_parser)
    runs = {}
    for mode in [mode.strip() for mode in args.filters.split(",") if mode.strip()]:
        out = io.StringIO()
        started = time.perf_counter()
        call_command(
            "evaluate_rankers",
            "--queries",
            str(args.queries),
            "--seed",
            str(args.seed),
            "--filters",
            mode,
            "--rankers",
            args.rankers,
            "--json",
            stdout=out,
            stderr=sys.stderr,
        )
        report = json.loads(out.getvalue())
        report["kinds"] = dict(Counter(query["kind"] for query in report.pop("query_set")))
        report["seconds"] = round(time.perf_counter() - started, 1)
        runs[mode] = report
    print(
        json.dumps(
            {
                "benchmark": "ranker_eval",
                "parser": parser_used,
                "runs": runs,
                "machine": f"{platform.machine()} {os.cpu_count()} cores",
                "date": time.strftime("%Y-%m-%d"),
            }
        )
    )


if __name__ == "__main__":
    main()
