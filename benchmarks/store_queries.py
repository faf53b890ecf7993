"""Furniture-store search-box queries sent to ``/api/chat/``: how many get products, how many a question.

``data/store_queries.txt`` is a proxy for a real store's search log: about 480
short lower-case queries as shoppers type them into a furniture shop's search
box (product names, types, rooms, typos, plurals, measurements, a "hi" or a
"thanks" around a request, questions, things the shop does not carry). Most are
drawn from the IKEA catalog's own fields by ``--write-queries`` (seeded, so the
file is reproducible); a hand-written minority is in ``HAND_WRITTEN``.

The benchmark prepares a ``DATA_DIR`` (migrate, the IKEA catalog imported, the
index built, the parser trained; each step skipped when already done), then
posts every query as the first message of a fresh session to ``/api/chat/``
(Django's test client, in process) and sorts the replies:

- ``error``: not a 200, or a reply that breaks CONTRACTS §4;
- ``small_talk``: read as greet, goodbye, help, reset or out of scope and answered so, no products;
- ``products``: products shown;
- ``not_carried``: no products, the reply says the shop has none of that;
- ``question``: no products, the reply asks or clarifies instead;
- ``other``: no products and neither of the above.

Prints one JSON line; the question, small-talk and error queries go to stderr
(all classified queries with ``--show``).

    python benchmarks/store_queries.py [--data-dir DIR] [--no-train | --epochs N] [--show]
    python benchmarks/store_queries.py --write-queries
"""

import argparse
import csv
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUERIES = Path(__file__).resolve().parent / "data" / "store_queries.txt"
IKEA = ROOT.parent / "shared" / "data" / "ikea" / "ikea.csv"
SEED = 14
GENERATED = 330

SMALL_TALK = frozenset({"greet", "goodbye", "help", "reset", "out_of_scope"})
NOT_CARRIED = re.compile(
    r"\b(don't|do not|doesn't|does not|can't|cannot) (sell|carry|stock|have)\b|\bnot (sold|carried)\b|"
    r"\bcould not find\b|\bfound no(thing)?\b|\bnothing matches\b|"
    r"\bno .+ in (this|the) (shop|catalog|store)\b",
    re.IGNORECASE,
)
CLARIFIES = re.compile(r"\b(not sure|which|what kind|did you mean)\b", re.IGNORECASE)
ASKS = re.compile(rf"\?|{CLARIFIES.pattern}", re.IGNORECASE)
PRODUCT_FIELDS = {"sku": str, "title": str, "currency": str, "categories": list, "explanation": str}

