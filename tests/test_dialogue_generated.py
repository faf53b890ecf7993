"""The generated-dialogue benchmark (``benchmarks/dialogue_generated.py``): its conversations come
from catalog rows and a seed, and its checks follow the catalog's fields, not the assistant's view.

The fast tests use a tiny in-memory catalog; the slow one generates from the public catalogs.
"""

import statistics
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from benchmarks.dialogue_generated import (
    KINDS,
    Conversation,
    Item,
    PlannedTurn,
    Tracking,
    TurnResult,
    Wanted,
    apply,
    check_turn,
    generate,
    head_noun,
    item_from_record,
    names_phrase,
    of_type,
    read_items,
    run_conversation,
    shopper_phrase,
    singular,
    strict_matches,
    summary,
    tokens,
    type_choices,
)
from catalog.importers import ProductRecord

from .conftest import shared_data

PAGE = 3


def _record(sku: str, title: str, price: str, currency: str, brand: str, **attributes: Any) -> ProductRecord:
    return ProductRecord(
        sku=sku, title=title, price=Decimal(price), currency=currency, brand=brand, attributes=attributes
    )


def tiny_catalog() -> list[Item]:
    """Two sayable types of 12 products each (one per catalog) and decoys of other types."""
    colours = (["grey"], ["blue"], ["beige", "white"], [])
    records = [
        ("ikea", _record(f"1{n:02d}", f"SOFA{n} 3-seat sofa", f"{900 + 100 * n}", "SAR", "IKEA",
                         type="3-seat sofa", color=colours[n % 4], width=200 + n))
        for n in range(12)
    ] + [
        ("ikea", _record(f"2{n:02d}", f"COVER{n} cover for 3-seat sofa", "250", "SAR", "IKEA",
                         type="cover for 3-seat sofa", color=["grey"]))
        for n in range(3)
    ] + [
        ("bestbuy", _record(f"3{n:02d}", f"{brand} - {'Wallet ' * (n % 3 == 0)}Case for Phone - {colour}",
                            f"{10 + 5 * n}.99", "USD", brand, type="cell phone cases & clips",
                            color=[colour.lower()]))
        for n, (brand, colour) in enumerate(
            [("OtterBox", "Black"), ("Speck", "Pink"), ("Incipio", "Black"), ("Speck", "Blue")] * 3
        )
    ] + [
        ("bestbuy", _record("400", "Gadget - Screen Protector", "9.99", "USD", "Gadget",
                            type="screen protectors"))
    ]  # fmt: skip
    return [item_from_record(catalog, record) for catalog, record in records]


def test_type_phrases_are_said_the_way_shoppers_say_them():
    assert shopper_phrase("cell phone cases & clips") == "cell phone case"
    assert shopper_phrase("unlocked cell phones") == "unlocked cell phone"
    assert shopper_phrase("door/drawer front") is None
    assert shopper_phrase("2 sections") is None
    assert shopper_phrase("cell phone accessories") is None
    assert head_noun("cover for corner sofa") == "cover"
    assert head_noun("chest of 6 drawers") == "chest"
    assert head_noun("bed frame") == "bed frame"
    assert head_noun("cover 3-seat sofa") == "cover"
    assert head_noun("pair of legs") == "leg"
    assert head_noun("side table on castors") == "table"
    assert head_noun("modular corner sofa 3-seat") == "sofa"
    assert head_noun("wardrobe combination") == "wardrobe"
    assert names_phrase("cell phone cases & clips", "cell phone case")
    items = {item.type: item for item in tiny_catalog()}
    assert of_type(items["3-seat sofa"], "sofa")
    assert not of_type(items["cover for 3-seat sofa"], "sofa")
    for word in ("lenses", "lens", "shelves", "cases", "batteries", "benches", "glass", "series"):
        assert singular(singular(word)) == singular(word)


