"""Property-based tests (hypothesis) of every input boundary: the decoder, the parser, the HTTP API,
the chat WebSocket and the catalog importers. Hostile values (NUL, lone surrogates, deep nesting,
huge numbers) are mixed into otherwise plausible input; the properties say what must always hold.

Example counts are modest (profile ``aisle``); ``HYPOTHESIS_PROFILE=thorough`` runs more.
"""

import csv
import itertools
import json
import os
from pathlib import Path
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import parsing
from assistant.messages import FEEDBACK_ACTIONS, ProtocolError, decode_client_json
from assistant.nlu.frame import INTENTS, LIST_SLOTS, NUMBER_SLOTS, STRING_SLOTS
from catalog.importers import read_catalog
from catalog.models import Product
from catalog.services import import_rows
from core import untrusted
from tests.test_chat_consumer import connect

settings.register_profile(
    "aisle",
    max_examples=25,
    deadline=None,  # database and model calls vary in time; the suite's timeout bounds them
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("thorough", settings.get_profile("aisle"), max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "aisle"))

REFUSAL_CODES = {
    "invalid_json",
    "too_deep",
    "number_too_large",
    "invalid_characters",
    "message_too_long",
}
WORDS = ["grey", "sofa", "under", "500", "not", "black", "oak", "table", "cheaper", "compare", "the",
         "first", "and", "last", "samsung", "between", "200", "1.5k", "lamp", "for", "living", "room",
         "queen", "size", "best", "rated", "how", "wide", "is", "it", "more", "hello", "thanks"]  # fmt: skip

# Text that a database may refuse or an encoder may choke on, beside ordinary text.
unstorable = st.sampled_from(["\x00", "\ud800", "\udfff", "\udc80"])
odd = st.sampled_from(["\u2028", "\ufeff", "💡", "'", '"', "\\", "\n", "\x7f"])
hostile_text = st.one_of(
    st.text(max_size=40),
    st.builds("{}{}{}".format, st.text(max_size=12), unstorable | odd, st.sampled_from(WORDS)),
    st.lists(st.sampled_from(WORDS) | unstorable | odd, min_size=1, max_size=8).map(" ".join),
)
utterances = st.one_of(
    st.text(max_size=200), st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=10**40, max_value=10**60),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | hostile_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=20,
)
# JSON text: encoded documents, deep nesting, huge literals, and fragments that are not JSON at all.
json_texts = st.one_of(
    json_values.map(json.dumps),
    st.integers(min_value=17, max_value=3000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(min_value=41, max_value=6000).map(lambda digits: '{"n": 1' + "0" * digits + "}"),
    st.sampled_from(["NaN", "[Infinity]", '{"a": 1e999}', "{", "", '"\\ud800"', '"\\u0000"']),
    st.sampled_from(['{"n": ' + "9" * 5000 + "}", "[" * 3000 + "]" * 3000]),
    st.text(max_size=60),
)


def protocol_frames(skus: list[str]) -> st.SearchStrategy[str]:
    """Client frames (CONTRACTS §4): well-formed ones with hostile values, and anything else."""
    return (
        st.one_of(
            st.builds(lambda text: {"type": "message", "text": text}, st.one_of(hostile_text, utterances)),
            st.builds(
                lambda sku, action: {"type": "feedback", "sku": sku, "action": action},
                st.one_of(hostile_text, st.sampled_from(skus)),
                st.one_of(st.sampled_from(FEEDBACK_ACTIONS), hostile_text),
            ),
            st.just({"type": "reset"}),
            st.dictionaries(st.sampled_from(["type", "text", "sku", "action"]), json_values, max_size=4),
            json_values,
        ).map(json.dumps)
        | json_texts
    )


def assert_json_error(response) -> None:
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"type", "code", "message"}
    assert body["type"] == "error"
    assert body["code"]
    assert body["message"]


# The decoder (assistant.messages, core.untrusted) ------------------------------------------------


@given(st.one_of(json_texts, st.binary(max_size=200)))
def test_the_decoder_refuses_with_a_protocol_error_and_nothing_else(raw):
    try:
        document = decode_client_json(raw)
    except ProtocolError as problem:
        refusal = problem
    else:
        untrusted.check_document(document)  # what it returns is bounded and storable
        json.dumps(document).encode()
        return
    assert refusal.code in REFUSAL_CODES
    assert refusal.message


