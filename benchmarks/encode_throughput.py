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

from benchmarks.catalogs import DEFAULT_DATA, catalog_texts, require_data  # noqa: E402
from catalog.retrieval.encoder import Encoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", type=Path, default=None, help="Model folder (default: the packaged one).")
    args = parser.parse_args()
    require_data(args.data)

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
