"""The web tier in several processes: ``python -m config.serve`` (``make serve``, the Docker image).

Binds ``HOST``:``PORT`` once and starts ``WEB_CONCURRENCY`` Daphne processes (default: the
number of cores) that all accept on that socket (``daphne --fd``), the way Channels' deployment
guide runs several Daphnes under a process manager; the kernel spreads connections over them.
Each process loads the models and the index once (the index vectors are memory-mapped, so the
processes share their pages). Nothing else runs here: no migrations, no training, no worker.

SIGTERM or SIGINT stops every process; if one dies, the others are stopped too and the exit
status says so, so that a supervisor (Docker, systemd) restarts the tier as a whole.
"""

import os
import signal
import socket
import subprocess
import sys
import time

GRACE_SECONDS = 20
"""How long the processes get to finish their connections once asked to stop."""
ONE_THREAD = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""Thread pools of torch, faiss and numpy: one thread each in a web process (unless set). The
concurrency is in the processes and their turn threads; per-turn pools on top of them would only
oversubscribe the cores."""


def listening_socket(host: str, port: int) -> socket.socket:
    """An IPv4 socket (Daphne's ``--fd`` takes IPv4 ones) listening on ``host``:``port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def daphne_command(fd: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "daphne", "--fd", str(fd), *extra, "config.asgi:application"]


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    workers = max(1, int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1))
    extra = sys.argv[1:]  # e.g. --proxy-headers behind a reverse proxy
    sock = listening_socket(host, port)
    environment = {**{name: "1" for name in ONE_THREAD}, **os.environ}
    processes = [
        subprocess.Popen(daphne_command(sock.fileno(), extra), pass_fds=(sock.fileno(),), env=environment)
        for _ in range(workers)
    ]
    print(f"Serving on http://{host}:{port}/ with {workers} Daphne processes", flush=True)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while not stopping:
        ended = [process for process in processes if process.poll() is not None]
        if ended:
            status = ended[0].returncode or 1
            print(f"a web process exited with {ended[0].returncode}; stopping the others", file=sys.stderr)
            break
        time.sleep(0.5)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    return status


if __name__ == "__main__":
    sys.exit(main())
