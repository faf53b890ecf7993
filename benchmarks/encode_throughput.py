"""Encoding throughput of ``build_index``'s encoder over the IKEA + Best Buy catalogs.

Reads both public catalogs with the project's own readers, builds each
product's text as ``build_index`` does, and times the MiniLM encoder on it.
No Django: it runs unchanged on a GPU machine. Prints one JSON line.

    python benchmarks/encode_throughput.py --device cpu
    python benchmarks/encode_throughput.py --device cuda --batch-size 256
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalog.importers import ProductRecord, read_catalog  # noqa: E402
from catalog.retrieval.encoder import Encoder  # noqa: E402
from catalog.retrieval.product_text import product_text  # noqa: E402

CATALOGS = (("ikea", "ikea/ikea.csv"), ("bestbuy", "bestbuy/products.json"))


def catalog_texts(data_dir: Path) -> list[str]:
    """The embedding text of every importable product in both catalogs."""
    texts = []
    for fmt, relative in CATALOGS:
        for _, record in read_catalog(data_dir / relative, fmt):
            if isinstance(record, ProductRecord):
                texts.append(
                    product_text(
                        title=record.title,
                        brand=record.brand,
                        categories=[" > ".join(path) for path in record.categories],
                        attributes=record.attributes,
                        description=record.description,
                    )
                )
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", type=Path, default=None, help="Model folder (default: the packaged one).")
    args = parser.parse_args()
    if not (args.data / "ikea" / "ikea.csv").exists():
        sys.exit(f"skipped: the public catalogs are not in {args.data} (see ../shared/data/README.md)")

    texts = catalog_texts(args.data)
    started = time.perf_counter()
    encoder = Encoder(args.model, device=args.device)
    load_s = time.perf_counter() - started
    encoder.encode(texts[:256], batch_size=args.batch_size)  # warm-up: kernels, allocator
    if encoder.device == "cuda":
        import torch

        torch.cuda.synchronize()
    started = time.perf_counter()
    vectors = encoder.encode(texts, batch_size=args.batch_size)
    seconds = time.perf_counter() - started
    gpu = None
    if encoder.device == "cuda":
        import torch

        gpu = torch.cuda.get_device_name(0)
    print(
        json.dumps(
            {
                "benchmark": "encode_throughput",
                "device": encoder.device,
                "gpu": gpu,
                "cpu": platform.processor() or platform.machine(),
                "products": len(vectors),
                "batch_size": args.batch_size,
                "model_load_s": round(load_s, 2),
                "seconds": round(seconds, 2),
                "products_per_second": round(len(vectors) / seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
