"""Scripted multi-turn conversations over the IKEA + Best Buy catalogs, checked turn by turn.

Each dialogue of ``data/dialogues.json`` is a list of ``[utterance, expectations]``
turns, run through ``assistant.services.chat_turn`` (the code path of the
WebSocket and ``POST /api/chat/``) in a session of its own. Every turn is
checked against the database, not against the dialogue manager's own view:

- every shown product satisfies the active hard constraints (price, colour,
  material, brand and the exclusions; minus the one a relaxation dropped),
  and its card carries the catalog's title, price and brand and an explanation;
- references ("the second one", "it") resolve to the SKU the script's own
  tracking of the shown list and the focus says: the compared columns, the
  product a question is answered about, the cart and the feedback rows;
- answers quote the catalog's fields, or say the catalog does not have them;
- plus what the script expects: the intent, constraints, a cheaper or pricier
  bound, a new page, the topic of the top results, a clarifying question.

The pass rate is the share of turns that pass every check. Prints one JSON line.

    python benchmarks/dialogue_scripts.py              # imports and indexes once into --data-dir
    python benchmarks/dialogue_scripts.py --train-parser   # with the fine-tuned parser
"""

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DIALOGUES = Path(__file__).resolve().parent / "data" / "dialogues.json"
CATALOG_FILES = {"ikea": "ikea/ikea.csv", "bestbuy": "bestbuy/products.json"}
DIMENSIONS = ("width", "depth", "height")
TOPIC_DEPTH = 3
"""The first and most of this many top results must be about the asked-for product type."""

Chat = Callable[[str, str], Mapping[str, Any]]


@dataclass
class TurnResult:
    dialogue: str
    turn: int
    said: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Tracking:
    """What the script knows independently of the dialogue manager: the last list and the focus."""

    shown: list[str] = field(default_factory=list)
    focus: str | None = None
    cart: list[str] = field(default_factory=list)

    def resolve(self, reference: int | str) -> str | None:
        if reference == "focus":
            return self.focus
        index = reference - 1 if reference > 0 else len(self.shown) + reference
        return self.shown[index] if 0 <= index < len(self.shown) else None


def load_dialogues(path: Path = DIALOGUES) -> list[dict[str, Any]]:
    return json.loads(path.read_text())


def run_dialogues(dialogues: Sequence[Mapping[str, Any]], chat: Chat) -> list[TurnResult]:
    """Every turn of every dialogue, each dialogue in a new session, with its problems."""
    return [
        result
        for dialogue in dialogues
        for result in run_dialogue(dialogue, chat, f"script-{uuid.uuid4().hex}")
    ]


def run_dialogue(dialogue: Mapping[str, Any], chat: Chat, session_key: str) -> list[TurnResult]:
    from assistant.models import Conversation
    from recsys_plugins.models import FeedbackEvent

    tracking = Tracking()
    results = []
    for number, (said, expect) in enumerate(dialogue["turns"], start=1):
        result = TurnResult(dialogue["name"], number, said)
        previous = Tracking(list(tracking.shown), tracking.focus, list(tracking.cart))
        try:
            reply = chat(session_key, said)
        except Exception as problem:  # a crash is a failed turn, not the end of the run
            result.problems.append(f"chat raised {problem!r}")
            results.append(result)
            continue
        state = Conversation.objects.get(session_key=session_key).state
        stored = FeedbackEvent.objects.filter(session_key=session_key)
        feedback = list(stored.values_list("product__sku", "action"))
        result.problems = check_turn(reply, state, expect, previous, tracking, feedback, said)
        results.append(result)
    return results


FILLED = re.compile(r"\((\d+) that fit, then \d+ close ones")


