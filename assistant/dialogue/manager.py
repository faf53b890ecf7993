"""The dialogue manager: one parsed frame plus the conversation's state in, a reply out.

Pure Python. The catalog it searches is a :class:`Catalog` the app provides (retrieval, ranking
and the database behind it); tests can give it any other.
"""

import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from assistant.nlu.frame import HARD_SLOTS, Frame

from .state import CONSTRAINT_SLOTS, DialogueState

CONFIDENCE_FLOOR = 0.45
"""Below this the manager asks instead of guessing."""
RELAX_ORDER = ("price_max", "price_min", "color", "material", "style", "feature", "brand", "size", "room")
"""Constraints dropped one at a time, in this order, when nothing matches."""
OUT_OF_SCOPE_SURE = 0.8
"""Below this an "out of scope" frame is searched for anyway: in a shop, looking is the better guess."""
SMALL_TALK = frozenset({"greet", "goodbye", "help", "out_of_scope", "reset"})
SUGGESTIONS = ["grey sofa under 1000", "cheaper", "compare the first two", "add the second one to my cart"]
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


class Catalog(Protocol):
    """The shop as the dialogue sees it."""

    def search(
        self, query: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]
    ) -> list[ProductView]: ...

    def similar(
        self, sku: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]
    ) -> list[ProductView]: ...

    def products(self, skus: Sequence[str]) -> list[ProductView]:
        """The products with these SKUs in the order given; unknown or inactive ones left out."""
        ...

    def feedback(self, sku: str, action: str) -> None: ...


@dataclass
class Turn:
    """The reply to one message (CONTRACTS §4 without the transport fields)."""

    text: str
    state: DialogueState
    products: list[ProductView] = field(default_factory=list)
    compare: dict[str, Any] | None = None
    suggestions: list[str] = field(default_factory=list)


