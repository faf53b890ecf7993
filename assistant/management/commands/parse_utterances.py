"""``parse_utterances IN OUT`` (CONTRACTS §2): ``{"text"}`` lines in, frames out, same order."""

import json
from typing import Any

from django.core.management.base import CommandParser

from assistant.parsing import parse_many
from core.commands import AisleCommand, open_text

BATCH = 64


class Command(AisleCommand):
    help = (
        "Parse a JSONL file of {text} lines with the active parser; writes {text, intent, confidence, slots} "
        "per line, in order. '-' is stdin/stdout. Bad lines get {error} and do not stop the run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("input", help="JSONL of {text}, or - for stdin.")
        parser.add_argument("output", help="JSONL to write, or - for stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        parsed = failed = 0
        pending: list[dict[str, Any]] = []  # requests or error rows, in input order
        with open_text(options["input"], "r") as source, open_text(options["output"], "w") as sink:
            for line_number, line in enumerate(source, start=1):
                if not line.strip():
                    continue
                pending.append(_request(line, line_number))
                if len(pending) >= BATCH:
                    parsed, failed = _flush(pending, sink, parsed, failed)
            parsed, failed = _flush(pending, sink, parsed, failed)
        self.report(
            options,
            f"Parsed {parsed} utterances ({failed} bad lines).",
            {"parsed": parsed, "failed": failed},
        )


def _request(line: str, line_number: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as problem:
        return {"error": f"line {line_number}: invalid JSON: {problem.msg}"}
    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
        return {"error": f"line {line_number}: needs a string 'text'"}
    return {"text": row["text"]}


def _flush(pending: list[dict[str, Any]], sink: Any, parsed: int, failed: int) -> tuple[int, int]:
    texts = [row["text"] for row in pending if "text" in row]
    frames = iter(parse_many(texts)) if texts else iter(())
    for row in pending:
        if "error" in row:
            failed += 1
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
            continue
        parsed += 1
        frame = next(frames).as_dict()
        sink.write(json.dumps({"text": row["text"], **frame}, ensure_ascii=False) + "\n")
    pending.clear()
    return parsed, failed