def check_turn(
    reply: Mapping[str, Any],
    state: Mapping[str, Any],
    expect: Mapping[str, Any],
    previous: Tracking,
    tracking: Tracking,
    feedback: Sequence[tuple[str, str]],
    said: str = "",
) -> list[str]:
    """The problems of one turn; updates ``tracking`` with the list and focus it leaves."""
    problems: list[str] = []
    intent = expect.get("intent")
    if intent and reply["intent"] != intent:
        problems.append(f"intent {reply['intent']!r}, expected {intent!r}")
    constraints = state.get("constraints", {})
    for slot, value in expect.get("constraints", {}).items():
        if constraints.get(slot) != value:
            problems.append(f"constraint {slot}={constraints.get(slot)!r}, expected {value!r}")
    for slot in expect.get("absent", []):
        if slot in constraints:
            problems.append(f"stale constraint {slot}={constraints[slot]!r}")

    skus = [card["sku"] for card in reply["products"]]
    products = products_by_sku([*skus, *previous.shown, *((previous.focus,) if previous.focus else ())])
    problems += check_cards(reply["products"], products)
    active = dict(constraints)
    if relaxed := expect.get("relaxed"):
        active.pop(relaxed, None)
        if not reply["text"].startswith("No "):
            problems.append(f"no relaxation announced: {reply['text']!r}")
    # A page filled after the matches says how many fit; only those must meet every constraint.
    if filled := FILLED.search(reply["text"]):
        skus = skus[: int(filled.group(1))]
    for sku in skus:
        if reason := violation(products[sku], active):
            problems.append(f"{sku} breaks the constraints: {reason}")

    wanted = expect.get("products")
    if wanted == 0 and skus:
        problems.append(f"expected no products, got {len(skus)}")
    elif wanted is None and intent in ("search", "refine", "more", "similar") and not skus:
        problems.append(f"no products: {reply['text']!r}")
    if expect.get("new_page") and set(skus) & set(previous.shown):
        problems.append("the next page repeats products")
    if topics := expect.get("mentions"):
        top = [products[sku] for sku in skus[:TOPIC_DEPTH]]
        off_topic = [p.title for p in top if not any(word in product_words(p) for word in topics)]
        if len(off_topic) * 2 > len(top) or (top and top[0].title in off_topic):
            problems.append(f"top results not about {'/'.join(topics)}: {off_topic}")
    if expect.get("cheaper") or expect.get("pricier"):
        lower = bool(expect.get("cheaper"))
        problems += check_price_bound(reply, constraints, previous, products, lower)
    asked = not skus and reply["suggestions"]
    if expect.get("clarify") and not asked:
        problems.append(f"expected a clarifying question with suggestions, got {reply['text']!r}")
    if expect.get("suggestions") and not reply["suggestions"]:
        problems.append("expected suggestions")

    referenced = [previous.resolve(reference) for reference in expect.get("ref", [])]
    if None in referenced:
        problems.append(f"the script's reference {expect['ref']} is outside the last list")
    elif referenced:
        problems += check_reference(reply, state, expect, referenced, previous, feedback)
        products |= products_by_sku(referenced)
        if "answer" in expect:
            problems += check_answer(reply["text"], products[referenced[0]], expect["answer"], said)

    cart = stored_cart(state)
    if "cart" in expect and len(cart) != expect["cart"]:
        problems.append(f"cart holds {len(cart)}, expected {expect['cart']}")
    if reply["state"].get("cart", []) != cart:
        problems.append("the reply's cart differs from the stored one")

    if skus or intent in ("search", "refine", "similar", "reset"):
        tracking.shown = skus
    if referenced and None not in referenced:
        tracking.focus = referenced[0]
    elif intent in ("search", "refine", "reset"):
        tracking.focus = None
    return problems


def check_cards(cards: Sequence[Mapping[str, Any]], products: Mapping[str, Any]) -> list[str]:
    problems = []
    for card in cards:
        product = products.get(card["sku"])
        if product is None:
            problems.append(f"{card['sku']} is not an active product")
            continue
        brand = product.brand.name if product.brand else ""
        if (card["title"], card["price"], card["brand"]) != (product.title, float(product.price), brand):
            problems.append(f"{card['sku']} card differs from the catalog")
        if not card["explanation"]:
            problems.append(f"{card['sku']} has no explanation")
    return problems


