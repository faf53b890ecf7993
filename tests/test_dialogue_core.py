"""The dialogue manager without Django, over a small in-memory shop: every intent, references,
refinement, relaxation, types the shop does not sell and clarifying questions."""

import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest

from assistant.dialogue.manager import (
    CLARIFIED,
    NO_RESULT,
    RELAXED,
    DialogueManager,
    Overview,
    ProductView,
    Results,
    describe,
    merged,
)
from assistant.dialogue.state import DialogueState
from assistant.nlu.frame import Frame

from .conftest import ROOT

PRODUCTS = [
    ProductView("S1", "Halden sofa", 899, "EUR", "Nordal", 4.5, 3, "Deep grey sofa.",
                {"type": "sofa", "color": ["grey"], "material": ["fabric"], "width": "220 cm"}),
    ProductView("S2", "Borgo sofa", 1899, "EUR", "Casa", 4.0, 0, "Leather sofa.",
                {"type": "sofa", "color": ["brown"], "material": ["leather"]}),
    ProductView("S3", "Luna sofa", 649, "EUR", "Nordal", None, 5, "",
                {"type": "sofa", "color": ["grey"], "material": ["linen"]}),
    ProductView("S4", "Oslo corner sofa", 1299, "EUR", "IKEA", 3.5, 2, "Velvet corner sofa.",
                {"type": "corner sofa", "color": ["blue"], "material": ["velvet"]}),
    ProductView("C1", "Ektorp cover for 3-seat sofa", 29, "EUR", "IKEA", 4.1, 12, "Washable grey cover.",
                {"type": "cover for 3-seat sofa", "color": ["grey"], "material": ["fabric"]}),
    ProductView("B1", "Billy bookcase", 79, "EUR", "IKEA", 4.8, 40, "Tall bookcase.",
                {"type": "bookcase", "color": ["white"], "material": ["wood"]}),
]  # fmt: skip
"""Listed in the order a search ranks them when no sort is asked for: not by price."""
CLOSEST = 3


def head(product_type: str) -> str:
    """The kind of product a type names: "sofa" for "corner sofa", "cover" for "cover for 3-seat
    sofa" (an accessory is its own type), "chest of drawers" for itself."""
    named = product_type.lower().split(" for ")[0]
    return named if " of " in named else named.split()[-1]


def is_a(product: ProductView, category: str) -> bool:
    """Whether ``product`` is of the named type or one of its sub-types."""
    product_type = str(product.attributes.get("type", "")).lower()
    return category.lower() in (product_type, head(product_type))


def values(product: ProductView, name: str) -> set[str]:
    """An attribute's values, lower-case, whether the catalog stores one or a list."""
    value = product.attributes.get(name, [])
    return {str(item).lower() for item in (value if isinstance(value, list) else [value])}


def mentions(product: ProductView, feature: str) -> bool:
    """Whether the product's title, description or attributes state ``feature``."""
    stated = [
        product.title,
        product.description,
        *(v for name in product.attributes for v in values(product, name)),
    ]
    return feature.lower() in " ".join(stated).lower()


def number(product: ProductView, name: str) -> float | None:
    """A measure the product records as a number ("width": 120), else ``None``."""
    value = product.attributes.get(name)
    return float(value) if isinstance(value, int | float) else None


def within(product: ProductView, measure: Mapping[str, Any]) -> bool:
    """Whether the product records the measure (a ``dimension`` slot's item) within its bounds."""
    value = number(product, measure["name"])
    low, high = measure.get("min"), measure.get("max")
    return value is not None and (low is None or value >= low) and (high is None or value <= high)


