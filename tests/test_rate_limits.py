"""Rate limits per session and per client address, on the API and shared between processes."""

import json
import os
import subprocess
import sys

import pytest

from assistant import ratelimit

from .conftest import ROOT

COUNT_ALLOWED = """
import django, json, sys
django.setup()
from assistant import ratelimit
print(sum(ratelimit.allowed("shared-session", None) for _ in range(int(sys.argv[1]))))
"""


@pytest.mark.django_db
def test_the_api_refuses_an_address_over_its_limit_and_serves_the_others(client, settings):
    settings.AISLE_RATE_LIMIT_PER_IP = "3 per minute"
    answers = [client.get("/api/search/", {"q": "sofa"}, REMOTE_ADDR="203.0.113.7") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] == "rate_limited"
    assert client.get("/api/search/", {"q": "sofa"}, REMOTE_ADDR="203.0.113.8").status_code == 200


@pytest.mark.django_db
def test_an_api_session_is_limited_whatever_address_it_comes_from(client, settings):
    settings.AISLE_RATE_LIMIT_PER_SESSION = "2 per minute"
    body = json.dumps({"text": "hello", "session": "limited-session-1"})
    codes = [
        client.post("/api/chat/", body, content_type="application/json", REMOTE_ADDR=address).status_code
        for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3")
    ]
    assert codes == [200, 200, 429]


def test_an_empty_limit_is_no_limit(settings):
    settings.AISLE_RATE_LIMIT_PER_SESSION = ""
    assert all(ratelimit.allowed("unlimited", None) for _ in range(200))


@pytest.mark.services
def test_two_processes_count_against_one_limit_in_redis(settings):
    """Two web processes (here two interpreters) share the session's allowance through Redis."""
    environment = {
        **os.environ,
        "AISLE_RATE_LIMIT_PER_SESSION": "10 per minute",
        "REDIS_URL": settings.REDIS_URL,
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", COUNT_ALLOWED, "8"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    allowed = [int(process.communicate(timeout=120)[0].strip().splitlines()[-1]) for process in processes]
    assert sum(allowed) == 10  # 16 asked, 10 allowed: one count, not one per process
