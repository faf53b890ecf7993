"""The dialogue manager without Django, over a small in-memory shop: every intent, references,
refinement, relaxation and clarifying questions."""

import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest

from assistant.dialogue.manager import DialogueManager, ProductView, describe, merged
from assistant.dialogue.state import DialogueState
from assistant.nlu.frame import Frame

from .conftest import ROOT

PRODUCTS = [
    ProductView("S1", "Halden sofa", 899, "EUR", "Nordal", 4.5, 3, "Deep grey sofa.",
                {"category": "sofa", "color": ["grey"], "material": ["fabric"], "width": "220 cm"}),
    ProductView("S2", "Borgo sofa", 1899, "EUR", "Casa", 4.0, 0, "Leather sofa.",
                {"category": "sofa", "color": ["brown"], "material": ["leather"]}),
    ProductView("S3", "Luna sofa", 649, "EUR", "Nordal", None, 5, "",
                {"category": "sofa", "color": ["grey"], "material": ["linen"]}),
    ProductView("S4", "Oslo sofa", 1299, "EUR", "IKEA", 3.5, 2, "Velvet corner sofa.",
                {"category": "sofa", "color": ["blue"], "material": ["velvet"]}),
    ProductView("B1", "Billy bookcase", 79, "EUR", "IKEA", 4.8, 40, "Tall bookcase.",
                {"category": "bookcase", "color": ["white"], "material": ["wood"]}),
]  # fmt: skip


class Shop:
    """A real, tiny catalog: exact filters over PRODUCTS, cheapest first; feedback is kept."""

    def __init__(self) -> None:
        self.by_sku = {product.sku: product for product in PRODUCTS}
        self.events: list[tuple[str, str]] = []

    def search(
        self, query: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]
    ) -> list[ProductView]:
        return [
            p
            for p in sorted(PRODUCTS, key=lambda p: p.price)
            if self._fits(p, constraints) and p.sku not in skip
        ][:k]

    def similar(
        self, sku: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]
    ) -> list[ProductView]:
        category = self.by_sku[sku].attributes["category"]
        return [p for p in self.search("", {**constraints, "category": category}, k, skip)]

    def products(self, skus: Sequence[str]) -> list[ProductView]:
        return [self.by_sku[sku] for sku in skus if sku in self.by_sku]

    def feedback(self, sku: str, action: str) -> None:
        self.events.append((sku, action))

    @staticmethod
    def _fits(product: ProductView, constraints: Mapping[str, Any]) -> bool:
        attributes = product.attributes
        if constraints.get("category") and attributes["category"] != constraints["category"]:
            return False
        if constraints.get("price_max") is not None and product.price > constraints["price_max"]:
            return False
        if constraints.get("price_min") is not None and product.price < constraints["price_min"]:
            return False
        for slot in ("color", "material"):
            if constraints.get(slot) and not set(constraints[slot]) & set(attributes[slot]):
                return False
            if set(constraints.get(f"exclude_{slot}", [])) & set(attributes[slot]):
                return False
        return True


@pytest.fixture
def shop() -> Shop:
    return Shop()


def say(
    manager: DialogueManager,
    state: DialogueState,
    intent: str,
    text: str = "",
    confidence: float = 0.99,
    **slots,
):
    return manager.respond(text or intent, Frame(intent, confidence, slots), state)


def skus(turn) -> list[str]:
    return [product.sku for product in turn.products]


def test_search_shows_matches_and_remembers_them(shop):
    turn = say(DialogueManager(shop), DialogueState(), "search", "grey sofa", category="sofa", color=["grey"])
    assert skus(turn) == ["S3", "S1"]
    assert turn.state.shown == ["S3", "S1"]
    assert turn.state.constraints == {"category": "sofa", "color": ["grey"]}
    assert "compare the first two" in turn.suggestions