class Shop:
    """A real, tiny catalog as production's search treats it: the ``category`` slot is a hard filter
    on the product type and its sub-types (never an accessory of it), and so are prices (in each
    product's own currency; no rates), brands, colours, materials, features, measures (numeric
    attributes; no units) and exclusions. A feature or measure no product of the type states is
    dropped with a note; a type the shop lacks is "not sold" with the types it has most of.
    Products come in the listed order or the asked price sort; the query's words are not read.
    Feedback is kept."""

    def __init__(self, products: Sequence[ProductView] = PRODUCTS) -> None:
        self.listed = list(products)
        self.by_sku = {product.sku: product for product in products}
        self.events: list[tuple[str, str]] = []

    def search(self, query: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]) -> Results:
        category = constraints.get("category")
        of_type = [p for p in self.listed if not category or is_a(p, category)]
        if not of_type:
            kinds = Counter(head(str(p.attributes.get("type", ""))) for p in self.listed)
            return Results(not_sold=category, closest=[kind for kind, _ in kinds.most_common(CLOSEST)])
        kind = category or "product"
        features, measures, notes = [], [], []
        for feature in constraints.get("feature", []):
            if any(mentions(p, feature) for p in of_type):
                features.append(feature)
            else:
                notes.append(f"no {kind} here mentions “{feature}”, so I could not filter on it")
        for measure in constraints.get("dimension", []):
            if any(number(p, measure["name"]) is not None for p in of_type):
                measures.append(measure)
            else:
                notes.append(f"the catalog does not record the {measure['name']} of {kind}s")
        found = [
            p
            for p in of_type
            if p.sku not in skip
            and self._fits(p, constraints)
            and all(mentions(p, f) for f in features)
            and all(within(p, m) for m in measures)
        ]
        if constraints.get("sort") in ("price_asc", "price_desc"):
            found.sort(key=lambda p: p.price, reverse=constraints["sort"] == "price_desc")
        return Results(found[:k], notes=notes)

    def similar(
        self, sku: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]
    ) -> list[ProductView]:
        product = self.by_sku.get(sku)
        if product is None:
            return []
        # Without a type asked for, the product's own words name its type.
        typed = {"category": head(str(product.attributes.get("type", ""))), **constraints}
        return self.search(product.title, typed, k, [*skip, sku]).products

    def products(self, skus: Sequence[str]) -> list[ProductView]:
        return [self.by_sku[sku] for sku in skus if sku in self.by_sku]

    def feedback(self, sku: str, action: str) -> None:
        self.events.append((sku, action))

    def kind_of(self, text: str) -> str | None:
        """The product type whose head the words name ("a grey sofa" -> sofa)."""
        words = set(text.lower().replace("s ", " ").split())
        kinds = [head(str(p.attributes.get("type", ""))) for p in self.listed]
        return next((kind for kind in kinds if kind in words), None)

    def overview(self) -> Overview:
        kinds = Counter(head(str(p.attributes.get("type", ""))) for p in self.listed)
        brands = Counter(p.brand for p in self.listed if p.brand)
        return Overview(
            types=[kind for kind, _ in kinds.most_common()],
            brands=[brand for brand, _ in brands.most_common()],
            price_bands=["under 100 EUR", "under 1,000 EUR"],
        )

    @staticmethod
    def _fits(product: ProductView, constraints: Mapping[str, Any]) -> bool:
        currency = constraints.get("currency")
        if currency and product.currency != currency.upper():
            return False
        if constraints.get("price_max") is not None and product.price > constraints["price_max"]:
            return False
        if constraints.get("price_min") is not None and product.price < constraints["price_min"]:
            return False
        brand = product.brand.lower()
        if constraints.get("brand") and brand not in {b.lower() for b in constraints["brand"]}:
            return False
        if brand in {b.lower() for b in constraints.get("exclude_brand", [])}:
            return False
        for slot in ("color", "material"):
            stated = values(product, slot)
            if constraints.get(slot) and not set(constraints[slot]) & stated:
                return False
            if set(constraints.get(f"exclude_{slot}", [])) & stated:
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
    # The grey sofas, then the closest other sofas to fill the page: never the grey sofa cover.
    assert skus(turn) == ["S1", "S3", "S2", "S4"]
    assert turn.state.shown == ["S1", "S3", "S2", "S4"]
    assert "(2 that fit, then 2 close ones without “grey”)" in turn.text
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
    assert skus(first) == ["S1", "S2", "S3", "S4"]  # the corner sofa too: a sofa's sub-type
    cheaper = say(manager, first.state, "refine", "cheaper", price_relative="lower")
    median = (899 + 1299) / 2
    assert cheaper.state.constraints["price_max"] < median
    assert skus(cheaper) == ["S1", "S3"]  # the 29 EUR cover is cheaper still, but no sofa
    assert f"under {median:,.0f}" in cheaper.text