def violation(product: Any, constraints: Mapping[str, Any]) -> str:
    """Why ``product`` breaks a hard constraint, or ``""``."""
    from catalog.retrieval.constraints import normalise_key

    price = float(product.price)
    if constraints.get("price_max") is not None and price > constraints["price_max"]:
        return f"price {price} over {constraints['price_max']}"
    if constraints.get("price_min") is not None and price < constraints["price_min"]:
        return f"price {price} under {constraints['price_min']}"
    attributes = product.attribute_dict()
    values = {
        "color": {normalise_key(value) for value in as_list(attributes.get("color"))},
        "material": {normalise_key(value) for value in as_list(attributes.get("material"))},
        "brand": {normalise_key(product.brand.name)} if product.brand else set(),
    }
    for slot, has in values.items():
        wanted = {normalise_key(value) for value in constraints.get(slot, [])}
        if wanted and not wanted & has:
            return f"{slot} {sorted(has)} is not {sorted(wanted)}"
        excluded = {normalise_key(value) for value in constraints.get(f"exclude_{slot}", [])}
        if excluded & has:
            return f"{slot} {sorted(excluded & has)} is excluded"
    return ""


def check_price_bound(
    reply: Mapping[str, Any],
    constraints: Mapping[str, Any],
    previous: Tracking,
    products: Mapping[str, Any],
    lower: bool,
) -> list[str]:
    """A "cheaper" ceiling below the focused product, else the median shown price ("pricier": a floor)."""
    priced = [previous.focus] if previous.focus else previous.shown
    prices = [float(products[sku].price) for sku in priced]
    if not prices:
        return ["nothing was shown to be cheaper than"]
    reference = statistics.median(prices)
    bound = constraints.get("price_max" if lower else "price_min")
    if bound is None or (bound >= reference if lower else bound <= reference):
        return [f"bound {bound} does not move {'below' if lower else 'above'} {reference}"]
    if not any(f"{price:,.0f}" in reply["text"] for price in (reference, bound)):
        return [f"the reply does not say the new bound {reference:,.0f}: {reply['text']!r}"]
    return []


def check_reference(
    reply: Mapping[str, Any],
    state: Mapping[str, Any],
    expect: Mapping[str, Any],
    referenced: list[str],
    previous: Tracking,
    feedback: Sequence[tuple[str, str]],
) -> list[str]:
    """The product(s) a reference names are the ones the turn acted on."""
    intent = expect.get("intent")
    if intent == "compare":
        compared = (reply["compare"] or {}).get("skus")
        return [] if compared == referenced else [f"compared {compared}, expected {referenced}"]
    if intent == "add_to_cart":
        cart = stored_cart(state)
        return [] if cart[-1:] == referenced[:1] else [f"cart ends {cart[-1:]}, expected {referenced[0]}"]
    if intent in ("feedback_positive", "feedback_negative"):
        action = expect.get("feedback")
        return [] if (referenced[0], action) in feedback else [f"no {action} stored for {referenced[0]}"]
    if intent == "similar":
        problems = [] if state.get("focus") == referenced[0] else [f"similar to {state.get('focus')}"]
        if referenced[0] in [card["sku"] for card in reply["products"]]:
            problems.append("the product itself is listed as similar to itself")
        return problems
    if state.get("focus") != referenced[0]:
        return [f"answered about {state.get('focus')}, expected {referenced[0]}"]
    return []


def stored_cart(state: Mapping[str, Any]) -> list[str]:
    """The SKUs of the stored state's cart (lines of SKU and quantity), in order."""
    from assistant.dialogue.cart import lines, skus

    return skus(lines(state.get("cart")))