def test_generation_is_deterministic_for_a_seed():
    items = tiny_catalog()
    first = generate(items, 40, seed=3)
    assert first == generate(items, 40, seed=3)
    assert first != generate(items, 40, seed=4)
    assert {conversation.catalog for conversation in first} == {"ikea", "bestbuy"}
    assert all(3 <= len(conversation.turns) <= 7 for conversation in first)
    assert all(conversation.turns[0].kind == "search" for conversation in first)


def test_every_expectation_is_drawn_from_catalog_rows():
    items = tiny_catalog()
    by_sku = {item.sku: item for item in items}
    choices = {choice.phrase: choice for choice in type_choices(items)}
    assert sorted(choices) == ["3-seat sofa", "cell phone case"]  # 10+ products, sayable
    for conversation in generate(items, 60, seed=5):
        products = choices[conversation.phrase].products
        search = conversation.turns[0]
        source = by_sku[search.params["from_sku"]]
        assert source in products
        if search.params["color"]:
            assert search.params["color"] in source.colors
            assert search.params["color"] in search.text
        if search.params["price_max"] is not None:
            assert source.price < search.params["price_max"]
            assert str(search.params["price_max"]) in search.text
        for turn in conversation.turns[1:]:
            value = turn.params
            if turn.kind in ("other_color", "not_color"):
                assert any(value["color"] in item.colors for item in products)
            elif turn.kind == "brand":
                assert any(item.brand.lower() == value["brand"] for item in products)
                assert conversation.catalog == "bestbuy"
            elif turn.kind == "feature":
                assert 3 <= sum(value["feature"] in item.title.lower() for item in products) < len(products)
            elif turn.kind == "dimension":
                assert conversation.catalog == "ikea"


def _check(turn: PlannedTurn, reply: Mapping[str, Any], tracking: Tracking, items: list[Item]) -> TurnResult:
    result = TurnResult("c", "ikea", 1, turn.kind, turn.text)
    check_turn(
        turn, {"products": [], "state": {"cart": []}, **reply}, tracking, {i.sku: i for i in items}, result
    )
    return result


def _card(item: Item) -> dict[str, Any]:
    return {"sku": item.sku, "title": item.title, "price": item.price, "currency": item.currency}


def test_answers_are_checked_against_the_catalogs_fields():
    items = tiny_catalog()
    sofas = [item for item in items if item.type == "3-seat sofa"]  # 100 grey, 101 blue, 102 beige/white
    wanted = Wanted("3-seat sofa", "sofa")
    question = PlannedTurn("yes_no", "is the first one grey?", {"position": 1, "color": "grey"})
    assert (
        _check(question, {"text": "Yes, it is grey."}, Tracking(wanted, shown=["100"]), items).status
        == "pass"
    )
    assert (
        _check(question, {"text": "No, it is blue."}, Tracking(wanted, shown=["100"]), items).status == "fail"
    )
    assert (
        _check(question, {"text": "No, it is blue."}, Tracking(wanted, shown=["101"]), items).status == "pass"
    )
    unknown = _check(
        question, {"text": "The catalog does not say its colour."}, Tracking(wanted, shown=["103"]), items
    )
    assert unknown.status == "pass"

    width = PlannedTurn("dimension", "how wide is the first one?", {"position": 1})
    assert (
        _check(width, {"text": "It is 201 cm wide."}, Tracking(wanted, shown=["101"]), items).status == "pass"
    )
    assert (
        _check(width, {"text": "It is 200 cm wide."}, Tracking(wanted, shown=["101"]), items).status == "fail"
    )

    # A bare reference names the product and never adds it; an add does.
    reference = PlannedTurn("reference", "the second one", {"position": 2})
    named = {"text": f"{sofas[1].title}: 1,000 SAR."}
    assert _check(reference, named, Tracking(wanted, shown=["100", "101"]), items).status == "pass"
    added = {**named, "state": {"cart": [{"sku": "101", "quantity": 1}]}}
    assert _check(reference, added, Tracking(wanted, shown=["100", "101"]), items).status == "fail"
    add = PlannedTurn("add", "add the second one to my cart", {"position": 2})
    tracking = Tracking(wanted, shown=["100", "101"])
    assert _check(add, added, tracking, items).status == "pass"
    assert tracking.cart == {"101": 1}
    assert tracking.focus == "101"
    again = {
        "text": "It is in your cart already; add another?",
        "state": {"cart": [{"sku": "101", "quantity": 1}]},
    }
    assert _check(add, again, Tracking(wanted, shown=["100", "101"], cart={"101": 1}), items).ok
    assert not _check(add, again, Tracking(wanted, shown=["100", "101"], cart={"100": 1}), items).ok
    remove = PlannedTurn("cart_remove", "remove it from my cart", {})
    assert _check(remove, {"text": "Removed."}, tracking, items).status == "pass"
    assert _check(reference, {"text": "x"}, Tracking(wanted), items).status == "skip"  # nothing shown