@given(json_values)
def test_the_decoder_returns_every_bounded_storable_document_unchanged(document):
    try:
        untrusted.check_document(document)
    except untrusted.UntrustedInputError:
        return
    encoded = json.dumps(document)
    if len(encoded.encode()) <= 16_384 and not any(len(str(n)) > 40 for n in _numbers(document)):
        assert decode_client_json(encoded) == document


def _numbers(document):
    if isinstance(document, dict):
        return itertools.chain.from_iterable(_numbers(value) for value in document.values())
    if isinstance(document, list):
        return itertools.chain.from_iterable(map(_numbers, document))
    return [document] if isinstance(document, int | float) and not isinstance(document, bool) else []


# The parser (CONTRACTS §3) -------------------------------------------------------------------------


@pytest.mark.django_db
@given(text=st.one_of(utterances, hostile_text))
def test_the_parser_never_raises_and_its_frame_fits_the_contract(small_catalog, text):
    frame = parsing.parse(text).as_dict()
    assert set(frame) == {"intent", "confidence", "slots"}
    assert frame["intent"] in INTENTS
    assert isinstance(frame["confidence"], float)
    assert 0.0 <= frame["confidence"] <= 1.0
    for slot, value in frame["slots"].items():
        if slot in LIST_SLOTS:
            assert isinstance(value, list)
            assert value
            assert all(isinstance(item, str) and item == item.strip().lower() and item for item in value)
        elif slot in STRING_SLOTS:
            assert isinstance(value, str)
            assert value
            assert value == value.strip().lower()
        elif slot in NUMBER_SLOTS:
            assert isinstance(value, int | float)
            assert not isinstance(value, bool)
        else:
            assert slot == "reference", slot
            assert value
            assert all(isinstance(item, int) and (item >= 1 or item == -1) for item in value)


# The HTTP API (CONTRACTS §5) -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db
@given(
    body=st.one_of(
        st.fixed_dictionaries(
            {"text": st.one_of(hostile_text, utterances, json_values)},
            optional={"session": st.one_of(st.just("abcdefgh12"), hostile_text), "extra": json_values},
        ).map(json.dumps),
        json_texts,
        st.binary(max_size=100),
    )
)
def test_chat_api_answers_json_and_never_a_500(indexed_catalog, body):
    response = Client().post("/api/chat/", data=body, content_type="application/json")
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        assert_json_error(response)
    else:
        assert response.json()["type"] == "reply"


@pytest.mark.django_db
@given(
    sku=st.one_of(hostile_text, st.sampled_from(["x"])),
    action=st.one_of(st.sampled_from(FEEDBACK_ACTIONS), hostile_text),
    session=st.one_of(hostile_text, json_values),
    extra=json_texts,
)
def test_feedback_api_answers_json_and_never_a_500(small_catalog, sku, action, session, extra):
    bodies = [{"session": "abcdefgh12", "sku": sku, "action": action}, {"session": session, "sku": sku}]
    for body in (*map(json.dumps, bodies), extra):
        response = Client().post("/api/feedback/", data=body, content_type="application/json")
        assert response.status_code in (201, 400, 404), response.content[:300]
        assert response["Content-Type"] == "application/json"
        if response.status_code != 201:
            assert_json_error(response)


@pytest.mark.slow
@pytest.mark.django_db
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "q",
                "k",
                "ranker",
                "category",
                "brand",
                "color",
                "material",
                "price_min",
                "price_max",
                "in_stock",
            ]
        )
        | hostile_text,
        st.lists(st.one_of(hostile_text, st.sampled_from(WORDS), numbers.map(str)), min_size=1, max_size=3),
        max_size=5,
    )
)
def test_search_api_answers_json_and_never_a_500(indexed_catalog, params):
    # Percent-encoded as a hostile client would send them: lone surrogates as their UTF-8 bytes.
    query = urlencode(params, doseq=True, errors="surrogatepass")
    response = Client().get(f"/api/search/?{query}")
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        assert_json_error(response)
    else:
        assert set(response.json()) == {"results", "intent", "slots"}


