"""Parser quality, speed and training time, against the keyword baseline in the same run.

Trains the default parser (10,000 generated utterances, 3 epochs) on the
vocabulary of the demo + IKEA + Best Buy catalogs, scores it and the keyword
parser on the hand-written held-out set, and times single-utterance and
batched inference. Prints one JSON object. No Django.

    .venv/bin/python benchmarks/parser_benchmark.py [--device cpu|cuda] [--examples N] [--epochs N]
"""

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from catalogs import DEFAULT_DATA, ROOT, catalog_records, log, require_data

sys.path.insert(0, str(ROOT))

from assistant.nlu.baseline import KeywordParser
from assistant.nlu.evaluation import evaluate, load_labelled
from assistant.nlu.generate import generate_examples
from assistant.nlu.parser import Parser
from assistant.nlu.training import TrainingConfig, train
from assistant.nlu.vocabulary import ParserVocabulary

HEADLINE = ("intent_accuracy", "slot_precision", "slot_recall", "slot_f1", "exact_frame")


def vocabulary(data_dir: Path) -> ParserVocabulary:
    demo = [json.loads(line) for line in (ROOT / "catalog/demo/demo_catalog.jsonl").read_text().splitlines()]
    records = [record for _, record in catalog_records(data_dir)]
    return ParserVocabulary.from_catalog([r["brand"] for r in demo], [r["attributes"] for r in demo]).merged(
        ParserVocabulary.from_catalog([r.brand for r in records], [r.attributes for r in records])
    )


def latency(parser: Parser, texts: list[str]) -> dict[str, float]:
    for text in texts[:20]:
        parser.parse(text)
    timings = []
    for text in texts:
        started = time.perf_counter()
        parser.parse(text)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    started = time.perf_counter()
    parser.parse_batch(texts * 5)
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(len(timings) * 0.95)], 2),
        "batched_per_s": round(len(texts) * 5 / (time.perf_counter() - started), 1),
    }


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--data", type=Path, default=DEFAULT_DATA)
    arguments.add_argument("--device", default="cpu")
    arguments.add_argument("--examples", type=int, default=10_000)
    arguments.add_argument("--epochs", type=int, default=3)
    options = arguments.parse_args()
    require_data(options.data)
    words = vocabulary(options.data)
    heldout = load_labelled()
    texts = [utterance.text for utterance in heldout]
    log(
        f"vocabulary: {len(words.categories)} types, {len(words.brands)} brands, "
        f"{len(words.features)} features"
    )

    baseline = KeywordParser(words)
    baseline_report = evaluate(baseline.parse_batch, heldout)
    examples = generate_examples(words, options.examples, seed=0)
    started = time.perf_counter()
    trained = train(examples, words, TrainingConfig(epochs=options.epochs), device=options.device)
    train_seconds = time.perf_counter() - started
    log(f"trained in {train_seconds:.1f}s")
    with tempfile.TemporaryDirectory() as folder:
        trained.save(Path(folder))
        served = {
            "int8": Parser.load(Path(folder), "cpu"),
            "fp32": Parser.load(Path(folder), "cpu", quantize=False),
        }
        reports = {name: evaluate(parser.parse_batch, heldout) for name, parser in served.items()}
        speeds = {name: latency(parser, texts) for name, parser in served.items()}
    print(
        json.dumps(
            {
                "machine": f"{platform.processor() or platform.machine()}, {platform.node()}",
                "date": time.strftime("%Y-%m-%d"),
                "device": options.device,
                "examples": len(examples),
                "epochs": options.epochs,
                "heldout_utterances": len(heldout),
                "train_seconds": round(train_seconds, 1),
                "transformer_int8": {**{k: reports["int8"][k] for k in HEADLINE}, **speeds["int8"]},
                "transformer_fp32": {**{k: reports["fp32"][k] for k in HEADLINE}, **speeds["fp32"]},
                "keyword_baseline": {**{k: baseline_report[k] for k in HEADLINE}, **latency(baseline, texts)},
                "per_intent_f1": {k: v["f1"] for k, v in reports["int8"]["per_intent"].items()},
                "per_slot_f1": {k: v["f1"] for k, v in reports["int8"]["per_slot"].items()},
                "confusion": reports["int8"]["confusion"],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
