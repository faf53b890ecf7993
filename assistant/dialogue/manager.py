"""The dialogue manager: one parsed frame plus the conversation's state in, a reply out.

Pure Python. The catalog it searches is a :class:`Catalog` the app provides (retrieval, ranking
and the database behind it); tests can give it any other.
"""

import math
import re
import statistics
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from assistant.nlu.frame import Frame
from catalog.retrieval.constraints import (
    ACTIVE_SLOTS,
    FILTER_SLOTS,
    RELAX_ORDER,
    SLOTS,
    SORT_PHRASES,
    Measure,
)

from . import cart as carts
from .answers import answer, asks_about_a_product
from .state import DialogueState
from .talk import is_chit_chat, is_vague, shop_question

CONFIDENCE_FLOOR = 0.45
"""Below this the manager asks instead of guessing."""
OUT_OF_SCOPE_SURE = 0.8
"""Below this an "out of scope" frame is searched for anyway: in a shop, looking is the better guess."""
SMALL_TALK = frozenset({"greet", "goodbye", "help", "out_of_scope", "reset"})
SUGGESTIONS = ["grey sofa under 1000", "cheaper", "compare the first two", "add the second one to my cart"]
"""Chips for a catalog that has no products yet (``examples`` offers the catalog's own types)."""
FOLLOW_UPS = ["cheaper", "compare the first two", "add the second one to my cart"]
SHOWN_NAMES = 8
"""Brands or product types named in a reply about the shop."""
COMPARED_FIELDS = ("title", "price", "brand", "rating", "color", "material", "dimensions")


@dataclass(frozen=True)
class ProductView:
    """What the dialogue needs to know about a product."""

    sku: str
    title: str
    price: float
    currency: str = ""
    brand: str = ""
    rating: float | None = None
    stock: int | None = None
    description: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    explanation: str = ""
    categories: Sequence[str] = ()


@dataclass
class Results:
    """A page of products for a search, and what the catalog made of the request."""

    products: list[ProductView] = field(default_factory=list)
    not_sold: str = ""
    """The product type asked for when the catalog carries no such type."""
    closest: list[str] = field(default_factory=list)
    """For a type not sold: the nearest types the catalog does carry."""
    notes: list[str] = field(default_factory=list)
    """Constraints the catalog could not apply, as the reply says them."""
    alternative: str = ""
    """When nothing of the asked type qualifies, a related type that does ("cover for sofa")."""
    recognised: bool = True
    """Whether the catalog knew any of the words (a type, a product's words); "hmm" it does not."""
    typed: bool = False
    """Whether the words named a product type the catalog carries, which the results are of."""
    asked: str = ""
    """The product type the words named, as the catalog calls it ("bed frame")."""
    exact: int | None = None
    """When a short page of the asked type was filled with the rest of its kind ("bed"): how
    many lead the page that are of the asked type itself."""
    kind: str = ""
    """The kind such a page was filled from."""


@dataclass(frozen=True)
class Overview:
    """What the shop carries, most stocked first: for questions about the shop and for chips."""

    types: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    price_bands: list[str] = field(default_factory=list)
    """Budgets a shopper might pick ("under 100 SAR"), from the catalog's own prices."""


class Catalog(Protocol):
    """The shop as the dialogue sees it."""

    def search(self, query: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]) -> Results:
        """A page of products meeting every filter of ``constraints`` (active slots by name), of
        the asked product type and its sub-types only, in the asked ``sort`` if any."""
        ...

    def similar(
        self, sku: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]
    ) -> list[ProductView]: ...

    def products(self, skus: Sequence[str]) -> list[ProductView]:
        """The products with these SKUs in the order given; unknown or inactive ones left out."""
        ...

    def feedback(self, sku: str, action: str) -> None: ...

    def kind_of(self, text: str) -> str | None:
        """The product type the words name, as the catalog calls it, or ``None``."""
        ...

    def overview(self) -> Overview: ...


@dataclass
class Turn:
    """The reply to one message (CONTRACTS §4 without the transport fields)."""

    text: str
    state: DialogueState
    products: list[ProductView] = field(default_factory=list)
    compare: dict[str, Any] | None = None
    suggestions: list[str] = field(default_factory=list)
    outcome: str = ""
    """What an admin reviewing conversations filters on: ``CLARIFIED`` (a question back instead
    of an answer), ``RELAXED`` (nothing matched; close products without a constraint),
    ``NO_RESULT`` (nothing to show at all); empty for a plain answer."""


CLARIFIED, RELAXED, NO_RESULT = "clarified", "relaxed", "no_result"


