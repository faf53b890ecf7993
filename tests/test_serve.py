"""``make serve``: several Daphne processes on one port, started and stopped together."""

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT, _free_port

pytestmark = pytest.mark.slow


def daphnes_of(session: int) -> list[int]:
    """The Daphne processes of a process session."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[3]) != session:
                continue
            if b"daphne" in (stat.parent / "cmdline").read_bytes():
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


@pytest.mark.django_db(transaction=True)
def test_serve_runs_web_concurrency_daphnes_on_one_port_and_stops_them_together(process_env, tmp_path):
    port = _free_port()
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "config.serve"],
        cwd=ROOT,
        env={**process_env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "2"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        answers = []
        while time.monotonic() < deadline and len(answers) < 20:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                    answers.append(response.status)
            except OSError:
                time.sleep(0.5)
        assert answers == [200] * 20, log.read_text()
        assert len(daphnes_of(server.pid)) == 2
        assert "with 2 Daphne processes" in log.read_text()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0
        assert daphnes_of(server.pid) == []
    finally:
        if server.poll() is None:
            server.kill()