def test_a_new_search_keeps_nothing_stale_but_the_cart(shop):
    manager = DialogueManager(shop)
    state = DialogueState(query="grey sofa", constraints={"color": ["grey"]}, shown=["S1"], cart=["B1"])
    turn = say(manager, state, "search", "bookcase", category="bookcase")
    assert turn.state.constraints == {"category": "bookcase"}
    assert turn.state.cart == ["B1"]
    assert skus(turn) == ["B1"]


def test_cheaper_moves_the_ceiling_below_the_median_shown_price_and_says_so(shop):
    manager = DialogueManager(shop)
    first = say(manager, DialogueState(), "search", "sofa", category="sofa")
    assert skus(first) == ["S3", "S1", "S4", "S2"]
    cheaper = say(manager, first.state, "refine", "cheaper", price_relative="lower")
    median = (899 + 1299) / 2
    assert cheaper.state.constraints["price_max"] < median
    assert all(product.price < median for product in cheaper.products)
    assert f"under {median:,.0f}" in cheaper.text


def test_cheaper_than_the_focused_product(shop):
    manager = DialogueManager(shop)
    state = DialogueState(
        query="sofa", constraints={"category": "sofa"}, shown=["S3", "S1", "S4"], focus="S4"
    )
    turn = say(manager, state, "refine", "cheaper than that", price_relative="lower")
    assert skus(turn) == ["S3", "S1"]


def test_refine_overrides_and_exclusions_remove(shop):
    constraints, _ = merged({"color": ["grey", "blue"], "category": "sofa"}, {"exclude_color": ["grey"]}, [])
    assert constraints == {"color": ["blue"], "category": "sofa", "exclude_color": ["grey"]}
    constraints, _ = merged({"color": ["grey"]}, {"color": ["brown"], "price_max": 2000}, [])
    assert constraints == {"color": ["brown"], "price_max": 2000}


def test_refine_without_a_search_starts_one(shop):
    turn = say(DialogueManager(shop), DialogueState(), "refine", "in leather", material=["leather"])
    assert skus(turn) == ["S2"]


def test_more_pages_on_and_says_when_there_is_nothing_left(shop):
    manager = DialogueManager(shop, page_size=2)
    first = say(manager, DialogueState(), "search", "sofa", category="sofa")
    second = say(manager, first.state, "more")
    assert skus(second) == ["S4", "S2"]
    assert second.state.shown == ["S4", "S2"]
    third = say(manager, second.state, "more")
    assert third.products == []
    assert "everything" in third.text


def test_nothing_matches_relaxes_one_constraint_and_says_which(shop):
    turn = say(
        DialogueManager(shop), DialogueState(), "search", "grey sofa under 500",
        category="sofa", color=["grey"], price_max=500,
    )  # fmt: skip
    assert skus(turn) == ["S3", "S1"]
    assert "Nothing matches grey sofa under 500" in turn.text
    assert "from 649" in turn.text
    assert describe({"color": ["grey"], "category": "sofa", "price_max": 1000}) == "grey sofa under 1,000"


def test_relaxing_a_cheaper_request_keeps_the_new_bound_and_drops_another_constraint(shop):
    manager = DialogueManager(shop)
    blue = say(manager, DialogueState(), "search", "blue sofa", category="sofa", color=["blue"])
    assert skus(blue) == ["S4"]
    cheaper = say(manager, blue.state, "refine", "cheaper", price_relative="lower")
    assert skus(cheaper) == ["S3", "S1"]  # not S4 again, as dropping the new ceiling would give
    assert cheaper.state.constraints["price_max"] < 1299
    assert "Nothing matches blue sofa under 1,298" in cheaper.text
    assert "without “blue”" in cheaper.text


class TypeBlindShop(Shop):
    """Like the real retrieval: the product type a shopper names is not a hard filter."""

    def search(
        self, query: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]
    ) -> list[ProductView]:
        return super().search(query, {**constraints, "category": None}, k, skip)


