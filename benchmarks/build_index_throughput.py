"""``build_index --full`` on the IKEA + Best Buy catalogs (6,253 products), through the real command.

Creates a fresh ``DATA_DIR`` with SQLite, imports both public catalogs with
``import_catalog``, then times ``build_index --full --json`` as a shop would
run it: database reads, product texts, encoding, storing vectors and
publishing the vector, keyword and filter indexes. Prints one JSON line with
the command's own report plus the wall time of the process (model loading
included).

    python benchmarks/build_index_throughput.py --device cpu
    python benchmarks/build_index_throughput.py --device cuda   # on a GPU machine with Django installed
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.catalogs import CATALOGS, DEFAULT_DATA, require_data  # noqa: E402


def manage(*arguments: str, env: dict[str, str]) -> str:
    """Run ``manage.py`` with ``arguments``; its stdout, or exit with its stderr on failure."""
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(arguments)} failed:\n{result.stderr}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    require_data(args.data)

    with tempfile.TemporaryDirectory(prefix="aisle-build-index-") as data_dir:
        env = {
            **os.environ,
            "DATA_DIR": data_dir,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "AISLE_INDEX_AUTO_REFRESH": "false",
        }
        for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
            env.pop(name, None)
        manage("migrate", "--noinput", env=env)
        for fmt, relative in CATALOGS:
            manage("import_catalog", str(args.data / relative), "--format", fmt, env=env)
        started = time.perf_counter()
        report = json.loads(manage("build_index", "--full", "--device", args.device, "--json", env=env))
        wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "benchmark": "build_index_throughput",
                "date": time.strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "device": args.device,
                **report,
                "process_seconds": round(wall, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