def test_cheaper_than_the_focused_product(shop):
    manager = DialogueManager(shop)
    state = DialogueState(
        query="sofa", constraints={"category": "sofa"}, shown=["S3", "S1", "S4"], focus="S4"
    )
    turn = say(manager, state, "refine", "cheaper than that", price_relative="lower")
    assert skus(turn) == ["S1", "S3"]


def test_refine_overrides_and_exclusions_remove(shop):
    constraints, _ = merged({"color": ["grey", "blue"], "category": "sofa"}, {"exclude_color": ["grey"]}, [])
    assert constraints == {"color": ["blue"], "category": "sofa", "exclude_color": ["grey"]}
    constraints, _ = merged({"color": ["grey"]}, {"color": ["brown"], "price_max": 2000}, [])
    assert constraints == {"color": ["brown"], "price_max": 2000}


def test_exclusions_add_up_over_turns(shop):
    manager = DialogueManager(shop)
    first = say(manager, DialogueState(), "search", "sofa", category="sofa")
    no_grey = say(manager, first.state, "refine", "any that aren't grey", exclude_color=["grey"])
    assert skus(no_grey) == ["S2", "S4"]
    no_blue = say(manager, no_grey.state, "refine", "no blue either", exclude_color=["blue"])
    assert no_blue.state.constraints["exclude_color"] == ["grey", "blue"]
    assert skus(no_blue) == ["S2"]
    not_by_casa = say(manager, no_blue.state, "refine", "not by Casa", exclude_brand=["Casa"])
    assert not_by_casa.products == []  # exclusions are never relaxed away
    assert not_by_casa.text == "I could not find any sofa not grey or blue not by Casa. Try other words?"


def test_refine_without_a_search_starts_one(shop):
    turn = say(DialogueManager(shop), DialogueState(), "refine", "in leather", material=["leather"])
    assert skus(turn) == ["S2"]


def test_more_pages_on_and_says_when_there_is_nothing_left(shop):
    manager = DialogueManager(shop, page_size=2)
    first = say(manager, DialogueState(), "search", "sofa", category="sofa")
    second = say(manager, first.state, "more")
    assert skus(second) == ["S3", "S4"]
    assert second.state.shown == ["S3", "S4"]
    third = say(manager, second.state, "more")
    assert third.products == []
    assert "everything" in third.text


def test_over_budget_it_shows_the_cheapest_of_the_type_and_names_it(shop):
    turn = say(
        DialogueManager(shop), DialogueState(), "search", "grey sofa under 500",
        category="sofa", color=["grey"], price_max=500,
    )  # fmt: skip
    assert skus(turn) == ["S3", "S1"]  # cheapest first; never the 29 EUR grey cover
    assert turn.text == "No grey sofa under 500; the cheapest is Luna sofa at 649.00 EUR."
    assert describe({"color": ["grey"], "category": "sofa", "price_max": 1000}) == "grey sofa under 1,000"


def test_under_a_floor_it_shows_the_dearest_of_the_type_and_names_it(shop):
    turn = say(
        DialogueManager(shop), DialogueState(), "search", "sofa over 5000", category="sofa", price_min=5000
    )
    assert skus(turn) == ["S2", "S4", "S1", "S3"]
    assert turn.text == "No sofa over 5,000; the dearest is Borgo sofa at 1,899.00 EUR."