# The chat WebSocket (CONTRACTS §4) -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@given(data=st.data())
def test_every_frame_gets_one_answer_and_the_socket_stays_open(indexed_catalog, settings, data):
    settings.AISLE_RATE_LIMIT_PER_SESSION = ""  # the frames go back to back; the rate limit has its own test
    frames = data.draw(st.lists(protocol_frames(indexed_catalog), min_size=1, max_size=6))
    async_to_sync(_converse)(frames)


async def _converse(frames: list[str]) -> None:
    communicator = await connect()
    try:
        for frame in frames:
            await communicator.send_input({"type": "websocket.receive", "text": frame})  # "" too
            answer = await communicator.receive_json_from(timeout=30)
            assert answer["type"] in ("reply", "ack", "error"), answer
            if answer["type"] == "error":
                # A refusal names what was wrong; "server_error" would mean the input broke the server.
                assert answer["code"] != "server_error", frame[:200]
                assert answer["message"]
        await communicator.send_json_to({"type": "reset"})
        assert (await communicator.receive_json_from(timeout=30))["type"] == "reply"
    finally:
        await communicator.disconnect()


# The catalog importers (CONTRACTS §2) --------------------------------------------------------------

_fresh = itertools.count()
fields = ["sku", "title", "price", "description", "brand", "categories", "currency", "attributes",
          "image_url", "url", "rating", "rating_count", "stock"]  # fmt: skip
row_values = st.one_of(json_values, st.sampled_from(["12.50", "-1", "1e400", "USD", "", "Sofas > Corner"]))
rows = st.lists(
    st.fixed_dictionaries(
        {"title": st.one_of(st.sampled_from(["Oak table", "Grey sofa"]), hostile_text), "price": row_values},
        optional={field: row_values for field in fields if field not in ("sku", "title", "price")},
    ),
    min_size=1,
    max_size=6,
)


def _check_import(path: Path, fmt: str, skus: list[str]) -> None:
    """The import never raises, counts each row once, and stores a row whole or not at all."""
    summary = import_rows(read_catalog(path, fmt))
    assert summary.created + summary.updated + summary.unchanged + len(summary.rejected) == len(skus)
    rejected = {entry["row"]: entry["reason"] for entry in summary.rejected}
    assert all(isinstance(reason, str) and reason for reason in rejected.values())
    for number, sku in enumerate(skus, start=1):
        assert Product.objects.filter(sku=sku).exists() == (number not in rejected), (number, rejected)
    for product in Product.objects.filter(sku__in=skus):
        assert untrusted.storable(product.title + product.description)


@pytest.mark.django_db
@given(rows=rows, garbage=st.lists(json_texts, min_size=1, max_size=3))
def test_jsonl_import_rejects_bad_rows_and_never_half_writes(tmp_path, rows, garbage):
    skus = [f"P{next(_fresh)}" for _ in rows]
    lines = [json.dumps({**row, "sku": sku}) for row, sku in zip(rows, skus, strict=True)]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _check_import(path, "jsonl", skus)

    # Lines that are not products at all (not objects, too deep, huge numbers) are rejected rows.
    path.write_text("\n".join(" ".join(line.splitlines()) for line in garbage) + "\n", encoding="utf-8")
    count = Product.objects.count()
    summary = import_rows(read_catalog(path, "jsonl"))
    with path.open(encoding="utf-8") as handle:
        assert len(summary.rejected) == sum(1 for line in handle if line.strip())
    assert Product.objects.count() == count


@pytest.mark.django_db
@given(rows=rows)
def test_csv_import_rejects_bad_rows_and_never_half_writes(tmp_path, rows):
    skus = [f"C{next(_fresh)}" for _ in rows]
    path = tmp_path / "rows.csv"
    with path.open("w", encoding="utf-8", newline="", errors="surrogateescape") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row, sku in zip(rows, skus, strict=True):
            writer.writerow({key: _cell(value) for key, value in {**row, "sku": sku}.items()})
    _check_import(path, "csv", skus)


def _cell(value) -> str:
    """A CSV cell as a spreadsheet would write it: text as is, anything else as JSON; no surrogates,
    which a UTF-8 file cannot hold."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.encode("utf-8", errors="replace").decode()