HAND_WRITTEN = (
    # greetings and thanks around a product request
    "hi do you have bunk beds",
    "hello, looking for a sofa bed",
    "hey any corner sofas?",
    "hi there i need a desk for my son",
    "thanks, any corner sofas?",
    "thank you. do you have bar stools",
    "good morning, wardrobes with mirror doors?",
    "hello i want to buy a dining table",
    "hi, is the poang chair available",
    "hey do u sell mattresses",
    "hi! kallax",
    "thanks! and tv benches?",
    "ok thanks, what about bookcases",
    "bye the way do you have cots",
    "hello, cheap office chair please",
    "hi looking for outdoor furniture for my balcony",
    # questions
    "do you sell mirrors?",
    "where are the office chairs",
    "do you have sofa beds",
    "do you have anything for a small balcony",
    "what beds do you have",
    "which wardrobes have sliding doors",
    "is there a desk that fits in a corner",
    "do you have kids beds",
    "what is the cheapest sofa",
    "how much is the billy bookcase",
    "can i get a table for 6 people",
    "any chairs for a dining room?",
    "which desk is best for gaming",
    "what do you have for a studio apartment",
    # rooms, needs and themes
    "bedroom furniture",
    "small balcony",
    "living room ideas",
    "home office",
    "kids room storage",
    "furniture for small spaces",
    "storage for toys",
    "shoe storage",
    "hallway storage",
    "nursery",
    "dining set",
    "garden furniture",
    "patio set",
    "outdoor dining",
    "student desk",
    "gaming chair",
    "standing desk",
    "sit stand desk",
    "reading chair",
    "sofa for small living room",
    "bed with storage",
    "storage bed",
    "day bed",
    "loft bed",
    "high chair for baby",
    "changing table",
    "baby cot",
    "toddler bed",
    "extendable dining table",
    "folding chairs",
    "stackable chairs",
    "round table",
    "glass cabinet",
    "display cabinet",
    "tv unit",
    "media console",
    "console table",
    "bedside table",
    "nightstand",
    "dresser",
    "chest of drawers white",
    "2 seater sofa",
    "3 seater sofa grey",
    "l shaped sofa",
    "sectional",
    "recliner",
    "rocking chair",
    "foot stool",
    "ottoman",
    "pouf",
    "bench for hallway",
    "coat rack",
    "bar stools set of 2",
    "kitchen trolley",
    "serving cart",
    "room divider",
    "wall shelf",
    "floating shelves",
    "corner shelf",
    "cube storage",
    "shelving unit with doors",
    "open wardrobe",
    "sliding door wardrobe",
    "mirror wardrobe",
    # typos and run-together words
    "wardobe",
    "matress",
    "bookself",
    "book shelf",
    "cupbord",
    "sofabed",
    "bedframe",
    "coffe table",
    "dinning table",
    "chester drawers",
    "chest of draws",
    "tv stnad",
    "armchiar",
    "kalax",
    "pax wardobe",
    "hemness bed",
    "office chiar",
    "bunkbed",
    "side bord",
    "bar stoll",
    # measurements and budgets
    "160x200 bed",
    "bed 140x200",
    "90x200 bed frame",
    "desk 120 cm",
    "desk 100cm wide",
    "wardrobe 200 cm",
    "table 180 cm",
    "bookcase 80 cm wide",
    "tv bench 180",
    "shelf 30 cm deep",
    "sofa under 1000",
    "cheap desk",
    "bed under 500 sar",
    "dining table below 1500",
    "armchair less than 600",
    "chair 200 riyal",
    "desk for 300",
    "budget sofa bed",
    # what this catalog does not carry
    "frying pan",
    "curtains",
    "rugs",
    "lamps",
    "floor lamp",
    "duvet",
    "pillows",
    "bed sheets",
    "towels",
    "plants",
    "picture frames",
    "candles",
    "kitchen cabinets",
    "sink",
    "tv",
    "laptop",
    "fridge",
    "bean bag",
    "hammock",
    "piano",
)

ADJECTIVES = (
    "cheap",
    "modern",
    "small",
    "white",
    "black",
    "grey",
    "wooden",
    "large",
    "comfortable",
    "oak",
    "leather",
    "velvet",
    "kids",
    "outdoor",
    "corner",
    "narrow",
    "tall",
    "low",
    "scandinavian",
    "best",
)
ROOMS = (
    "bedroom",
    "living room",
    "kids room",
    "office",
    "dining room",
    "balcony",
    "garden",
    "hallway",
    "studio",
    "small apartment",
)
GREETINGS = ("hi", "hello", "hey", "hi there", "good evening", "thanks", "thank you", "ok thanks")
QUESTIONS = (
    "do you have {}",
    "do you sell {}",
    "where are the {}",
    "any {}?",
    "looking for {}",
    "i need {}",
    "{} please",
    "show me {}",
    "{}?",
    "have you got {}",
)
COLOURS = ("white", "black", "grey", "beige", "oak", "brown", "blue", "green", "pink", "birch", "walnut")


def plain(text: str) -> str:
    """Lower case without accents, as most shoppers type IKEA names ("POÄNG" -> "poang")."""
    folded = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in folded if not unicodedata.combining(char))


def product_type(short_description: str) -> str:
    """The type phrase of a ``short_description``: "Bar table, in/outdoor, 51x51 cm" -> "bar table"."""
    text = " ".join(short_description.split()).split(",")[0].lower().split("/")[0]
    text = re.split(r" w | with ", text)[0] if len(text.split()) > 3 else text.split(" w ")[0]
    return text.strip()


def plural(phrase: str) -> str:
    words = phrase.split()
    head = words.index("of") - 1 if "of" in words[1:] else len(words) - 1
    word = words[head]
    if word.endswith("y") and word[-2:-1] not in tuple("aeou"):
        word = word[:-1] + "ies"
    elif word.endswith(("ch", "sh", "ss", "x")):
        word += "es"
    elif not word.endswith("s"):
        word += "s"
    words[head] = word
    return " ".join(words)