def test_relaxing_a_cheaper_request_keeps_the_new_bound_and_drops_another_constraint(shop):
    manager = DialogueManager(shop)
    blue = say(manager, DialogueState(), "search", "blue sofa", category="sofa", color=["blue"])
    assert skus(blue) == ["S4", "S1", "S2", "S3"]  # the blue one, then the closest sofas
    cheaper = say(manager, blue.state, "refine", "cheaper", price_relative="lower")
    assert skus(cheaper) == ["S1", "S3"]  # not S4 again, as dropping the new ceiling would give
    assert cheaper.state.constraints["price_max"] < 1099  # below the median shown
    assert cheaper.text == "No blue sofa under 1,099 EUR; here are the closest, without “blue”."


def test_the_product_type_is_never_relaxed(shop):
    manager = DialogueManager(shop)
    leather = say(
        manager, DialogueState(), "search", "leather bookcase", category="bookcase", material=["leather"]
    )
    assert skus(leather) == ["B1"]
    assert leather.text == "No leather bookcase; here are the closest, without “leather”."
    # Only dropping the type would find a Casa product: the reply says nothing matches instead.
    casa = say(manager, DialogueState(), "search", "Casa bookcase", category="bookcase", brand=["Casa"])
    assert skus(casa) == ["B1"]
    assert "without “Casa”" in casa.text
    nothing = say(
        manager, DialogueState(), "search", "Casa bookcase that isn't wood",
        category="bookcase", brand=["Casa"], exclude_material=["wood"],
    )  # fmt: skip
    assert nothing.products == []
    assert nothing.text.startswith("I could not find any Casa bookcase not wood.")


def test_a_type_the_shop_does_not_sell_gets_an_honest_answer_and_the_closest_types(shop):
    turn = say(DialogueManager(shop), DialogueState(), "search", "fridge", category="fridge")
    assert turn.products == []
    assert turn.text == "Sorry, we don't sell fridge. The closest we have: sofa, cover, bookcase."
    assert turn.suggestions == ["sofa", "cover", "bookcase"]
    assert turn.state.shown == []


def test_a_feature_no_product_states_is_named_in_the_reply_and_the_rest_applied(shop):
    manager = DialogueManager(shop)
    magsafe = say(manager, DialogueState(), "search", "grey magsafe sofa",
                  category="sofa", color=["grey"], feature=["magsafe"])  # fmt: skip
    assert skus(magsafe)[:2] == ["S1", "S3"]
    assert magsafe.text.endswith(". Note: No sofa here mentions “magsafe”, so I could not filter on it.")
    corner = say(manager, DialogueState(), "search", "corner sofa", category="sofa", feature=["corner"])
    assert skus(corner)[0] == "S4"
    assert "Note" not in corner.text


def test_a_sort_orders_the_list_and_the_reply_says_how(shop):
    turn = say(
        DialogueManager(shop), DialogueState(), "search", "priciest sofa", category="sofa", sort="price_desc"
    )
    assert skus(turn) == ["S2", "S4", "S1", "S3"]
    assert turn.text.endswith(", highest price first.")
    unsorted = say(DialogueManager(shop), DialogueState(), "search", "sofa", category="sofa")
    assert "first" not in unsorted.text


def test_positions_and_pronouns_resolve_to_the_right_sku(shop):
    manager = DialogueManager(shop)
    state = say(manager, DialogueState(), "search", "sofa", category="sofa").state  # S1 S2 S3 S4
    second = say(manager, state, "add_to_cart", "add the second one", reference=[2])
    assert second.state.cart == [{"sku": "S2", "quantity": 1}]
    assert shop.events == [("S2", "add_to_cart")]
    again = say(manager, second.state, "add_to_cart", "add it too")
    assert again.state.cart == [{"sku": "S2", "quantity": 2}]
    last = say(
        manager, state, "product_question", "how much is the last one", reference=[-1], attribute="price"
    )
    assert last.state.focus == "S4"
    assert "1,299.00 EUR" in last.text