class DialogueManager:
    """Answers frames against a catalog, ``page_size`` products at a time."""

    def __init__(self, catalog: Catalog, page_size: int = 10) -> None:
        self.catalog = catalog
        self.page_size = page_size

    def respond(self, text: str, frame: Frame, state: DialogueState, conversation: bool = True) -> Turn:
        """The reply to ``text`` (read as ``frame``) in ``state``. Outside a ``conversation`` (a
        one-shot search) the words are searched: no cart, no questions about the shop."""
        # A question the last reply asked ("what do they like?") is answered now or never.
        pending, state = state.pending, replace(state, turns=state.turns + 1, pending="")
        if not conversation:
            return self._on_search(text, frame.slots, state)
        request = carts.cart_request(text) if frame.intent != "reset" else None
        if request is not None:
            return self._on_cart(text, request, frame.slots, state)
        if frame.intent != "reset" and "reference" not in frame.slots:
            if topic := shop_question(text):
                return self._on_shop_question(topic, state)
            talk = "vague" if is_vague(text) else "chat" if is_chit_chat(text) else ""
            if talk and "category" not in frame.slots and self.catalog.kind_of(text) is None:
                if talk == "vague":
                    return self._guide(text, state)
                return self._on_out_of_scope(text, frame.slots, state)
        if state.shown or state.focus:
            if _only_points(text):
                return self._on_point(text, frame.slots, state)
            if frame.intent not in ("compare", "add_to_cart", "similar") and asks_about_a_product(text):
                frame = Frame("product_question", frame.confidence, frame.slots)
            elif frame.intent != "add_to_cart" and carts.adds_a_shown_product(text):
                frame = Frame("add_to_cart", frame.confidence, frame.slots)
            elif (
                "sort" in frame.slots
                and "reference" not in frame.slots
                and frame.intent not in ("search", "refine")
            ):
                frame = Frame("refine", frame.confidence, frame.slots)  # "better rated ones?"
        if frame.intent in ("reset", "goodbye", "greet", "help"):
            pending = ""
        if pending == "budget" and _NO_BUDGET.match(text.lower()):
            return Turn(
                "Fine, no budget then. Say “cheaper” or a price any time.", state, suggestions=FOLLOW_UPS
            )
        if pending == "interest":
            return self._on_interest(text, frame.slots, state)
        if (frame.intent == "out_of_scope" and frame.confidence < OUT_OF_SCOPE_SURE) or _is_a_search(
            frame, state, text
        ):
            frame = Frame("search", frame.confidence, frame.slots)
        # Unsure of a follow-up, ask; unsure of a first request, look (in a shop that is the better
        # guess), and ask only if the catalog knows none of its words (see ``_search``).
        unsure = frame.confidence < CONFIDENCE_FLOOR and frame.intent not in SMALL_TALK
        if unsure and state.query and not _concrete(frame):
            return self._clarify(state)
        handler = getattr(self, f"_on_{frame.intent}", self._on_out_of_scope)
        turn = handler(text, frame.slots, state)
        if "sort" in frame.slots and _ONE_OF_THEM.search(text.lower()) and turn.products:
            # "the cheapest one": the list in that order, and its first is the one meant next.
            first = turn.products[0]
            turn = replace(
                turn,
                text=f"{turn.text} The first is {first.title} at {_money(first.price, first.currency)}.",
                state=replace(turn.state, focus=first.sku),
                suggestions=["add it to my cart", *turn.suggestions],
            )
        return turn

    # ------------------------------------------------------------------ searching

    def _on_search(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        # "something from Nexora", "any in white?": filters without a product type refine the
        # search in force; a product type starts a new one.
        filters = any(slot in FILTER_SLOTS or slot == "sort" for slot in slots)
        if state.query and filters and "category" not in slots and self.catalog.kind_of(text) is None:
            return self._on_refine(text, slots, state)
        constraints = {slot: value for slot, value in slots.items() if slot in ACTIVE_SLOTS}
        fresh = DialogueState(
            query=text, constraints=constraints, cart=state.cart, liked=state.liked, turns=state.turns
        )
        return self._search(fresh, fill=True)

    def _on_refine(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        if not state.query:
            return self._on_search(text, slots, state)
        constraints, bound = merged(state.constraints, slots, *self._prices_shown(state))
        # Relaxing must not undo what the shopper has just asked for.
        keep = {*slots, *(("price_max", "price_min") if "price_relative" in slots else ())}
        return self._search(replace(state, constraints=constraints, shown=[], seen=[]), bound, keep)

    def _on_more(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        if not state.query:
            return self._clarify(state, "More of what? Tell me what you are looking for.")
        if state.similar_to:
            found = self.catalog.similar(state.similar_to, state.constraints, self.page_size, state.seen)
        else:
            found = self.catalog.search(state.query, state.constraints, self.page_size, state.seen).products
        if not found:
            return Turn(
                "That was everything that matches. Want to loosen a constraint?", state, outcome=NO_RESULT
            )
        state = replace(state, shown=[p.sku for p in found], seen=[*state.seen, *(p.sku for p in found)])
        return Turn(f"Here {'is' if len(found) == 1 else 'are'} {len(found)} more.", state, found)

    def _on_similar(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        sku = self._referenced(slots, state)
        if sku is None:
            return self._which(state)
        found = self.catalog.similar(sku, state.constraints, self.page_size, [sku])
        product = self._get(sku)
        name = product.title if product else sku
        shown = [p.sku for p in found]
        state = replace(state, focus=sku, similar_to=sku, shown=shown, seen=[sku, *shown])
        if not found:
            return Turn(f"I found nothing else like {name} under your constraints.", state)
        return Turn(f"Products like {name}:", state, found)

    def _search(
        self, state: DialogueState, note: str = "", keep: Collection[str] = (), fill: bool = False
    ) -> Turn:
        """Show a page for the state's constraints, relaxing when nothing matches; a new search
        (``fill``) with only a few matches adds the closest products after them."""
        results = self.catalog.search(state.query, state.constraints, self.page_size, [])
        if fill and not state.constraints and not results.recognised:
            return self._clarify(state)
        # Only products of the asked type fill a page: without one, "close" would mean anything.
        typed = results.typed or "category" in state.constraints
        if fill and typed and 0 < len(results.products) < self.page_size:
            results, note = self._filled(state, results)
        if results.not_sold:
            return Turn(
                f"Sorry, we don't sell {results.not_sold}."
                + (f" The closest we have: {', '.join(results.closest)}." if results.closest else ""),
                fresh_list(state, []),
                suggestions=results.closest or self.examples(),
                outcome=NO_RESULT,
            )
        if results.products:
            return self._show(state, results, note)
        relaxed = self._relaxed(state, keep, results.alternative)
        return replace(relaxed, outcome=RELAXED if relaxed.products else NO_RESULT)

    def _filled(self, state: DialogueState, results: Results) -> tuple[Results, str]:
        """``results`` followed by the best page of those missing one filter (in ``RELAX_ORDER``),
        and the phrase that says so: "3 that fit, and 7 close ones without “grey”"."""
        shown = [product.sku for product in results.products]
        for slot in RELAX_ORDER:
            if slot not in state.constraints:
                continue
            looser = {name: value for name, value in state.constraints.items() if name != slot}
            more = self.catalog.search(state.query, looser, self.page_size - len(shown), shown).products
            if more:
                filled = replace(results, products=[*results.products, *more])
                phrase = _without(slot, state.constraints[slot])
                return filled, f" ({len(shown)} that fit, then {len(more)} close ones {phrase})"
        return results, ""

    def _show(self, state: DialogueState, results: Results, note: str = "") -> Turn:
        found = results.products
        if results.exact is not None and not note:  # counts are honest: "2 bed frames, then 8 other beds"
            note = (
                f" ({results.exact} {plural_of(results.asked) if results.exact != 1 else results.asked}, "
                f"then {len(found) - results.exact} other {plural_of(results.kind)})"
            )
        opening = _vary(state.turns, OPENINGS if len(found) != 1 else OPENINGS_OF_ONE)
        order = (
            f", {SORT_PHRASES[state.constraints['sort']]}"
            if state.constraints.get("sort") in SORT_PHRASES
            else ""
        )
        return Turn(
            f"{opening.format(n=len(found))}{note}{order}.{_notes(results.notes)}",
            fresh_list(state, found),
            found,
            suggestions=_next_steps(found),
        )

    def _relaxed(self, state: DialogueState, keep: Collection[str], alternative: str = "") -> Turn:
        """Drop one filter at a time (never the product type) and say which made the difference.

        Without the budget, the closest products are the cheapest (or dearest) of the rest, and
        the reply names the first; the constraints in ``keep`` are never dropped. ``alternative``
        (a related type that does match) is offered as what the shopper may have meant.
        """
        wanted = describe(state.constraints)
        offer = f" Or did you mean {alternative}?" if alternative else ""
        suggestions = [alternative] if alternative else []
        if state.constraints.get("currency"):
            turn = self._in_other_currencies(state, wanted)
            if turn is not None:
                return turn
        for slot in RELAX_ORDER:
            if slot not in state.constraints or slot in keep:
                continue
            looser = {name: value for name, value in state.constraints.items() if name != slot}
            if slot in ("price_max", "price_min"):
                looser["sort"] = "price_asc" if slot == "price_max" else "price_desc"
            results = self.catalog.search(state.query, looser, self.page_size, [])
            if not results.products and slot in ("price_max", "price_min") and "currency" in looser:
                # Nothing priced in the currency said: the cheapest in the others.
                looser.pop("currency")
                results = self.catalog.search(state.query, looser, self.page_size, [])
            if results.products:
                return Turn(
                    f"No {wanted}; {_relaxation(slot, state.constraints[slot], results.products)}."
                    f"{offer}{_notes(results.notes)}",
                    fresh_list(state, results.products),
                    results.products,
                    suggestions=suggestions + _next_steps(results.products),
                )
        return Turn(
            f"I could not find any {wanted or 'match'}.{offer or ' Try other words?'}",
            fresh_list(state, []),
            suggestions=suggestions or self.examples(),
        )

    def _in_other_currencies(self, state: DialogueState, wanted: str) -> Turn | None:
        """When nothing asked for is priced in the currency said (and no rate converts it): the
        cheapest in the currencies it is priced in, saying so; ``None`` when some is."""
        said = state.constraints["currency"]
        unpriced = {
            name: value
            for name, value in state.constraints.items()
            if name not in ("currency", "price_max", "price_min", "sort")
        }
        if self.catalog.search(state.query, {**unpriced, "currency": said}, 1, []).products:
            return None
        results = self.catalog.search(state.query, {**unpriced, "sort": "price_asc"}, self.page_size, [])
        if not results.products:
            return None
        theirs = ", ".join(dict.fromkeys(product.currency for product in results.products))
        cheapest = results.products[0]
        state = replace(state, constraints={**unpriced, "sort": "price_asc"})
        return Turn(
            f"No {wanted}: nothing like that is priced in {said} here, only in {theirs}. "
            f"The cheapest is {cheapest.title} at {_money(cheapest.price, cheapest.currency)}.",
            fresh_list(state, results.products),
            results.products,
            suggestions=_next_steps(results.products),
        )

    def _prices_shown(self, state: DialogueState) -> tuple[list[float], str]:
        """The prices "cheaper" compares with (the focused product's, else those shown) in one
        currency, the one most of them are in: raw numbers are never compared across currencies."""
        focus = self._get(state.focus) if state.focus else None
        shown = [focus] if focus is not None else self.catalog.products(state.shown)
        return _in_one_currency(shown)

    # ------------------------------------------------------------------ products in the list

    def _on_compare(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        skus = [sku for sku in self._positions(slots.get("reference") or [1, 2], state) if sku]
        products = self.catalog.products(skus)
        if len(products) < 2:
            return self._which(
                state, "Which two should I compare? Say for example “the first and the third”."
            )
        rows = [
            {"field": name, "values": [field_value(p, name) for p in products]} for name in COMPARED_FIELDS
        ]
        compare = {"skus": [p.sku for p in products], "rows": rows}
        cheapest = min(products, key=lambda p: p.price)
        return Turn(
            f"Side by side: {' vs '.join(p.title for p in products)}. {cheapest.title} is the cheapest.",
            replace(state, focus=products[0].sku),
            compare=compare,
        )

    def _on_product_question(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        sku = self._referenced(slots, state)
        product = self._get(sku) if sku else None
        if product is None:
            return self._which(state)
        if _only_points(text):  # "the second one?"
            return self._on_point(text, slots, state)
        return Turn(answer(text, product, slots.get("attribute")), replace(state, focus=product.sku))

    def _on_point(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        """A bare reference ("the second one", "that one"): the product in focus, described; the
        cart is left alone."""
        sku = self._referenced(slots, state)
        product = self._get(sku) if sku else None
        if product is None:
            return self._which(state)
        in_cart = carts.quantity_of(state.cart, product.sku)
        then = "It is in your cart." if in_cart else "Say “add it to my cart” to take it, or ask me about it."
        described = _first_sentence(product.description)
        return Turn(
            f"{summary(product)}{f' {described}' if described else ''} {then}",
            replace(state, focus=product.sku),
            suggestions=["add it to my cart", "tell me more about it", "similar ones"],
        )

    def _on_add_to_cart(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        if not carts.asks_to_add(text):
            return self._on_point(text, slots, state)
        sku = self._referenced(slots, state)
        product = self._get(sku) if sku else None
        if product is None:
            return self._which(state, "Which one should I add? Say for example “the second one”.")
        state = replace(state, focus=product.sku)
        quantity = carts.said_quantity(text)
        if carts.quantity_of(state.cart, product.sku) and quantity is None and not carts.asks_again(text):
            return Turn(
                f"{product.title} is already in your cart. Say “add another” for one more.",
                state,
                suggestions=["add another", "what's in my cart?"],
            )
        self.catalog.feedback(product.sku, "add_to_cart")
        cart = carts.added(state.cart, product.sku, quantity or 1)
        return Turn(
            f"Added {f'{quantity} × ' if quantity and quantity > 1 else ''}{product.title} to your cart. "
            f"{self._cart_total(cart)}",
            replace(state, cart=cart),
            suggestions=["what's in my cart?", "remove it from my cart"],
        )

    # ------------------------------------------------------------------ the cart

    def _on_cart(
        self, text: str, request: carts.CartRequest, slots: Mapping[str, Any], state: DialogueState
    ) -> Turn:
        cart = state.cart
        if request.action == "show":
            return Turn(self._cart_text(cart), state, suggestions=_cart_steps(cart))
        if request.action == "checkout":
            held = f" {self._cart_total(cart)}" if cart else " Your cart is empty."
            return Turn(
                "I can't take orders or payments in this chat: please use the shop's checkout to buy." + held,
                state,
                suggestions=["what's in my cart?"],
            )
        if request.action == "clear":
            return Turn("I emptied your cart.", replace(state, cart=[]), suggestions=self.examples())
        sku = self._cart_target(text, slots, state)
        product = self._get(sku) if sku else None
        if request.action == "remove":
            if not cart:
                return Turn("Your cart is empty.", state)
            if product is None or not carts.quantity_of(cart, product.sku):
                return Turn(
                    f"Which item should I remove? {self._cart_text(cart)}",
                    state,
                    suggestions=_cart_steps(cart),
                )
            cart = carts.without(cart, product.sku)
            return Turn(
                f"Removed {product.title} from your cart. {self._cart_total(cart)}",
                replace(state, cart=cart),
                suggestions=_cart_steps(cart),
            )
        if product is None:  # a quantity
            return self._which(
                state, "Which product do you want that many of? Say for example “two of the first one”."
            )
        assert request.quantity is not None
        if not carts.quantity_of(cart, product.sku):
            self.catalog.feedback(product.sku, "add_to_cart")
        cart = carts.with_quantity(cart, product.sku, request.quantity)
        return Turn(
            f"Your cart now has {request.quantity} × {product.title}. {self._cart_total(cart)}",
            replace(state, cart=cart, focus=product.sku),
            suggestions=_cart_steps(cart),
        )

    def _cart_target(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> str | None:
        """The product a cart request means: the one referenced (in the last list, else the
        cart's own order), the one in focus, the cart's only item, or the item whose title the
        words name."""
        held = carts.skus(state.cart)
        if slots.get("reference"):
            position = slots["reference"][0]
            listed = self._positions([position], state)[0]
            if listed in held:
                return listed
            index = position - 1 if position > 0 else len(held) + position
            return held[index] if 0 <= index < len(held) else listed
        words = set(text.lower().split()) - {"the", "a", "my", "from", "cart", "remove", "it", "one"}
        named = [view for view in self.catalog.products(held) if words & set(view.title.lower().split())]
        if len(named) == 1:
            return named[0].sku
        if state.focus and (state.focus in held or not held):
            return state.focus
        return held[0] if len(held) == 1 else None

    def _cart_text(self, cart: carts.Cart) -> str:
        if not cart:
            return "Your cart is empty."
        views = {view.sku: view for view in self.catalog.products(carts.skus(cart))}
        listed = [
            f"{line['quantity']} × {view.title} ({_money(view.price, view.currency)} each)"
            for line in cart
            if (view := views.get(line["sku"])) is not None
        ]
        count = carts.item_count(cart)
        items = f"{count} item{'s' * (count != 1)}"
        return f"In your cart: {'; '.join(listed)}. Total: {self._money_by_currency(cart)} ({items})."

    def _cart_total(self, cart: carts.Cart) -> str:
        """The cart's size and its total in each currency: "3 items, 2,120.00 SAR and 49.99 USD"."""
        if not cart:
            return "Your cart is empty."
        count = carts.item_count(cart)
        return f"Your cart: {count} item{'s' * (count != 1)}, {self._money_by_currency(cart)}."

    def _money_by_currency(self, cart: carts.Cart) -> str:
        """The cart's total in each currency it holds: "2,120.00 SAR and 49.99 USD"."""
        views = {view.sku: view for view in self.catalog.products(carts.skus(cart))}
        totals: dict[str, float] = {}
        for line in cart:
            view = views.get(line["sku"])
            if view is not None:
                totals[view.currency] = totals.get(view.currency, 0.0) + view.price * line["quantity"]
        return " and ".join(_money(total, currency) for currency, total in totals.items())

    def react(self, sku: str, action: str, state: DialogueState) -> DialogueState:
        """A product card's button (``like``, ``dislike``, ``add_to_cart``, ``click``): the feedback
        is recorded and the state follows. "Add to cart" on a product already there adds nothing."""
        self.catalog.feedback(sku, action)
        liked = [item for item in state.liked if item != sku]
        match action:
            case "add_to_cart":
                cart = state.cart if carts.quantity_of(state.cart, sku) else carts.added(state.cart, sku)
                return replace(state, cart=cart, focus=sku)
            case "like":
                return replace(state, liked=[*liked, sku], focus=sku)
            case "dislike":
                return replace(state, liked=liked, focus=sku)
        return replace(state, focus=sku)

    def _on_feedback_positive(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        return self._feedback(text, slots, state, "like", "Glad you like {title}. I'll keep that in mind.")

    def _on_feedback_negative(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        return self._feedback(text, slots, state, "dislike", "Noted, less like {title} from now on.")

    def _feedback(
        self, text: str, slots: Mapping[str, Any], state: DialogueState, action: str, reply: str
    ) -> Turn:
        if "reference" not in slots and any(slot in FILTER_SLOTS for slot in slots):
            # "I don't like velvet", "I love oak": about the search, not a product.
            return self._on_refine(text, slots, state)
        sku = self._referenced(slots, state)
        product = self._get(sku) if sku else None
        if product is None:
            return self._which(state)
        return Turn(reply.format(title=product.title), self.react(product.sku, action, state))

    def _get(self, sku: str) -> ProductView | None:
        found = self.catalog.products([sku])
        return found[0] if found else None

    def _referenced(self, slots: Mapping[str, Any], state: DialogueState) -> str | None:
        """The product a reference names ("the second one"), else the one in focus, else a lone result."""
        if slots.get("reference"):
            return self._positions(slots["reference"][:1], state)[0]
        if state.focus:
            return state.focus
        return state.shown[0] if len(state.shown) == 1 else None

    def _positions(self, positions: Sequence[int], state: DialogueState) -> list[str | None]:
        picked = []
        for position in positions:
            index = position - 1 if position > 0 else len(state.shown) + position
            picked.append(state.shown[index] if 0 <= index < len(state.shown) else None)
        return picked

    # ------------------------------------------------------------------ talk

    def _on_reset(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        """A new conversation; the cart and the liked products are the shopper's, and stay."""
        return Turn(
            "Starting afresh. What are you looking for?",
            DialogueState(cart=state.cart, liked=state.liked),
            suggestions=self.examples(),
        )

    def _on_greet(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        return Turn("Hello! Tell me what you are looking for.", state, suggestions=self.examples())

    def _on_help(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        return Turn(
            "Describe a product (type, colour, material, budget); then say “cheaper”, “more”, "
            "“compare the first two”, “how wide is it” or “add it to my cart”.",
            state,
            suggestions=[*self.examples()[:2], *FOLLOW_UPS],
        )

    def _on_goodbye(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        return Turn("Thanks for visiting. Your cart is kept for this session.", state)

    def _on_out_of_scope(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        return Turn(
            "I can only help with products in this shop. Try one of these:",
            state,
            suggestions=self.examples(),
        )

    def _on_shop_question(self, topic: str, state: DialogueState) -> Turn:
        """What the shop sells and which brands, from the catalog; policies are not known here."""
        overview = self.catalog.overview()
        if topic == "brands" and overview.brands:
            shown = overview.brands[:SHOWN_NAMES]
            more = (
                f", and {len(overview.brands) - len(shown)} more" if len(overview.brands) > len(shown) else ""
            )
            return Turn(f"Brands here include {', '.join(shown)}{more}.", state, suggestions=shown[:4])
        if topic == "range" and overview.types:
            shown = overview.types[:SHOWN_NAMES]
            return Turn(
                f"We sell {', '.join(map(plural_of, shown))}, and more. What are you looking for?",
                state,
                suggestions=shown[:4],
            )
        return Turn(
            "I can't answer questions about delivery, returns, payment or the shop itself; the shop's "
            "pages or staff can. I can help you find products.",
            state,
            suggestions=self.examples(),
        )

    def _guide(self, text: str, state: DialogueState) -> Turn:
        """A vague request ("a gift for my dad", "stuff"): one question, with kinds of product and
        budgets from the catalog as chips; the answer is searched."""
        overview = self.catalog.overview()
        gift = re.search(r"\b(gift|present|birthday|christmas|anniversary|for (my|our|a) )", text.lower())
        question = (
            "Happy to help. What do they like, or what is it for? Or pick a kind of product or a budget:"
            if gift
            else "What kind of product are you after? For example:"
        )
        return Turn(
            question,
            replace(state, pending="interest"),
            suggestions=[*overview.types[:4], *overview.price_bands[:2]],
        )

    def _on_interest(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        """The answer to the guide's question. A kind of product is searched; an interest ("he
        likes music") shows the products whose own text speaks of it, never merely similar ones."""
        interest = _interest(text)
        if "category" in slots or self.catalog.kind_of(interest) is not None:
            return self._ask_budget(self._on_search(interest, slots, state))
        fresh = DialogueState(
            query=interest,
            constraints={"feature": [interest]},
            cart=state.cart,
            liked=state.liked,
            turns=state.turns,
        )
        results = self.catalog.search(interest, fresh.constraints, self.page_size, [])
        if not results.products:
            return Turn(
                f"I have nothing about {interest} here. What kind of product would suit them?",
                replace(state, pending="interest"),
                suggestions=self.examples(),
            )
        return self._ask_budget(self._show(fresh, results))

    def _ask_budget(self, turn: Turn) -> Turn:
        """The guide's second question, after the interest's products: a budget, with chips at
        prices those products span."""
        prices, currency = _in_one_currency(turn.products)
        if len(prices) < 2 or turn.state.constraints.get("price_max") is not None:
            return turn
        bands = dict.fromkeys(
            f"under {round_price(statistics.quantiles(prices, n=3)[share]):,.0f} {currency}".rstrip()
            for share in (0, 1)
        )
        return replace(
            turn,
            text=f"{turn.text} Any budget in mind?",
            state=replace(turn.state, pending="budget"),
            suggestions=[*bands, "no budget"],
        )

    def examples(self) -> list[str]:
        """Requests to try, from the catalog's most stocked types."""
        types = self.catalog.overview().types
        return types[:4] if types else SUGGESTIONS[:2]

    def _clarify(
        self, state: DialogueState, question: str = "I am not sure what you mean. Did you want one of these?"
    ) -> Turn:
        return Turn(question, state, suggestions=[*self.examples()[:2], *FOLLOW_UPS[:2]], outcome=CLARIFIED)

    def _which(
        self,
        state: DialogueState,
        question: str = "Which product do you mean? Say for example “the first one”.",
    ) -> Turn:
        return Turn(question, state, products=[], suggestions=["the first one", "the last one"])


def fresh_list(state: DialogueState, found: Sequence[ProductView]) -> DialogueState:
    """The state once ``found`` is shown as the first page of a search."""
    skus = [product.sku for product in found]
    return replace(state, shown=skus, seen=skus, focus=None, similar_to=None)


def merged(
    constraints: Mapping[str, Any],
    slots: Mapping[str, Any],
    prices_shown: Sequence[float],
    currency: str = "",
) -> tuple[dict[str, Any], str]:
    """A refinement applied to active constraints, and the phrase naming a new price bound.

    New values override a slot; exclusions add up and take the value out of the wanted list;
    ``price_relative`` moves the bound past the focused product or the median shown price and
    lifts the opposite bound: after "cheaper", "more expensive" must not stay under the old ceiling.
    The new bound is in ``currency``, the one the shown prices are in.
    """
    result = dict(constraints)
    for slot, value in slots.items():
        if slot not in ACTIVE_SLOTS:
            continue
        if wanted := SLOTS[slot].excludes:
            result[slot] = list(dict.fromkeys([*result.get(slot, []), *value]))
            remaining = [item for item in result.get(wanted, []) if item not in value]
            result[wanted] = remaining
            if not remaining:
                result.pop(wanted)
        else:
            result[slot] = value
    note = ""
    direction = slots.get("price_relative")
    if direction and prices_shown:
        reference = statistics.median(prices_shown)
        same_currency = not currency or constraints.get("currency") in (None, currency)
        if currency:
            result["currency"] = currency
        unit = f" {currency}" if currency else ""
        if direction == "lower":
            # Below what was shown, in whole cents, and never above the budget already said.
            ceiling = math.ceil(reference * 100) / 100 - 0.01
            said = constraints.get("price_max") if same_currency else None
            result["price_max"] = round(min(ceiling, said) if said is not None else ceiling, 2)
            result.pop("price_min", None)
            note = f" under {result['price_max']:,.0f}{unit}"  # as the cards say it
        else:
            result["price_min"] = round(reference * 1.001, 2)
            result.pop("price_max", None)
            note = f" over {result['price_min']:,.0f}{unit}"
    return result, note


def field_value(product: ProductView, name: str) -> Any:
    """A product's field for a question or a comparison row."""
    attributes = product.attributes
    match name:
        case "title":
            return product.title
        case "price":
            return f"{product.price:,.2f} {product.currency}".strip()
        case "brand":
            return product.brand or None
        case "rating":
            return product.rating
        case "availability":
            return None if product.stock is None else ("in stock" if product.stock else "out of stock")
        case "description":
            return product.description or None
        case "dimensions":
            parts = [
                f"{key} {attributes[key]}" for key in ("width", "depth", "height") if attributes.get(key)
            ]
            return ", ".join(parts) or attributes.get("size")
        case _:
            value = attributes.get(name)
            return ", ".join(map(str, value)) if isinstance(value, list) else value


def describe(constraints: Mapping[str, Any]) -> str:
    """Constraints as a shopper would say them: "grey 3-seat sofa with storage under 1,000 SAR"."""
    words = [
        *constraints.get("color", []),
        *constraints.get("material", []),
        *constraints.get("style", []),
        *constraints.get("brand", []),
        constraints.get("category") or ("products" if constraints else ""),
    ]
    words += [f"with {feature}" for feature in constraints.get("feature", [])]
    words += [Measure.from_slot(measure).describe() for measure in constraints.get("dimension", [])]
    currency = f" {constraints['currency']}" if constraints.get("currency") else ""
    if constraints.get("price_max") is not None:
        words.append(f"under {constraints['price_max']:,.0f}{currency}")
    if constraints.get("price_min") is not None:
        words.append(f"over {constraints['price_min']:,.0f}{currency}")
    for slot, said in (("exclude_color", "not"), ("exclude_material", "not"), ("exclude_brand", "not by")):
        if constraints.get(slot):
            words.append(f"{said} {' or '.join(constraints[slot])}")
    return " ".join(word for word in words if word)


def _relaxation(slot: str, value: Any, found: Sequence[ProductView]) -> str:
    first = found[0]
    if slot == "price_max":
        return f"the cheapest is {first.title} at {first.price:,.2f} {first.currency}".rstrip()
    if slot == "price_min":
        return f"the dearest is {first.title} at {first.price:,.2f} {first.currency}".rstrip()
    return f"here are the closest, {_without(slot, value)}"


def _without(slot: str, value: Any) -> str:
    """What dropping a filter lets in: "without “grey”", "above 2,000"."""
    if slot == "price_max":
        return f"above {value:,.0f}"
    if slot == "price_min":
        return f"below {value:,.0f}"
    if slot == "dimension":
        shown = ", ".join(Measure.from_slot(measure).describe() for measure in value)
    else:
        shown = ", ".join(value) if isinstance(value, list) else str(value)
    return f"without “{shown}”"


def _notes(notes: Sequence[str]) -> str:
    """Constraints that could not be applied, as sentences after the reply."""
    return "".join(f" Note: {note[:1].upper()}{note[1:]}." for note in notes)


def _is_a_search(frame: Frame, state: DialogueState, text: str = "") -> bool:
    """Words whose intent has nothing to act on are a search: "hi, any bunk beds?" greets and
    asks; "how much is the billy bookcase" asks about a product before any list is shown. "How
    tall is it?" with nothing shown is not: there is no "it" to search for."""
    if frame.intent in ("greet", "goodbye", "help") and "category" in frame.slots:
        return True
    if "category" not in frame.slots and re.search(r"\b(it|this one|that one|them)\b", text.lower()):
        return False
    acts_on_a_list = ("product_question", "compare", "similar", "add_to_cart", "feedback_positive")
    nothing_shown = not state.shown and not state.focus and "reference" not in frame.slots
    return frame.intent in (*acts_on_a_list, "feedback_negative") and nothing_shown


def _concrete(frame: Frame) -> bool:
    """A search or refinement with a hard constraint (a budget, a brand, a colour...): acting on it
    beats asking, however unsure the parser is of the intent."""
    return frame.intent in ("search", "refine") and any(slot in FILTER_SLOTS for slot in frame.slots)


def summary(product: ProductView) -> str:
    """A product in one sentence: "KIVIK 3-seat sofa: 2,995.00 SAR, by IKEA, grey, 228 × 95 × 83 cm."."""
    facts = [_money(product.price, product.currency)]
    if product.brand:
        facts.append(f"by {product.brand}")
    for name in ("color", "material"):
        value = field_value(product, name)
        if value:
            facts.append(str(value))
    sizes = [
        str(product.attributes[name]) for name in ("width", "depth", "height") if product.attributes.get(name)
    ]
    if len(sizes) == 3:
        facts.append(f"{' × '.join(sizes)} cm")
    if product.rating is not None:
        facts.append(f"rated {product.rating:g}/5")
    return f"{product.title}: {', '.join(facts)}."


def _first_sentence(text: str, limit: int = 200) -> str:
    """The description's first sentence (at most ``limit`` characters), ending in one stop."""
    sentence = re.split(r"(?<=[.!?])\s", " ".join(text.split()), maxsplit=1)[0] if text else ""
    sentence = sentence[:limit].rstrip(" .")
    return f"{sentence}." if sentence else ""


UNCOUNTED = re.compile(
    r"storage|furniture|lighting|bedding|seating|equipment|software|hardware|decor|decoration|"
    r"(glass|cook|table|kitchen)ware|audio|textile"
)
"""Head nouns a shopper never says in the plural: "we sell storage", not "storages"."""


def _in_one_currency(products: Sequence[ProductView]) -> tuple[list[float], str]:
    """The prices of ``products`` in the currency most of them are in, and that currency."""
    if not products:
        return [], ""
    currency = Counter(product.currency for product in products).most_common(1)[0][0]
    return [product.price for product in products if product.currency == currency], currency


def round_price(value: float) -> float:
    """A budget a person would say: 237 -> 250, 1,460 -> 1,500."""
    step = 10 ** max(0, len(str(int(value))) - 2) * 5 if value >= 100 else 10
    return max(step, round(value / step) * step)


def _interest(text: str) -> str:
    """What a guided shopper's answer is about: "he likes music" -> "music"."""
    said = re.sub(
        r"^\W*(well,? )?((he|she|they|we|i|my \w+)( really)?( likes?| loves?| enjoys?| is into| are into"
        r"|'s into| am into| collects?| plays?)|(something )?for)\s+",
        "",
        text,
        flags=re.IGNORECASE,
    )
    return said.strip(" .,!?") or text


def plural_of(name: str) -> str:
    """A product type in the plural, as a shopper says it: "sofas", "bookcases", "storage"."""
    head = name.rsplit(" ", 1)[-1].lower()
    if UNCOUNTED.fullmatch(head) or (head.endswith("s") and not head.endswith(("ss", "us"))):
        return name
    if re.search(r"(s|x|z|ch|sh)$", head):
        return f"{name}es"
    if re.search(r"[^aeiou]y$", head):
        return f"{name[:-1]}ies"
    return f"{name}s"


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.2f} {currency}".strip()


def _cart_steps(cart: carts.Cart) -> list[str]:
    return ["checkout", "empty my cart"] if cart else ["cheaper", "more"]


_SUPERLATIVE = (
    r"(cheapest|least expensive|most expensive|priciest|dearest|best rated|highest rated|top rated)"
)
_ONE_OF_THEM = re.compile(
    rf"\b(the {_SUPERLATIVE}( one| of them| option| item)?|{_SUPERLATIVE} (one|option|item))\b(?! ?ones)"
)
"""A superlative that names one product ("the cheapest one"), not an order ("cheapest first")."""
_NO_BUDGET = re.compile(r"\W*(no|none|nope|not really|no budget|any|anything|doesn'?t matter|whatever)\W*$")


def _only_points(text: str) -> bool:
    """Words that only point at a product: "the second one", "that one?"."""
    return bool(
        re.fullmatch(
            r"\W*(and |what about |how about |show me |tell me about )?(the |that |this )?"
            r"((first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|\d+(st|nd|rd|th)) )?"
            r"(one|item|product)( please)?\W*",
            text.lower(),
        )
    )


def _next_steps(found: Sequence[ProductView]) -> list[str]:
    steps = ["cheaper", "more"]
    if len(found) >= 2:
        steps.append("compare the first two")
    return steps


OPENINGS = ("Here are {n} options", "I found {n}", "{n} that fit")
OPENINGS_OF_ONE = ("Here is {n} option", "I found {n}", "{n} that fits")


def _vary(turn: int, phrasings: Sequence[str]) -> str:
    return phrasings[turn % len(phrasings)]