def typo(word: str, rng: random.Random) -> str:
    """A slip of the keyboard: a letter dropped, doubled, swapped with the next or replaced."""
    if len(word) < 4:
        return word
    at = rng.randrange(1, len(word) - 1)
    match rng.randrange(4):
        case 0:
            return word[:at] + word[at + 1 :]
        case 1:
            return word[:at] + word[at] + word[at:]
        case 2:
            return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        case _:
            return word[:at] + rng.choice("aeiourstnl") + word[at + 1 :]


def misspelt(phrase: str, rng: random.Random) -> str:
    """``phrase`` with a typo in one of its longer words."""
    words = phrase.split()
    candidates = [i for i, word in enumerate(words) if len(word) >= 4] or [0]
    at = rng.choice(candidates)
    words[at] = typo(words[at], rng)
    return " ".join(words)


def budget(price: float, rng: random.Random) -> int:
    """A round ceiling a shopper might give for something priced ``price``."""
    wanted = price * rng.uniform(0.8, 2.0)
    step = 50 if wanted < 500 else 100 if wanted < 2000 else 500
    return max(step, round(wanted / step) * step)


def build_queries(ikea: Path, seed: int = SEED, count: int = GENERATED) -> list[str]:
    """``count`` queries drawn from the catalog's names, types, colours and sizes, then ``HAND_WRITTEN``."""
    rng = random.Random(seed)
    with ikea.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["type"] = product_type(row["short_description"])
        row["plain_name"] = plain(row["name"]).split(" / ")[0]
    typed = [row for row in rows if row["type"] and not re.search(r"\d", row["type"])]
    sized = [row for row in typed if row["width"]]
    categories = sorted({plain(row["category"]) for row in rows})
    makers: dict[str, Any] = {
        "name": lambda row: row["plain_name"],
        "name type": lambda row: f"{row['plain_name']} {row['type']}",
        "name colour": lambda row: f"{row['plain_name']} {rng.choice(COLOURS)}",
        "type": lambda row: row["type"],
        "types": lambda row: plural(row["type"]),
        "adjective type": lambda row: (
            f"{rng.choice(ADJECTIVES)} {rng.choice((row['type'], plural(row['type'])))}"
        ),
        "type room": lambda row: f"{row['type']} for {rng.choice(ROOMS)}",
        "typo": lambda row: misspelt(rng.choice((row["type"], row["plain_name"])), rng),
        "size": lambda row: rng.choice(
            (
                f"{row['type']} {row['width']} cm",
                f"{row['width']}cm {row['type']}",
                f"{row['type']} {row['width']}",
            )
        ),
        "greeting": lambda row: rng.choice(("{} {}", "{}, {}", "{} do you have {}", "{}! any {}?")).format(
            rng.choice(GREETINGS), rng.choice((row["type"], plural(row["type"]), row["plain_name"]))
        ),
        "question": lambda row: rng.choice(QUESTIONS).format(plural(row["type"])),
        "category": lambda _: rng.choice(categories).replace("&", rng.choice(("&", "and"))),
        "budget": lambda row: (
            f"{row['type']} {rng.choice(('under', 'below', 'less than', 'max'))} "
            f"{budget(float(row['price']), rng)}"
        ),
    }
    weights = {
        "name": 60,
        "name type": 50,
        "name colour": 15,
        "type": 55,
        "types": 35,
        "adjective type": 45,
        "type room": 15,
        "typo": 35,
        "size": 25,
        "greeting": 25,
        "question": 25,
        "category": 10,
        "budget": 15,
    }
    queries: list[str] = []
    while len(queries) < count:
        kind = rng.choices(list(weights), list(weights.values()))[0]
        row = rng.choice(sized if kind == "size" else typed)
        query = " ".join(makers[kind](row).split())
        if "-" in query and rng.random() < 0.5:  # "sofa-bed" is typed as "sofa bed" as often as not
            query = query.replace("-", " ")
        if query not in queries:
            queries.append(query)
    return queries + [query for query in HAND_WRITTEN if query not in queries]