def test_compare_builds_a_table_of_the_referenced_products(shop):
    manager = DialogueManager(shop)
    state = say(manager, DialogueState(), "search", "sofa", category="sofa").state
    turn = say(manager, state, "compare", "compare the first and the last", reference=[1, -1])
    assert turn.compare["skus"] == ["S1", "S4"]
    rows = {row["field"]: row["values"] for row in turn.compare["rows"]}
    assert rows["title"] == ["Halden sofa", "Oslo corner sofa"]
    assert rows["brand"] == ["Nordal", "IKEA"]
    assert rows["material"] == ["fabric", "velvet"]
    assert "Halden sofa is the cheapest" in turn.text
    alone = say(manager, state, "compare", "compare it", reference=[9])
    assert alone.compare is None


def test_product_question_answers_from_the_fields_or_says_the_catalog_does_not(shop):
    manager = DialogueManager(shop)
    state = DialogueState(shown=["S1", "S3"])
    wide = say(
        manager, state, "product_question", "how wide is the first", reference=[1], attribute="dimensions"
    )
    assert wide.text == "Halden sofa is 220 cm wide."
    rating = say(
        manager, state, "product_question", "is the second one rated", reference=[2], attribute="rating"
    )
    assert rating.text == "Luna sofa has no rating yet."
    stock = say(manager, wide.state, "product_question", "is it in stock", attribute="availability")
    assert "in stock" in stock.text
    # "How much <thing>" asks about the thing, answered from the product's own words, not its price.
    grey = say(manager, state, "product_question", "how much grey does the first one have?", reference=[1])
    assert grey.text == "The description says “Deep grey sofa”."
    price = say(manager, state, "product_question", "how much is the first one?", reference=[1])
    assert price.text == "Halden sofa costs 899.00 EUR."
    long = say(manager, state, "product_question", "how long is the first one?", reference=[1])
    assert long.text == "The catalog does not give the length of Halden sofa; it gives width 220 cm."


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
    first = say(manager, DialogueState(), "search", "sofa", category="sofa")
    like_it = say(manager, first.state, "similar", "like the first", reference=[1])
    assert skus(like_it) == ["S2", "S3"]
    assert like_it.text == "Products like Halden sofa:"
    more = say(manager, like_it.state, "more")
    assert skus(more) == ["S4"]  # the next sofa, not the first page of the search again


def test_pricier_after_cheaper_lifts_the_old_ceiling(shop):
    manager = DialogueManager(shop)
    state = DialogueState(query="sofa", constraints={"category": "sofa", "price_max": 900.0}, shown=["S3"])
    turn = say(manager, replace(state, focus="S1"), "refine", "more expensive", price_relative="higher")
    assert "price_max" not in turn.state.constraints
    assert skus(turn) == ["S2", "S4"]


def test_a_reference_outside_the_list_asks_which_product(shop):
    turn = say(
        DialogueManager(shop), DialogueState(shown=["S1"]), "add_to_cart", "add the fifth", reference=[5]
    )
    assert turn.state.cart == []
    assert "Which one" in turn.text


def test_an_unsure_follow_up_asks_unless_it_names_a_filter(shop):
    manager = DialogueManager(shop)
    first = say(manager, DialogueState(), "search", "sofa", category="sofa")
    unsure = say(manager, first.state, "refine", "mmh cosy-ish", confidence=0.2, style=["cosy"])
    assert unsure.products == []
    assert unsure.text == "I am not sure what you mean. Did you want one of these?"
    assert (unsure.state.constraints, unsure.state.shown) == ({"category": "sofa"}, ["S1", "S2", "S3", "S4"])
    budget = say(manager, first.state, "refine", "under 700 maybe", confidence=0.2, price_max=700)
    assert skus(budget) == ["S3"]


def test_an_unsure_first_request_is_searched(shop):
    turn = say(
        DialogueManager(shop), DialogueState(), "search", "mmh cosy-ish", confidence=0.2, style=["cosy"]
    )
    assert skus(turn) == [product.sku for product in PRODUCTS]  # this shop does not read the words
    assert turn.state.constraints == {"style": ["cosy"]}


def test_a_confident_search_without_slots_searches_the_words(shop):
    turn = say(DialogueManager(shop), DialogueState(), "search", "Ektorp")
    assert skus(turn) == [product.sku for product in PRODUCTS]
    assert (turn.state.query, turn.state.constraints) == ("Ektorp", {})