def test_products_of_the_named_type_come_first():
    turn = say(DialogueManager(TypeBlindShop()), DialogueState(), "search", "sofa", category="sofa")
    assert skus(turn) == ["S3", "S1", "S4", "S2", "B1"]  # the bookcase is cheapest, but not a sofa


def test_when_only_other_types_match_it_relaxes_until_the_named_type_appears():
    manager = DialogueManager(TypeBlindShop())
    turn = say(
        manager, DialogueState(), "search", "leather bookcase", category="bookcase", material=["leather"]
    )
    assert skus(turn)[0] == "B1"
    assert "Nothing matches leather bookcase; here are the closest, without “leather”" in turn.text
    nothing_relaxable = say(manager, DialogueState(), "search", "lamp", category="lamp")
    assert skus(nothing_relaxable) == ["B1", "S3", "S1", "S4", "S2"]
    assert nothing_relaxable.text.startswith("I found no lamp; these are the closest")


def test_positions_and_pronouns_resolve_to_the_right_sku(shop):
    manager = DialogueManager(shop)
    state = say(manager, DialogueState(), "search", "sofa", category="sofa").state  # S3 S1 S4 S2
    second = say(manager, state, "add_to_cart", "add the second one", reference=[2])
    assert second.state.cart == ["S1"]
    assert shop.events == [("S1", "add_to_cart")]
    again = say(manager, second.state, "add_to_cart", "add it too")
    assert again.state.cart == ["S1", "S1"]
    last = say(
        manager, state, "product_question", "how wide is the last one", reference=[-1], attribute="price"
    )
    assert last.state.focus == "S2"
    assert "1,899.00 EUR" in last.text


def test_compare_builds_a_table_of_the_referenced_products(shop):
    manager = DialogueManager(shop)
    state = say(manager, DialogueState(), "search", "sofa", category="sofa").state
    turn = say(manager, state, "compare", "compare the first and the last", reference=[1, -1])
    assert turn.compare["skus"] == ["S3", "S2"]
    rows = {row["field"]: row["values"] for row in turn.compare["rows"]}
    assert rows["title"] == ["Luna sofa", "Borgo sofa"]
    assert rows["brand"] == ["Nordal", "Casa"]
    assert rows["material"] == ["linen", "leather"]
    assert "Luna sofa is the cheapest" in turn.text
    alone = say(manager, state, "compare", "compare it", reference=[9])
    assert alone.compare is None


def test_product_question_answers_from_the_fields_or_says_the_catalog_does_not(shop):
    manager = DialogueManager(shop)
    state = DialogueState(shown=["S1", "S3"])
    wide = say(
        manager, state, "product_question", "how wide is the first", reference=[1], attribute="dimensions"
    )
    assert "width 220 cm" in wide.text
    rating = say(
        manager, state, "product_question", "is the second one rated", reference=[2], attribute="rating"
    )
    assert "does not say the rating of Luna sofa" in rating.text
    stock = say(manager, wide.state, "product_question", "is it in stock", attribute="availability")
    assert "in stock" in stock.text


def test_feedback_intents_record_events(shop):
    manager = DialogueManager(shop)
    state = DialogueState(shown=["S1", "S2"])
    say(manager, state, "feedback_positive", "love the first one", reference=[1])
    say(manager, state, "feedback_negative", "the second is ugly", reference=[2])
    assert shop.events == [("S1", "like"), ("S2", "dislike")]


def test_feedback_without_a_product_to_point_at_asks_which(shop):
    turn = say(DialogueManager(shop), DialogueState(shown=["S1", "S2"]), "feedback_positive", "love it")
    assert turn.text.startswith("Which product do you mean?")
    assert shop.events == []


def test_more_after_similar_pages_on_through_the_neighbours(shop):
    manager = DialogueManager(shop, page_size=2)
    first = say(manager, DialogueState(), "search", "bookcase", category="bookcase")
    like_it = say(manager, replace(first.state, shown=["S1"]), "similar", "like the first", reference=[1])
    assert skus(like_it) == ["S3", "S4"]
    more = say(manager, like_it.state, "more")
    assert skus(more) == ["S2"]  # the next sofa, not the bookcase search again