def test_lists_must_keep_the_type_and_constraints_or_say_what_they_dropped():
    items = tiny_catalog()
    by_sku = {item.sku: item for item in items}
    search = PlannedTurn("search", "grey 3-seat sofa under 1500", {"color": "grey", "price_max": 1500})
    grey = [_card(by_sku["100"]), _card(by_sku["104"])]
    assert _check(
        search, {"text": "2 that fit.", "products": grey}, Tracking(Wanted("3-seat sofa", "sofa")), items
    ).ok
    cover = [*grey, _card(by_sku["200"])]  # a sofa cover is not a sofa
    result = _check(
        search, {"text": "3 fit.", "products": cover}, Tracking(Wanted("3-seat sofa", "sofa")), items
    )
    assert result.status == "fail"
    assert "is not a sofa" in result.problems[0]
    blue = [_card(by_sku["101"])]
    silent = _check(
        search, {"text": "Here.", "products": blue}, Tracking(Wanted("3-seat sofa", "sofa")), items
    )
    assert silent.status == "fail"
    honest = {
        "text": "No grey 3-seat sofa under 1,500; here are the closest, without “grey”.",
        "products": blue,
    }
    relaxed = _check(search, honest, Tracking(Wanted("3-seat sofa", "sofa")), items)
    assert relaxed.ok
    assert relaxed.relaxed
    assert relaxed.needless
    empty = _check(search, {"text": "I could not find any."}, Tracking(Wanted("3-seat sofa", "sofa")), items)
    assert empty.status == "fail"
    assert "the catalog has 2" in empty.problems[0]

    cheaper = PlannedTurn("cheaper", "cheaper", {})
    tracking = Tracking(Wanted("3-seat sofa", "sofa"), shown=["101", "105", "109"])  # median 1400
    pricier = {"text": "Here.", "products": [_card(by_sku["105"])]}
    assert _check(cheaper, pricier, tracking, items).status == "fail"
    assert tracking.wanted.price_below == 1400