def check_answer(text: str, product: Any, attribute: str, question: str = "") -> list[str]:
    """The answer quotes the catalog's value of ``attribute`` (of the one measure a "how wide"
    asks for), or says the catalog lacks it."""
    attributes = product.attribute_dict()
    asked = re.search(r"how (wide|tall|high|deep)", question)
    if attribute == "dimensions" and asked:
        key = {"wide": "width", "tall": "height", "high": "height", "deep": "depth"}[asked.group(1)]
        value = attributes.get(key)
        if value in (None, ""):
            return [] if "does not" in text else [f"the catalog has no {key}, but the reply is {text!r}"]
        return [] if f"{value} cm" in text else [f"the answer {text!r} lacks '{value} cm'"]
    expected: list[str] = {
        "price": [f"{float(product.price):,.2f}"],
        "brand": [product.brand.name] if product.brand else [],
        "color": as_list(attributes.get("color")),
        "material": as_list(attributes.get("material")),
        "dimensions": [f"{key} {attributes[key]}" for key in DIMENSIONS if attributes.get(key)]
        or as_list(attributes.get("size")),
        "rating": [str(product.rating)] if product.rating is not None else [],
        "availability": [] if product.stock is None else ["in stock" if product.stock else "out of stock"],
        "description": [product.description[:40]] if product.description else [],
    }[attribute]
    if not expected:
        honest = any(words in text for words in ("does not say", "does not give", "has no"))
        return [] if honest else [f"the catalog has no {attribute}, but the reply is {text!r}"]
    missing = [value for value in expected if value not in text]
    return [f"the answer {text!r} lacks {missing}"] if missing else []


def products_by_sku(skus: Sequence[str]) -> dict[str, Any]:
    from catalog.models import Product

    found = (
        Product.objects.active()
        .filter(sku__in=set(skus))
        .select_related("brand")
        .prefetch_related("categories", "attribute_values__attribute")
    )
    return {product.sku: product for product in found}


def product_words(product: Any) -> str:
    categories = " ".join(category.full_name for category in product.categories.all())
    kind = product.attribute_dict().get("type", "")
    return f"{product.title} {categories} {kind}".lower()


def as_list(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [str(item) for item in values if item not in (None, "")]


def summary(results: Sequence[TurnResult]) -> dict[str, Any]:
    dialogues: dict[str, bool] = {}
    for result in results:
        dialogues[result.dialogue] = dialogues.get(result.dialogue, True) and result.ok
    passed = sum(result.ok for result in results)
    return {
        "dialogues": len(dialogues),
        "turns": len(results),
        "turns_passed": passed,
        "turn_pass_rate": round(passed / len(results), 4) if results else 0.0,
        "dialogue_pass_rate": round(sum(dialogues.values()) / len(dialogues), 4) if dialogues else 0.0,
        "failures": [
            {"dialogue": r.dialogue, "turn": r.turn, "said": r.said, "problems": r.problems}
            for r in results
            if not r.ok
        ],
    }


def prepare(data: Path, train_parser: bool) -> str:
    """Migrate, import both catalogs and build the index unless done already; the parser in use."""
    from django.core.management import call_command

    from assistant import parsing
    from catalog.models import Product

    call_command("migrate", verbosity=0)
    if not Product.objects.exists():
        for name, relative in CATALOG_FILES.items():
            call_command("import_catalog", str(data / relative), "--format", name)
    call_command("build_index")  # up to date with this tree's index layout; encodes only what changed
    if train_parser:
        call_command("train_parser", "--if-missing")
    parser = parsing.active_parser()
    return f"transformer {parser.version}" if parser else "keyword rules (no trained parser)"


def add_setup_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``prepare``, shared with ``chat_latency.py``."""
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "aisle-bench-dialogues",
        help="DATA_DIR of the benchmark's own database, index and parser; kept between runs",
    )
    parser.add_argument("--train-parser", action="store_true", help="fine-tune a parser if none is active")


def set_up_django(args: argparse.Namespace) -> None:
    """Check the catalogs are there, point ``DATA_DIR`` at ``args.data_dir`` and set Django up."""
    require_catalogs(args.data)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["DATA_DIR"] = str(args.data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()


def require_catalogs(data: Path) -> None:
    """Exit with a "skipped" message when the public catalogs are not there."""
    if not all((data / relative).is_file() for relative in CATALOG_FILES.values()):
        sys.exit(f"skipped: the public catalogs are not in {data} (see ../shared/data/README.md)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_setup_arguments(parser)
    args = parser.parse_args()
    set_up_django(args)
    from assistant import services

    parser_used = prepare(args.data, args.train_parser)
    started = time.perf_counter()
    results = run_dialogues(load_dialogues(), services.chat_turn)
    report = {
        "benchmark": "dialogue_scripts",
        "parser": parser_used,
        **summary(results),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