class DialogueManager:
    """Answers frames against a catalog, ``page_size`` products at a time."""

    def __init__(self, catalog: Catalog, page_size: int = 10) -> None:
        self.catalog = catalog
        self.page_size = page_size

    def respond(self, text: str, frame: Frame, state: DialogueState) -> Turn:
        state = replace(state, turns=state.turns + 1)
        if frame.intent == "out_of_scope" and frame.confidence < OUT_OF_SCOPE_SURE:
            frame = Frame("search", frame.confidence, frame.slots)
        if frame.confidence < CONFIDENCE_FLOOR and frame.intent not in SMALL_TALK and not _concrete(frame):
            return self._clarify(state)
        handler = getattr(self, f"_on_{frame.intent}", self._on_out_of_scope)
        return handler(text, frame.slots, state)

    # ------------------------------------------------------------------ searching

    def _on_search(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        constraints = {slot: value for slot, value in slots.items() if slot in CONSTRAINT_SLOTS}
        fresh = DialogueState(query=text, constraints=constraints, cart=state.cart, turns=state.turns)
        if constraints or len(text.split()) > 1:
            return self._search(fresh)
        # One word and no slot: a product type the parser did not tag ("table"), or too vague ("stuff").
        typed = {"category": text.strip(" ?!.").lower()}
        found = self._find(text, typed)
        if not fits(found, typed):
            return self._clarify(state, "What kind of product are you looking for?")
        return self._show(replace(fresh, constraints=typed), found)

    def _on_refine(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        if not state.query:
            return self._on_search(text, slots, state)
        constraints, bound = merged(state.constraints, slots, self._prices_shown(state))
        # Relaxing must not undo what the shopper has just asked for.
        keep = {*slots, *(("price_max", "price_min") if "price_relative" in slots else ())}
        return self._search(replace(state, constraints=constraints, shown=[], seen=[]), bound, keep)

    def _on_more(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        if not state.query:
            return self._clarify(state, "More of what? Tell me what you are looking for.")
        if state.similar_to:
            found = self.catalog.similar(state.similar_to, state.constraints, self.page_size, state.seen)
        else:
            found = self.catalog.search(state.query, state.constraints, self.page_size, state.seen)
        if not found:
            return Turn("That was everything that matches. Want to loosen a constraint?", state)
        state = replace(state, shown=[p.sku for p in found], seen=[*state.seen, *(p.sku for p in found)])
        return Turn(f"Here are {len(found)} more.", state, found)

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

    def _search(self, state: DialogueState, note: str = "", keep: Collection[str] = ()) -> Turn:
        found = self._find(state.query, state.constraints)
        if fits(found, state.constraints):
            return self._show(state, found, note)
        return self._relaxed(state, found, keep)

    def _show(self, state: DialogueState, found: list[ProductView], note: str = "") -> Turn:
        opening = _vary(state.turns, ("Here are {n} options", "I found {n}", "{n} that fit"))
        return Turn(
            f"{opening.format(n=len(found))}{note}.",
            fresh_list(state, found),
            found,
            suggestions=_next_steps(found),
        )

    def _find(self, query: str, constraints: Mapping[str, Any]) -> list[ProductView]:
        """A page of products, those of the asked-for type first (the type is not a hard filter)."""
        found = self.catalog.search(query, constraints, self.page_size, [])
        category = constraints.get("category")
        return sorted(found, key=lambda product: not is_a(product, category)) if category else found

    def _relaxed(self, state: DialogueState, closest: list[ProductView], keep: Collection[str]) -> Turn:
        """Drop one constraint at a time and say which one made the difference.

        ``closest`` (products of another type than asked for, or none) is shown when no single
        constraint makes the difference; the constraints in ``keep`` are never dropped.
        """
        for slot in RELAX_ORDER:
            if slot not in state.constraints or slot in keep:
                continue
            looser = {name: value for name, value in state.constraints.items() if name != slot}
            found = self._find(state.query, looser)
            if fits(found, looser):
                shown = fresh_list(state, found)
                return Turn(
                    f"Nothing matches {describe(state.constraints)}; "
                    f"here are the closest, {_relaxation(slot, state.constraints[slot], found)}.",
                    shown,
                    found,
                    suggestions=_next_steps(found),
                )
        if closest:
            return Turn(
                f"I found no {describe(state.constraints)}; these are the closest matches.",
                fresh_list(state, closest),
                closest,
                suggestions=_next_steps(closest),
            )
        return Turn(
            f"I could not find anything for {describe(state.constraints) or 'that'}. Try other words?",
            fresh_list(state, []),
            suggestions=SUGGESTIONS[:2],
        )

    def _prices_shown(self, state: DialogueState) -> list[float]:
        focus = self._get(state.focus) if state.focus else None
        if focus is not None:
            return [focus.price]
        return [product.price for product in self.catalog.products(state.shown)]

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
        attribute = slots.get("attribute", "description")
        value = field_value(product, attribute)
        state = replace(state, focus=product.sku)
        if value in (None, "", []):
            return Turn(f"The catalog does not say the {attribute} of {product.title}.", state)
        return Turn(f"{product.title}: {attribute} {value}.", state)

    def _on_add_to_cart(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        sku = self._referenced(slots, state)
        product = self._get(sku) if sku else None
        if product is None:
            return self._which(state, "Which one should I add? Say for example “the second one”.")
        self.catalog.feedback(product.sku, "add_to_cart")
        cart = [*state.cart, product.sku]
        return Turn(
            f"Added {product.title} to your cart ({len(cart)} item{'s' * (len(cart) != 1)}).",
            replace(state, cart=cart, focus=product.sku),
        )

    def _on_feedback_positive(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        return self._feedback(slots, state, "like", "Glad you like {title}. I'll keep that in mind.")

    def _on_feedback_negative(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        return self._feedback(slots, state, "dislike", "Noted, less like {title} from now on.")

    def _feedback(self, slots: Mapping[str, Any], state: DialogueState, action: str, reply: str) -> Turn:
        sku = self._referenced(slots, state)
        product = self._get(sku) if sku else None
        if product is None:
            return self._which(state)
        self.catalog.feedback(product.sku, action)
        return Turn(reply.format(title=product.title), replace(state, focus=product.sku))

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
        return Turn(
            "Starting afresh. What are you looking for?", DialogueState(), suggestions=SUGGESTIONS[:2]
        )

    def _on_greet(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        return Turn("Hello! Tell me what you are looking for.", state, suggestions=SUGGESTIONS[:2])

    def _on_help(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        return Turn(
            "Describe a product (type, colour, material, budget); then say “cheaper”, “more”, "
            "“compare the first two”, “how wide is it” or “add it to my cart”.",
            state,
            suggestions=SUGGESTIONS,
        )

    def _on_goodbye(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        return Turn("Thanks for visiting. Your cart is kept for this session.", state)

    def _on_out_of_scope(self, text: str, slots: Mapping[str, Any], state: DialogueState) -> Turn:
        return Turn(
            "I can only help with products in this shop. Try one of these:", state, suggestions=SUGGESTIONS
        )

    def _clarify(
        self, state: DialogueState, question: str = "I am not sure what you mean. Did you want one of these?"
    ) -> Turn:
        return Turn(question, state, suggestions=SUGGESTIONS)

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
    constraints: Mapping[str, Any], slots: Mapping[str, Any], prices_shown: Sequence[float]
) -> tuple[dict[str, Any], str]:
    """A refinement applied to active constraints, and the phrase naming a new price bound.

    New values override a slot; exclusions add up and take the value out of the wanted list;
    ``price_relative`` moves the bound past the focused product or the median shown price and
    lifts the opposite bound: after "cheaper", "more expensive" must not stay under the old ceiling.
    """
    result = dict(constraints)
    for slot, value in slots.items():
        if slot not in CONSTRAINT_SLOTS:
            continue
        if slot.startswith("exclude_"):
            wanted = slot.removeprefix("exclude_")
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
        if direction == "lower":
            result["price_max"] = round(reference * 0.999, 2)
            result.pop("price_min", None)
            note = f" under {reference:,.0f}"
        else:
            result["price_min"] = round(reference * 1.001, 2)
            result.pop("price_max", None)
            note = f" over {reference:,.0f}"
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


def is_a(product: ProductView, category: str) -> bool:
    """Whether ``product`` is of the type the shopper named: its head noun ("bed" of "children's
    bed", "chest" of "chest of drawers") in its title, categories or type, plurals aside."""
    words = category.lower().split()
    if not words:
        return True
    head = words[words.index("of") - 1] if "of" in words[1:] else words[-1]
    text = " ".join([product.title, *product.categories, str(product.attributes.get("type", ""))]).lower()
    return singular(head) in text


def fits(found: Sequence[ProductView], constraints: Mapping[str, Any]) -> bool:
    """A page answers the request: not empty and, when a type was named, some product is of it."""
    category = constraints.get("category")
    return bool(found) and (not category or any(is_a(product, category) for product in found))


def singular(word: str) -> str:
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def describe(constraints: Mapping[str, Any]) -> str:
    """Constraints as a shopper would say them: "grey sofa under 1,000"."""
    words = [
        *constraints.get("color", []),
        *constraints.get("material", []),
        *constraints.get("style", []),
        *constraints.get("brand", []),
    ]
    if constraints.get("category"):
        words.append(constraints["category"])
    if constraints.get("price_max") is not None:
        words.append(f"under {constraints['price_max']:,.0f}")
    if constraints.get("price_min") is not None:
        words.append(f"over {constraints['price_min']:,.0f}")
    return " ".join(words)


def _relaxation(slot: str, value: Any, found: Sequence[ProductView]) -> str:
    if slot == "price_max":
        return f"from {min(p.price for p in found):,.0f}"
    if slot == "price_min":
        return f"up to {max(p.price for p in found):,.0f}"
    shown = ", ".join(value) if isinstance(value, list) else str(value)
    return f"without “{shown}”"


def _concrete(frame: Frame) -> bool:
    """A search or refinement with a hard constraint (a budget, a brand, a colour...): acting on it
    beats asking, however unsure the parser is of the intent."""
    return frame.intent in ("search", "refine") and any(slot in HARD_SLOTS for slot in frame.slots)


def _next_steps(found: Sequence[ProductView]) -> list[str]:
    steps = ["cheaper", "more"]
    if len(found) >= 2:
        steps.append("compare the first two")
    return steps


def _vary(turn: int, phrasings: Sequence[str]) -> str:
    return phrasings[turn % len(phrasings)]