def test_pricier_after_cheaper_lifts_the_old_ceiling(shop):
    manager = DialogueManager(shop)
    state = DialogueState(query="sofa", constraints={"category": "sofa", "price_max": 900.0}, shown=["S3"])
    turn = say(manager, replace(state, focus="S1"), "refine", "more expensive", price_relative="higher")
    assert "price_max" not in turn.state.constraints
    assert skus(turn) == ["S4", "S2"]


def test_a_reference_outside_the_list_asks_which_product(shop):
    turn = say(
        DialogueManager(shop), DialogueState(shown=["S1"]), "add_to_cart", "add the fifth", reference=[5]
    )
    assert turn.state.cart == []
    assert "Which one" in turn.text


def test_low_confidence_asks_instead_of_guessing(shop):
    turn = say(
        DialogueManager(shop), DialogueState(), "search", "mmh sofa-ish", confidence=0.2, category="sofa"
    )
    assert turn.products == []
    assert turn.suggestions


def test_an_unsure_search_with_a_budget_acts_on_it(shop):
    turn = say(
        DialogueManager(shop), DialogueState(), "search", "prepaid sofa under 700",
        confidence=0.3, category="sofa", price_max=700,
    )  # fmt: skip
    assert skus(turn) == ["S3"]


def test_a_vague_request_gets_one_clarifying_question(shop):
    manager = DialogueManager(shop)
    turn = say(manager, DialogueState(), "search", "stuff")
    assert turn.products == []
    assert turn.text.endswith("?")
    after_a_list = say(manager, DialogueState(query="sofa", shown=["S1"]), "search", "stuff")
    assert after_a_list.products == []
    assert after_a_list.state.shown == ["S1"]


def test_a_lone_product_type_the_parser_did_not_tag_is_searched():
    turn = say(DialogueManager(TypeBlindShop()), DialogueState(), "search", "Bookcases?")
    assert skus(turn)[0] == "B1"
    assert turn.state.constraints == {"category": "bookcases"}


def test_an_unsure_out_of_scope_is_searched_for(shop):
    turn = say(DialogueManager(shop), DialogueState(), "out_of_scope", "a sofa for my flat", confidence=0.5)
    assert skus(turn) == ["B1", "S3", "S1", "S4", "S2"]
    sure = say(DialogueManager(shop), DialogueState(), "out_of_scope", "what is the weather", confidence=0.95)
    assert sure.products == []


def test_the_dialogue_core_imports_without_django():
    code = "import sys, assistant.dialogue.manager; assert 'django' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True).returncode == 0


@pytest.mark.parametrize("intent", ["greet", "help", "goodbye", "out_of_scope"])
def test_small_talk_is_polite_and_changes_nothing(shop, intent):
    state = DialogueState(query="sofa", constraints={"category": "sofa"}, shown=["S1"])
    turn = say(DialogueManager(shop), state, intent)
    assert turn.text
    assert turn.state.constraints == state.constraints
    assert turn.state.shown == state.shown


def test_reset_clears_everything(shop):
    state = DialogueState(
        query="sofa", constraints={"category": "sofa"}, shown=["S1"], cart=["S1"], focus="S1"
    )
    assert say(DialogueManager(shop), state, "reset").state == DialogueState()


def test_state_round_trips_through_json_and_ignores_unknown_keys():
    state = DialogueState(
        query="sofa", constraints={"price_max": 900.0}, shown=["S1"], focus="S1", cart=["S1"]
    )
    assert DialogueState.from_dict(state.as_dict()) == state
    assert DialogueState.from_dict({"query": "x", "ranker": "hybrid"}) == DialogueState(query="x")
    assert DialogueState.from_dict(None) == DialogueState()