def prepare(ikea: Path, train: bool, epochs: int | None) -> str:
    """Migrate, import the IKEA catalog, build the index and train the parser unless done already;
    the parser in use."""
    from django.core.management import call_command

    from assistant import parsing
    from catalog.models import Product

    call_command("migrate", verbosity=0)
    if not Product.objects.exists():
        call_command("import_catalog", str(ikea), "--format", "ikea")
    call_command("build_index")  # up to date with this tree's index layout; encodes only what changed
    if train:
        call_command("train_parser", "--if-missing", *(("--epochs", str(epochs)) if epochs else ()))
    parser = parsing.active_parser()
    return f"transformer {parser.version}" if parser else "keyword rules"


def classify(status: int, reply: Any) -> str:
    """The kind of answer a first message got (see the module docstring)."""
    if status != 200 or not well_formed(reply):
        return "error"
    if reply["products"]:
        return "products"
    if reply["intent"] in SMALL_TALK and not CLARIFIES.search(reply["text"]):
        return "small_talk"
    if NOT_CARRIED.search(reply["text"]):
        return "not_carried"
    if ASKS.search(reply["text"]):
        return "question"
    return "other"


def well_formed(reply: Any) -> bool:
    """Whether ``reply`` has the fields and types of a CONTRACTS §4 reply."""
    if not isinstance(reply, dict) or reply.get("type") != "reply":
        return False
    shapes = {"text": str, "intent": str, "slots": dict, "state": dict, "products": list, "suggestions": list}
    if not all(isinstance(reply.get(name), kind) for name, kind in shapes.items()):
        return False
    return all(
        isinstance(product, dict)
        and all(isinstance(product.get(name), kind) for name, kind in PRODUCT_FIELDS.items())
        and isinstance(product.get("price"), int | float)
        for product in reply["products"]
    )


def ask(client: Any, query: str) -> tuple[int, Any]:
    response = client.post("/api/chat/", {"text": query}, content_type="application/json")
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--ikea", type=Path, default=IKEA)
    arguments.add_argument("--queries", type=Path, default=QUERIES)
    arguments.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "aisle-store-queries",
        help="DATA_DIR of the benchmark's own database, index and parser; kept between runs",
    )
    arguments.add_argument(
        "--no-train", action="store_true", help="no parser training: the keyword rules unless one is active"
    )
    arguments.add_argument(
        "--epochs", type=int, help="train_parser --epochs (AISLE_PARSER_EXAMPLES: examples)"
    )
    arguments.add_argument("--show", action="store_true", help="every query with its class on stderr")
    arguments.add_argument("--write-queries", action="store_true", help=f"(re)write {QUERIES.name} and stop")
    options = arguments.parse_args()
    if not options.ikea.is_file():
        sys.exit(f"skipped: the IKEA catalog is not at {options.ikea} (see ../shared/data/README.md)")
    if options.write_queries:
        queries = build_queries(options.ikea)
        options.queries.write_text("\n".join(queries) + "\n", encoding="utf-8")
        print(f"wrote {len(queries)} queries to {options.queries}", file=sys.stderr)
        return

    options.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["DATA_DIR"] = str(options.data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.test import Client

    parser_used = prepare(options.ikea, not options.no_train, options.epochs)
    queries = [
        line.strip() for line in options.queries.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    client = Client(HTTP_HOST="localhost")
    counts: Counter[str] = Counter()
    intents: Counter[str] = Counter()
    started = time.perf_counter()
    for query in queries:
        status, reply = ask(client, query)
        kind = classify(status, reply)
        counts[kind] += 1
        if isinstance(reply, dict):
            intents[str(reply.get("intent"))] += 1
        if options.show or kind in ("error", "question", "small_talk"):
            said = reply.get("text") if isinstance(reply, dict) else status
            intent = reply.get("intent") if isinstance(reply, dict) else "-"
            print(f"{kind:<11} {query!r:<45} {intent:<16} {said}", file=sys.stderr)
    total = len(queries)
    kinds = ("error", "question", "small_talk", "products", "not_carried", "other")
    print(
        json.dumps(
            {
                "benchmark": "store_queries",
                "parser": parser_used,
                "queries": total,
                "counts": {kind: counts[kind] for kind in kinds},
                "shares": {kind: round(counts[kind] / total, 4) for kind in kinds},
                "intents": dict(intents.most_common()),
                "seconds": round(time.perf_counter() - started, 1),
                "machine": f"{platform.machine()} {os.cpu_count()} cores",
                "date": time.strftime("%Y-%m-%d"),
            }
        )
    )


if __name__ == "__main__":
    main()