@pytest.mark.parametrize(
    ("intent", "text"),
    [
        ("greet", "hi, any bookcases?"),
        ("help", "can you help me find a bookcase"),
        ("product_question", "how tall is the billy bookcase"),
    ],
)
def test_a_product_type_named_where_there_is_nothing_else_to_act_on_is_searched(shop, intent, text):
    turn = say(DialogueManager(shop), DialogueState(), intent, text, category="bookcase")
    assert skus(turn) == ["B1"]
    assert turn.state.constraints == {"category": "bookcase"}


def test_a_question_about_a_shown_product_is_not_a_search(shop):
    state = DialogueState(query="sofa", constraints={"category": "sofa"}, shown=["S1"])
    turn = say(DialogueManager(shop), state, "product_question", "is the sofa grey", category="sofa",
               reference=[1], attribute="color")  # fmt: skip
    assert turn.products == []
    assert turn.text == "Yes, Halden sofa comes in grey."


def test_an_unsure_out_of_scope_is_searched_for(shop):
    turn = say(DialogueManager(shop), DialogueState(), "out_of_scope", "a sofa for my flat", confidence=0.5)
    assert skus(turn) == [product.sku for product in PRODUCTS]
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


def test_reset_clears_the_search_and_keeps_the_shoppers_cart(shop):
    cart = [{"sku": "S1", "quantity": 2}]
    state = DialogueState(
        query="sofa", constraints={"category": "sofa"}, shown=["S1"], cart=cart, liked=["S3"], focus="S1"
    )
    assert say(DialogueManager(shop), state, "reset").state == DialogueState(cart=cart, liked=["S3"])


def test_state_round_trips_through_json_and_ignores_unknown_keys():
    state = DialogueState(
        query="sofa",
        constraints={"price_max": 900.0},
        shown=["S1"],
        focus="S1",
        cart=[{"sku": "S1", "quantity": 1}],
    )
    assert DialogueState.from_dict(state.as_dict()) == state
    # A cart stored before quantities (a list of SKUs, repeated) reads as lines.
    assert DialogueState.from_dict({"cart": ["S1", "S2", "S1"]}).cart == [
        {"sku": "S1", "quantity": 2},
        {"sku": "S2", "quantity": 1},
    ]
    assert DialogueState.from_dict({"query": "x", "ranker": "hybrid"}) == DialogueState(query="x")
    assert DialogueState.from_dict(None) == DialogueState()


# -- a conversation that holds up (issue 15) ----------------------------------------------


def listed(manager: DialogueManager) -> DialogueState:
    return say(manager, DialogueState(), "search", "sofa", category="sofa").state  # S1 S2 S3 S4


@pytest.mark.parametrize("text", ["the second one", "that one", "the second one?"])
@pytest.mark.parametrize("intent", ["add_to_cart", "product_question"])
def test_a_bare_reference_points_and_never_fills_the_cart(shop, text, intent):
    manager = DialogueManager(shop)
    turn = say(manager, listed(manager), intent, text, reference=[2] if "second" in text else [])
    if "second" in text:
        assert turn.state.focus == "S2"
        assert "Borgo sofa" in turn.text
    assert turn.state.cart == []
    assert ("S2", "add_to_cart") not in shop.events


def test_the_cart_shows_changes_and_empties_and_checkout_is_declined(shop):
    manager = DialogueManager(shop)
    state = listed(manager)
    state = say(manager, state, "add_to_cart", "add the second one to my cart", reference=[2]).state
    state = say(manager, state, "add_to_cart", "I'll take the first one", reference=[1]).state
    shown = say(manager, state, "add_to_cart", "what's in my cart?")
    assert shown.state.cart == state.cart  # looking adds nothing
    assert "1 × Borgo sofa" in shown.text
    assert "1 × Halden sofa" in shown.text
    assert "2,798.00 EUR" in shown.text  # 1,899 + 899
    two = say(manager, state, "out_of_scope", "two of those")  # the focus: the first sofa
    assert two.state.cart == [{"sku": "S2", "quantity": 1}, {"sku": "S1", "quantity": 2}]
    removed = say(manager, two.state, "feedback_negative", "remove the Borgo from my cart")
    assert removed.state.cart == [{"sku": "S1", "quantity": 2}]
    checkout = say(manager, removed.state, "out_of_scope", "checkout")
    assert "can't take orders or payments" in checkout.text
    assert "1,798.00 EUR" in checkout.text
    assert checkout.state.cart == removed.state.cart
    empty = say(manager, checkout.state, "out_of_scope", "empty my cart")
    assert empty.state.cart == []


