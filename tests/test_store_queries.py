"""Search-box queries read as searches: the keyword parser, the generated training data and the
store-queries benchmark's query set and reply classes.

A shopper's "hi", "thanks" or "help me find" around a product request does not make it small
talk, and a made-up product line name ("kallax") or a bare type is what a shop's search box
mostly gets: the parser must learn both from the generated examples.
"""

from collections import Counter

import pytest

from assistant.nlu.baseline import KeywordParser
from assistant.nlu.generate import generate_examples
from assistant.nlu.vocabulary import ParserVocabulary
from benchmarks.store_queries import HAND_WRITTEN, IKEA, QUERIES, build_queries, classify

VOCAB = ParserVocabulary(
    categories=(
        "bar stool",
        "bed frame",
        "bookcase",
        "bunk bed",
        "corner sofa",
        "desk",
        "dining table",
        "frame",
        "handle",
        "mattress",
        "sofa",
        "stool",
        "wardrobe",
    ),
    brands=("ikea",),
)
KEYWORDS = KeywordParser(VOCAB)


@pytest.mark.parametrize(
    "text",
    [
        "hi do you have bunk beds",
        "hello, bookcases",
        "hey any corner sofas?",
        "thanks, any corner sofas?",
        "good evening, white desk",
        "bye the way do you have bed frames",
        "help me find a desk",
        "i want to buy a dining table",
        "hey do you have kallax",
        "thanks do you have anything for a small flat",
    ],
)
def test_a_product_request_around_small_talk_words_is_a_search(text):
    assert KEYWORDS.parse(text).intent == "search"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("hi", "greet"),
        ("good morning", "greet"),
        ("hey, how are you", "greet"),
        ("thanks, bye", "goodbye"),
        ("help", "help"),
        ("hi, i love it", "feedback_positive"),
        ("add the second one to my cart", "add_to_cart"),
        ("i'll take the grey sofa, the first one", "add_to_cart"),
    ],
)
def test_small_talk_and_list_actions_keep_their_intent(text, intent):
    assert KEYWORDS.parse(text).intent == intent


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("wardobe", "wardrobe"),
        ("matress", "mattress"),
        ("bar stoool", "bar stool"),
        ("hi, any bookcsae", "bookcase"),
    ],
)
def test_a_product_type_with_a_typo_is_searched_as_that_type(text, category):
    frame = KEYWORDS.parse(text)
    assert (frame.intent, frame.slots.get("category")) == ("search", category)


@pytest.mark.parametrize("text", ["candles", "describe number 1 for me", "the handsome one"])
def test_words_two_edits_from_a_type_are_not_read_as_that_type(text):
    assert "category" not in KEYWORDS.parse(text).slots


@pytest.fixture(scope="module")
def examples():
    return generate_examples(VOCAB, 4000, seed=0)


def test_greetings_and_thanks_come_with_requests_of_every_kind(examples):
    courteous = Counter(
        example.intent
        for example in examples
        if example.words[0] in ("hi", "hello", "hey", "thanks", "thank", "cheers", "morning", "good")
    )
    assert courteous["search"] >= 40
    assert courteous["refine"] >= 20
    assert courteous["compare"] + courteous["add_to_cart"] + courteous["product_question"] >= 15


def test_short_search_box_queries_are_generated_as_searches(examples):
    searches = [example for example in examples if example.intent == "search"]
    short = [example for example in searches if len(example.words) <= 2]
    assert len(short) >= 0.15 * len(searches)
    only_type = [example for example in short if set(example.tags) <= {"B-category", "I-category"}]
    untagged = [example for example in short if set(example.tags) == {"O"}]
    named = [
        example
        for example in searches
        if len(example.words) <= 4
        and example.tags[0] == "O"
        and set(example.tags[1:]) <= {"B-category", "I-category"}
        and len(example.tags) > 1
    ]
    assert len(only_type) >= 40, "a bare product type"
    assert len(untagged) >= 40, "a product line's name alone"
    assert len(named) >= 40, "a name and a type"
    assert all(example.intent == "search" for example in untagged + named)


def test_product_line_names_are_words_no_vocabulary_knows(examples):
    names = {
        example.words[0] for example in examples if example.intent == "search" and example.tags == ("O",)
    }
    assert len(names) >= 40
    assert not names & set(VOCAB.categories)


@pytest.mark.parametrize(
    ("status", "reply", "kind"),
    [
        (500, None, "error"),
        (200, {"type": "reply", "text": "hi"}, "error"),
        (200, {"type": "error", "code": "x", "message": "y"}, "error"),
    ],
)
def test_broken_replies_are_errors(status, reply, kind):
    assert classify(status, reply) == kind


def _reply(text: str, intent: str = "search", products: list | None = None) -> dict:
    return {
        "type": "reply",
        "text": text,
        "intent": intent,
        "slots": {},
        "state": {},
        "products": products or [],
        "compare": None,
        "suggestions": [],
    }


PRODUCT = {
    "sku": "1",
    "title": "MALM bed frame",
    "price": 595.0,
    "currency": "SAR",
    "categories": ["Beds"],
    "explanation": "",
}


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (_reply("Here are 10 options.", products=[PRODUCT]), "products"),
        (_reply("I am not sure what you mean. Did you want one of these?"), "question"),
        (_reply("What kind of product are you looking for?"), "question"),
        (_reply("What kind of product are you looking for?", "out_of_scope"), "question"),
        (_reply("Starting afresh. What are you looking for?", "reset"), "small_talk"),
        (
            _reply("Which product do you mean? Say for example “the first one”.", "product_question"),
            "question",
        ),
        (_reply("Hello! Tell me what you are looking for.", "greet"), "small_talk"),
        (_reply("I can only help with products in this shop.", "out_of_scope"), "small_talk"),
        (_reply("We don't sell frying pans; the closest are kitchen trolleys."), "not_carried"),
        (_reply("I could not find anything for lamp. Try other words?"), "not_carried"),
        (_reply("Added it."), "other"),
        (_reply("Here are 10 options.", products=[{**PRODUCT, "price": "595"}]), "error"),
    ],
)
def test_replies_are_sorted_by_what_the_shopper_got(reply, kind):
    assert classify(200, reply) == kind


@pytest.mark.skipif(not IKEA.is_file(), reason="the public IKEA catalog is not in ../shared/data")
def test_the_query_set_is_the_one_the_seeded_generator_writes():
    queries = build_queries(IKEA)
    assert QUERIES.read_text(encoding="utf-8").splitlines() == queries
    assert 450 <= len(queries) <= 520
    assert len(set(queries)) == len(queries)
    assert set(HAND_WRITTEN) <= set(queries)
    assert len(HAND_WRITTEN) < len(queries) / 2