def _ideal_chat(
    conversation: Conversation, items: list[Item], careless: bool = False
) -> Callable[[str, str], dict[str, Any]]:
    """A simulated assistant that does what each planned turn asks (``careless``: a bare reference
    adds to the cart and "cheaper" forgets the type)."""
    catalog = {item.sku: item for item in items}
    turns = iter(conversation.turns)
    state = Tracking(Wanted(conversation.phrase, head_noun(conversation.phrase)))

    def chat(session_key: str, text: str) -> dict[str, Any]:
        turn = next(turns)
        assert turn.text == text
        prices = [catalog[sku].price for sku in state.shown]
        state.wanted = apply(state.wanted, turn, statistics.median(prices) if prices else None)
        reply: dict[str, Any] = {"text": "", "products": [], "compare": None}
        target = state.at(turn.params["position"]) if "position" in turn.params else state.focus
        if turn.kind in ("search", "cheaper", "other_color", "not_color", "brand", "feature", "sort", "more"):
            skip = state.seen if turn.kind == "more" else []
            found = strict_matches(items, state.wanted, skip)
            if careless and turn.kind == "cheaper":
                found = [item for item in items if not of_type(item, state.wanted.head)]
            found = sorted(found, key=lambda item: item.price) if state.wanted.sort else found
            shown = [item.sku for item in found[:PAGE]]
            if shown or turn.kind != "more":
                state.shown = shown
                state.seen = [*state.seen, *shown] if turn.kind == "more" else shown
            reply |= {"text": "Here." if shown else "I could not find any.", "products": [
                {"sku": sku, "title": catalog[sku].title, "price": catalog[sku].price,
                 "currency": catalog[sku].currency} for sku in shown]}  # fmt: skip
        elif turn.kind in ("reference", "yes_no", "dimension", "add") and target:
            state.focus, item = target, catalog[target]
            reply["text"] = item.title
            if turn.kind == "yes_no":
                said = "Yes" if turn.params["color"] in item.colors else "No"
                reply["text"] = f"{said}, it is." if item.colors else "The catalog does not say."
            if turn.kind == "dimension":
                reply["text"] = (
                    f"It is {item.width:g} cm wide." if item.width else "The catalog does not say."
                )
            if turn.kind == "add" or (careless and turn.kind == "reference"):
                state.cart[target] = state.cart.get(target, 0) + 1
        elif turn.kind == "add_it" and target:
            state.cart[target] = state.cart.get(target, 0) + 1
        elif turn.kind == "cart_remove" and target:
            state.cart.pop(target, None)
        elif turn.kind == "cart_view":
            reply["text"] = ", ".join(catalog[sku].title for sku in state.cart) or "Your cart is empty."
        elif turn.kind == "compare":
            reply["compare"] = {"skus": [state.at(position) for position in turn.params["positions"]]}
        elif turn.kind == "checkout":
            reply["text"] = "I can't take orders or payments here."
        reply["state"] = {"cart": [{"sku": sku, "quantity": n} for sku, n in state.cart.items()]}
        return reply

    return chat


def test_an_assistant_that_does_what_is_asked_passes_and_a_careless_one_fails():
    items = tiny_catalog()
    catalog = {item.sku: item for item in items}
    conversations = generate(items, 80, seed=11)
    results = [
        result
        for conversation in conversations
        for result in run_conversation(conversation, _ideal_chat(conversation, items), catalog, "s")
    ]
    failures = [(r.conversation, r.number, r.said, r.problems) for r in results if r.status == "fail"]
    assert not failures
    report = summary(results)
    assert report["pass_rate"] == 1.0
    assert report["checked"] > 200

    careless = summary(
        [
            result
            for conversation in conversations
            for result in run_conversation(conversation, _ideal_chat(conversation, items, True), catalog, "s")
        ]
    )
    assert careless["by_kind"]["reference"]["pass_rate"] < 0.5
    assert careless["by_kind"]["cheaper"]["pass_rate"] == 0.0


@pytest.mark.slow
def test_300_conversations_of_every_kind_come_from_both_public_catalogs():
    data = shared_data("ikea/ikea.csv").parent.parent
    shared_data("bestbuy/products.json")
    items = read_items(Path(data))
    by_sku = {item.sku: item for item in items}
    conversations = generate(items, 300)
    assert conversations == generate(items, 300)
    assert {conversation.catalog for conversation in conversations} == {"ikea", "bestbuy"}
    assert {turn.kind for conversation in conversations for turn in conversation.turns} == set(KINDS)
    for conversation in conversations:
        source = by_sku[conversation.turns[0].params["from_sku"]]
        assert names_phrase(source.type, conversation.phrase)
        assert len({item.type for item in items if names_phrase(item.type, conversation.phrase)}) >= 1
    for kind in {item.type for item in items}:
        assert all(singular(word) == word for word in tokens(kind))  # singular twice changes nothing