def test_adding_a_product_already_in_the_cart_needs_asking_again(shop):
    manager = DialogueManager(shop)
    state = say(manager, listed(manager), "add_to_cart", "add it", reference=[1]).state
    again = say(manager, state, "add_to_cart", "add it to my cart")
    assert again.state.cart == [{"sku": "S1", "quantity": 1}]
    assert "already in your cart" in again.text
    button = manager.react("S1", "add_to_cart", state)  # the card's button, clicked twice
    assert button.cart == [{"sku": "S1", "quantity": 1}]


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        ("something from Nordal", {"brand": ["nordal"]}),
        ("any in grey?", {"color": ["grey"]}),
        ("cheapest first", {"sort": "price_asc"}),
    ],
)
def test_a_follow_up_without_a_product_type_keeps_the_type(shop, text, slots):
    manager = DialogueManager(shop)
    turn = say(manager, listed(manager), "search", text, **slots)
    assert turn.state.constraints["category"] == "sofa"
    assert turn.products
    assert all(is_a(product, "sofa") for product in turn.products)


def test_a_new_product_type_starts_a_new_search(shop):
    manager = DialogueManager(shop)
    turn = say(manager, listed(manager), "search", "a white bookcase", category="bookcase", color=["white"])
    assert skus(turn) == ["B1"]
    assert turn.state.constraints == {"category": "bookcase", "color": ["white"]}


def test_disliking_a_material_refines_the_search(shop):
    manager = DialogueManager(shop)
    turn = say(
        manager, listed(manager), "feedback_negative", "I don't like velvet", exclude_material=["velvet"]
    )
    assert turn.products
    assert "S4" not in skus(turn)
    assert turn.state.constraints["category"] == "sofa"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what brands do you have?", "Brands here include"),
        ("what do you sell?", "We sell sofas"),
        ("do you ship to Canada?", "I can't answer questions about delivery"),
        ("what is your returns policy", "I can't answer questions about delivery"),
        ("do you price match?", "I can't answer questions about delivery"),
        ("what's the weather like today?", "I can only help with products in this shop"),
        ("tell me a joke", "I can only help with products in this shop"),
    ],
)
def test_questions_about_the_shop_are_answered_from_the_catalog_or_declined(shop, text, expected):
    turn = say(DialogueManager(shop), DialogueState(), "out_of_scope", text)
    assert turn.text.startswith(expected)
    assert turn.products == []


def test_a_vague_request_gets_one_question_and_the_answer_is_searched(shop):
    manager = DialogueManager(shop)
    asked = say(manager, DialogueState(), "out_of_scope", "a gift for my dad")
    assert asked.text.startswith("Happy to help")
    assert asked.products == []
    assert "sofa" in asked.suggestions  # the catalog's own types as chips
    answered = say(manager, asked.state, "feedback_positive", "he likes books")
    assert answered.products  # searched, not read as a like
    stuff = say(manager, DialogueState(), "goodbye", "stuff")
    assert stuff.text.startswith("What kind of product")


def test_a_budget_in_a_currency_nothing_is_priced_in_shows_the_cheapest_and_says_why(shop):
    manager = DialogueManager(shop)
    turn = say(manager, listed(manager), "refine", "under 300 USD", price_max=300, currency="USD")
    assert turn.text.startswith(
        "No sofa under 300 USD: nothing like that is priced in USD here, only in EUR."
    )
    assert skus(turn)[0] == "S3"  # 649 EUR, the cheapest sofa
    assert "currency" not in turn.state.constraints
    assert turn.state.constraints["category"] == "sofa"


