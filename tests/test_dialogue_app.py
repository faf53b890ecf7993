"""A multi-turn conversation over the real WebSocket stack: the dialogue manager keeps context
across turns and every product it shows comes from the live catalog under the active constraints."""

import statistics

import pytest

from assistant.models import Conversation, FeedbackEvent
from catalog.models import Product

from .test_chat_consumer import connect


async def ask(communicator, text: str) -> dict:
    await communicator.send_json_to({"type": "message", "text": text})
    reply = await communicator.receive_json_from(timeout=30)
    assert reply["type"] == "reply", reply
    return reply


async def prices(cards: list[dict]) -> list[float]:
    return [
        float(product.price) async for product in Product.objects.filter(sku__in=[c["sku"] for c in cards])
    ]


@pytest.mark.django_db(transaction=True)
async def test_search_refine_compare_question_cart_and_like_keep_context(indexed_catalog):
    communicator = await connect()

    search = await ask(communicator, "grey sofa")
    assert search["intent"] == "search"
    shown = search["products"]
    assert len(shown) >= 3
    async for product in Product.objects.filter(sku__in=[c["sku"] for c in shown]).prefetch_related(
        "attribute_values__attribute"
    ):
        assert "grey" in product.attribute_dict()["color"]
    assert search["state"]["color"] == ["grey"]

    cheaper = await ask(communicator, "cheaper")
    median = statistics.median(await prices(shown))
    assert cheaper["products"], cheaper["text"]
    assert all(price < median for price in await prices(cheaper["products"]))
    assert cheaper["state"]["price_max"] < median
    assert cheaper["state"]["color"] == ["grey"]  # kept from the first turn
    assert f"under {median:,.0f}" in cheaper["text"]
    listed = [card["sku"] for card in cheaper["products"]]

    if len(listed) >= 2:
        compare = await ask(communicator, "compare the first two")
        assert compare["compare"]["skus"] == listed[:2]
        assert {row["field"] for row in compare["compare"]["rows"]} >= {"price", "brand", "color"}

    question = await ask(communicator, "how much is the first one")
    first = await Product.objects.aget(sku=listed[0])
    assert question["intent"] == "product_question"
    assert f"{float(first.price):,.2f}" in question["text"]

    cart = await ask(communicator, "add it to my cart")  # "it" is the product just asked about
    assert cart["intent"] == "add_to_cart"
    assert cart["state"]["cart"] == [listed[0]]

    liked = await ask(communicator, "i like the first one")
    assert liked["intent"] == "feedback_positive"
    await communicator.disconnect()

    events = [
        (e.product.sku, e.action)
        async for e in FeedbackEvent.objects.select_related("product").order_by("pk")
    ]
    assert events == [(listed[0], "add_to_cart"), (listed[0], "like")]
    conversation = await Conversation.objects.aget()
    assert conversation.state["cart"] == [listed[0]]
    assert conversation.state["shown"] == listed


@pytest.mark.django_db(transaction=True)
async def test_more_pages_on_and_reset_forgets(indexed_catalog):
    communicator = await connect()
    first = await ask(communicator, "sofa")
    more = await ask(communicator, "more")
    assert more["intent"] == "more"
    assert not {c["sku"] for c in first["products"]} & {c["sku"] for c in more["products"]}
    reset = await ask(communicator, "start over")
    assert reset["intent"] == "reset"
    assert reset["state"] == {"query": "", "cart": []}
    again = await ask(communicator, "cheaper")  # nothing to refine: a fresh search, no stale bound
    assert "price_max" not in again["state"]
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_impossible_request_relaxes_a_constraint_and_says_which(indexed_catalog):
    communicator = await connect()
    reply = await ask(communicator, "grey sofa under 1")
    await communicator.disconnect()
    assert reply["products"]
    assert reply["text"].startswith("Nothing matches")
    assert "from " in reply["text"]


@pytest.mark.django_db(transaction=True)
async def test_the_cards_add_to_cart_button_fills_the_same_cart(indexed_catalog):
    communicator = await connect()
    shown = (await ask(communicator, "sofa"))["products"]
    await communicator.send_json_to({"type": "feedback", "sku": shown[0]["sku"], "action": "add_to_cart"})
    assert (await communicator.receive_json_from())["type"] == "ack"
    more = await ask(communicator, "add the second one to my cart")
    await communicator.disconnect()
    assert more["state"]["cart"] == [shown[0]["sku"], shown[1]["sku"]]