def test_the_guide_asks_a_budget_next_with_chips_from_the_prices_shown(shop):
    manager = DialogueManager(shop)
    asked = say(manager, DialogueState(), "out_of_scope", "something for my new flat")
    answered = say(manager, asked.state, "search", "she likes sofas", category="sofa")
    assert answered.text.endswith("Any budget in mind?")
    bands = [chip for chip in answered.suggestions if chip.startswith("under ")]
    assert bands
    assert all(chip.endswith(" EUR") for chip in bands)
    ceiling = float(bands[0].split()[1].replace(",", ""))
    assert min(product.price for product in answered.products) <= ceiling
    picked = say(manager, answered.state, "refine", bands[0], price_max=ceiling)
    assert picked.products
    assert all(product.price <= ceiling for product in picked.products)
    assert picked.state.constraints["category"] == "sofa"
    declined = say(manager, answered.state, "out_of_scope", "no budget")
    assert declined.text.startswith("Fine, no budget")
    assert declined.state.shown == answered.state.shown


def test_the_cheapest_one_is_an_order_not_a_pointer(shop):
    manager = DialogueManager(shop)
    turn = say(manager, listed(manager), "refine", "the cheapest one please", sort="price_asc")
    assert skus(turn) == ["S3", "S1", "S4", "S2"]  # 649, 899, 1,299, 1,899 EUR
    # ... and it names one product: the next "it" is the cheapest.
    assert turn.state.focus == "S3"
    taken = say(manager, turn.state, "add_to_cart", "I'll take it")
    assert taken.state.cart == [{"sku": "S3", "quantity": 1}]
    ordered = say(manager, listed(manager), "refine", "cheapest first", sort="price_asc")
    assert ordered.state.focus is None


def test_a_question_about_it_with_nothing_shown_asks_which_product(shop):
    turn = say(
        DialogueManager(shop), DialogueState(), "product_question", "how tall is it?", attribute="dimensions"
    )
    assert turn.text.startswith("Which product do you mean?")
    assert turn.products == []


def test_add_another_adds_one_more_of_the_product_in_focus(shop):
    manager = DialogueManager(shop)
    state = say(manager, listed(manager), "add_to_cart", "add the first one", reference=[1]).state
    again = say(manager, state, "out_of_scope", "add another", confidence=0.5)
    assert again.state.cart == [{"sku": "S1", "quantity": 2}]


def test_a_single_product_is_counted_in_the_singular(shop):
    manager = DialogueManager(shop, 1)
    state = DialogueState()
    openings = []
    for said in ("grey sofa", "green sofa", "red sofa"):  # the phrasing varies turn by turn
        turn = say(manager, state, "search", said, category="sofa")
        state = turn.state
        assert len(turn.products) == 1
        openings.append(turn.text.split(".")[0])
    assert all(opening.startswith(("Here is 1 option", "I found 1", "1 that fits")) for opening in openings)
    more = say(manager, state, "more", "more")
    assert more.text == "Here is 1 more."


def test_each_turn_says_whether_it_answered_relaxed_found_nothing_or_asked_back(shop):
    manager = DialogueManager(shop)
    assert say(manager, DialogueState(), "search", "sofa", category="sofa").outcome == ""
    leather = say(
        manager, DialogueState(), "search", "leather bookcase", category="bookcase", material=["leather"]
    )
    assert leather.outcome == RELAXED
    nothing = say(
        manager, DialogueState(), "search", "Casa bookcase that isn't wood",
        category="bookcase", brand=["Casa"], exclude_material=["wood"],
    )  # fmt: skip
    assert nothing.outcome == NO_RESULT
    assert say(manager, DialogueState(), "search", "fridge", category="fridge").outcome == NO_RESULT
    assert say(manager, DialogueState(), "more", "more").outcome == CLARIFIED  # more of what?
