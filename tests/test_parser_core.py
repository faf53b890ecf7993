"""The Django-free utterance parser core: word splitting, slot normalisation and the price and
negation rules, BIO decoding, the catalog vocabulary, the example generator, the evaluation
scores, sub-word label alignment, a real (small) training run with the parser it gives, and
parser versions published through the shared version store with their hot reload.

Everything runs on the real code and the packaged MiniLM weights; the only stand-in is the
parse function handed to ``evaluate``, whose frames are written by hand so the scores can be
computed by hand too.
"""

import math
from collections import Counter
from pathlib import Path

import pytest

from assistant.nlu import generate as generate_module
from assistant.nlu.evaluation import HELDOUT_PATH, LabelledUtterance, evaluate, load_labelled, slot_pairs
from assistant.nlu.frame import (
    ATTRIBUTES,
    INTENTS,
    LIST_SLOTS,
    SLOTS,
    TAGS,
    Frame,
    Span,
    spans_from_tags,
    with_rule_slots,
)
from assistant.nlu.generate import INTENT_WEIGHTS, Example, generate_examples, tagged
from assistant.nlu.model import IGNORED, MAX_TOKENS, load_tokenizer, tag_labels, tokenize
from assistant.nlu.normalise import (
    frame_slots,
    normalise_size,
    normalise_value,
    parse_amount,
    parse_positions,
    snap_category,
    split_words,
)
from assistant.nlu.parser import LiveParser, Parser, ParserStore
from assistant.nlu.training import TrainingConfig, train
from assistant.nlu.vocabulary import (
    ROOMS,
    STYLES,
    ParserVocabulary,
    clean_product_type,
    closest,
    head_nouns,
    plural,
    singular,
    snap_phrase,
)
from catalog.retrieval.constraints import SORTS
from catalog.retrieval.encoder import default_model_path
from catalog.vocabulary import COLORS, MATERIALS

# A small furniture catalog's words: enough to generate varied utterances and to snap to.
VOCAB = ParserVocabulary(
    categories=("armchair", "bookcase", "chest of drawers", "desk", "floor lamp", "rug", "sofa"),
    brands=("birchwood lane", "dunmore & vale", "nordhem"),
    features=("adjustable height", "storage", "usb charging"),
)
# Words to snap to, with "phone" the end of a type and "iphone" a close neighbour of it.
SNAP_VOCAB = ParserVocabulary(
    categories=("bookcase", "cell phone", "chest of drawers", "iphone", "phone case", "sofa"),
    brands=("dunmore & vale", "insignia", "kate spade new york", "kate spade outlet", "samsung"),
    features=("lumbar support", "usb-c", "wireless"),
)


def slots_of(text: str, *tagged_phrases: tuple[str, str], vocabulary: ParserVocabulary = SNAP_VOCAB):
    """``frame_slots`` of ``text`` with each (slot, phrase) tagged, in order, where the phrase's words
    next occur (after the previous tagged phrase)."""
    words = split_words(text)
    spans: list[Span] = []
    for slot, phrase in tagged_phrases:
        wanted = split_words(phrase)
        cursor = spans[-1].end if spans else 0
        start = next(i for i in range(cursor, len(words)) if words[i : i + len(wanted)] == wanted)
        spans.append(Span(slot, start, start + len(wanted), " ".join(wanted)))
    return frame_slots(words, spans, vocabulary)


# --------------------------------------------------------------------------- split_words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("under 1.5k!", ["under", "1.5k", "!"]),
        ("Sofas under 2,000 dollars", ["sofas", "under", "2,000", "dollars"]),
        ("$80", ["$", "80"]),
        ("€80-$100", ["€", "80", "-", "$", "100"]),
        ("200-500", ["200", "-", "500"]),
        ("1.5k-2k", ["1.5k", "-", "2k"]),
        ("a 140x200 bed", ["a", "140x200", "bed"]),
        ("3-seat sofa", ["3-seat", "sofa"]),
        ("USB-C cable", ["usb-c", "cable"]),
        ("Dunmore & Vale", ["dunmore", "&", "vale"]),
        ("I'm looking, don't", ["i'm", "looking", ",", "don't"]),
        ("kid’s room", ["kid's", "room"]),
        ("2.5 stars", ["2.5", "stars"]),
        ("300+ please?", ["300", "+", "please", "?"]),
        ("#5", ["#", "5"]),
        ("", []),
        ("   \t ", []),
    ],
)
def test_split_words_keeps_prices_sizes_and_hyphenated_words_whole(text, words):
    assert split_words(text) == words


# --------------------------------------------------------------------------- amounts, positions, sizes


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1.5k", 1500),
        ("2k", 2000),
        ("1.5 k", 1500),
        ("2,000", 2000),
        ("$1,250", 1250),
        ("80 bucks", 80),
        ("$80", 80),
        ("€ 80", 80),
        ("19.99", 19.99),
        ("2 grand", 2000),
        ("1.5 thousand", 1500),
        ("two hundred", 200),
        ("a thousand", 1000),
        ("a hundred and fifty", 150),
        ("twenty-five", 25),
        ("three hundred and fifty", 350),
        ("one thousand two hundred", 1200),
        ("two thousand five hundred", 2500),
    ],
)
def test_parse_amount_reads_digits_suffixes_and_number_words(text, amount):
    value = parse_amount(text)
    assert value == amount
    assert isinstance(value, int) == float(amount).is_integer()  # whole amounts come back as ints


@pytest.mark.parametrize("text", ["", "cheap", "k", "dollars", "a"])
def test_parse_amount_is_none_without_a_number(text):
    assert parse_amount(text) is None


def test_parse_amount_reads_the_teens():
    assert parse_amount("sixteen") == 16
    assert parse_amount("fourteen hundred") == 1400


@pytest.mark.parametrize(
    ("text", "positions"),
    [
        ("first", [1]),
        ("the first one", [1]),
        ("2nd", [2]),
        ("the 3rd", [3]),
        ("third", [3]),
        ("number 3", [3]),
        ("#5", [5]),
        ("one 3", [3]),
        ("one", [1]),
        ("last", [-1]),
        ("the bottom one", [-1]),
        ("the top one", [1]),
        ("first two", [1, 2]),
        ("top 3", [1, 2, 3]),
        ("the first three", [1, 2, 3]),
        ("1 or 4", [1, 4]),
        ("2 and 2", [2]),
        ("the first and the last", [1, -1]),
        ("the 10th", [10]),
        ("blah", []),
    ],
)
def test_parse_positions(text, positions):
    assert parse_positions(text) == positions


def test_reference_spans_first_and_last_give_both_positions_in_order():
    assert slots_of("compare the first and the last", ("reference", "first"), ("reference", "last")) == {
        "reference": [1, -1]
    }


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("3 seater", "3-seat"),
        ("3-seater", "3-seat"),
        ("three-seat", "3-seat"),
        ("two seats", "2-seat"),
        ("2 person", "2-seat"),
        ("140 x 200 cm", "140x200"),
        ("140x200", "140x200"),
        ("200 by 90", "200x90"),
        ("80 x 40 x 120", "80x40x120"),
        ("queen size", "queen"),
        ("king-size", "king"),
        ("double bed", "double"),
        ("single", "single"),
        ("large", "large"),
    ],
)
def test_normalise_size(text, size):
    assert normalise_size(text) == size


# --------------------------------------------------------------------------- snapping slot values


@pytest.mark.parametrize(
    ("slot", "text", "value"),
    [
        ("color", "black", ["black"]),
        ("color", "Blak", ["black"]),
        ("color", "purpel", ["purple"]),
        ("color", "gray", ["grey"]),
        ("color", "dark gray", ["grey"]),
        ("color", "navy", ["blue"]),
        ("color", "off-white", ["white"]),
        ("color", "black and white", ["black", "white"]),
        ("color", "xyzzy", []),
        ("exclude_color", "gray", ["grey"]),
        ("material", "aluminum", ["aluminium"]),
        ("material", "wooden", ["wood"]),
        ("material", "solid wood", ["wood"]),
        ("material", "stainless steel", ["steel"]),
        ("material", "lether", ["leather"]),
        ("exclude_material", "wicker", ["rattan"]),
    ],
)
def test_colours_and_materials_snap_through_synonyms_and_typos(slot, text, value):
    assert normalise_value(slot, text, SNAP_VOCAB) == value


def test_a_three_letter_typo_is_not_guessed():
    assert closest("blu", COLORS) is None
    assert normalise_value("color", "blu", SNAP_VOCAB) == []


@pytest.mark.parametrize(
    ("text", "brand"),
    [
        ("samsung", ["samsung"]),
        ("Samsung", ["samsung"]),
        ("samsng", ["samsung"]),  # a typo
        ("dunmore & vale", ["dunmore & vale"]),
        ("dunmore", ["dunmore & vale"]),  # the only brand it starts
        ("kate spade new", ["kate spade new york"]),
        ("samsung's", ["samsung"]),
        ("nokia", None),
        ("kate spade", None),  # starts two brands and is close to neither
    ],
)
def test_brands_snap_exactly_by_unique_prefix_or_by_typo(text, brand):
    assert normalise_value("brand", text, SNAP_VOCAB) == brand
    assert normalise_value("exclude_brand", text, SNAP_VOCAB) == brand


def test_snap_phrase_prefers_exact_then_unique_prefix_then_typo():
    choices = ("lumbar support", "lumbar pillow", "usb-c", "wireless")
    assert snap_phrase("usb-c", choices) == "usb-c"
    assert snap_phrase("wireles", choices) == "wireless"
    assert snap_phrase("lumbar", choices) is None  # two choices start with it
    assert snap_phrase("lumbar", ("lumbar support", "usb-c")) == "lumbar support"
    assert normalise_value("feature", "lumbar", SNAP_VOCAB) == ["lumbar support"]
    assert normalise_value("feature", "foldable", SNAP_VOCAB) == ["foldable"]  # kept as said


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("sofa", "sofa"),
        ("sofas", "sofa"),
        ("sofaa", "sofa"),
        ("Sofaas", "sofa"),
        ("bookcases", "bookcase"),
        ("bookcasse", "bookcase"),
        ("chests of drawers", "chest of drawers"),
        ("iphne", "iphone"),
        ("phone", "phone"),  # ends "cell phone": kept, not "corrected" to "iphone"
        ("phones", "phone"),
        ("lamps", "lamp"),  # unknown types stay as said, singular
    ],
)
def test_categories_are_singular_and_snapped_to_the_catalog(text, category):
    assert normalise_value("category", text, SNAP_VOCAB) == category


def test_phone_is_corrected_to_iphone_only_when_no_category_ends_in_phone():
    assert snap_category("phone", ("cell phone", "iphone")) == "phone"
    assert snap_category("phone", ("iphone",)) == "iphone"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("less expensive", "lower"),
        ("cheaper", "lower"),
        ("more affordable", "lower"),
        ("a lower price", "lower"),
        ("more budget friendly", "lower"),
        ("more expensive", "higher"),
        ("pricier", "higher"),
        ("higher end", "higher"),
        ("more premium", "higher"),
    ],
)
def test_price_relative_says_lower_or_higher(text, value):
    assert normalise_value("price_relative", text, SNAP_VOCAB) == value


def test_every_generator_phrase_for_cheaper_or_dearer_reads_the_right_way():
    for phrase in generate_module._LOWER:
        assert normalise_value("price_relative", phrase, VOCAB) == "lower", phrase
    for phrase in generate_module._HIGHER:
        assert normalise_value("price_relative", phrase, VOCAB) == "higher", phrase


@pytest.mark.parametrize(
    ("text", "sort"),
    [
        ("cheapest", "price_asc"),
        ("cheapest first", "price_asc"),
        ("lowest price", "price_asc"),
        ("price low to high", "price_asc"),
        ("price high to low", "price_desc"),
        ("most expensive", "price_desc"),
        ("highest price", "price_desc"),
        ("best rated", "rating_desc"),
        ("highest rated", "rating_desc"),  # "rated" wins over "highest"
        ("rating", "rating_desc"),
        ("most popular", "popularity_desc"),
        ("best selling", "popularity_desc"),
        ("in a hurry", None),
    ],
)
def test_sort_keywords(text, sort):
    assert normalise_value("sort", text, SNAP_VOCAB) == sort


def test_sort_by_popularity_is_a_popularity_sort():
    assert normalise_value("sort", "popularity", VOCAB) == "popularity_desc"


def test_sort_by_price_is_a_price_sort():
    assert normalise_value("sort", "price", VOCAB) in ("price_asc", "price_desc")


@pytest.mark.parametrize(
    ("text", "attribute"),
    [
        ("how much", "price"),
        ("cost", "price"),
        ("wide", "dimensions"),
        ("what size", "dimensions"),
        ("fit", "dimensions"),
        ("made of", "material"),
        ("colours", "color"),
        ("who makes", "brand"),
        ("brand", "brand"),
        ("rated", "rating"),
        ("reviews", "rating"),
        ("in stock", "availability"),
        ("available", "availability"),
        ("tell me more", "description"),
        ("describe", "description"),
        ("details", "description"),
        ("sofa", None),
    ],
)
def test_attribute_keywords(text, attribute):
    assert normalise_value("attribute", text, SNAP_VOCAB) == attribute


def test_when_can_it_be_delivered_asks_about_availability():
    assert normalise_value("attribute", "delivered", VOCAB) == "availability"


def test_what_is_it_like_asks_for_some_attribute():
    assert normalise_value("attribute", "like", VOCAB) in ATTRIBUTES


@pytest.mark.parametrize(
    ("slot", "text", "value"),
    [
        ("style", "scandi", ["scandinavian"]),
        ("style", "mid century", ["mid-century"]),
        ("style", "modrn", ["modern"]),
        ("style", "boho", ["bohemian"]),
        ("room", "the living room", "living room"),
        ("room", "my garden", "outdoor"),
        ("room", "bedrom", "bedroom"),
        ("room", "attic", "attic"),
        ("reference", "first two", [1, 2]),
        ("reference", "blah", None),
        ("price_max", "under-ish", None),
        ("price_min", "1.5k", 1500),
        ("size", "3 seater", "3-seat"),
    ],
)
def test_other_slot_values(slot, text, value):
    assert normalise_value(slot, text, SNAP_VOCAB) == value


def test_a_misspelt_style_synonym_still_snaps():
    assert normalise_value("style", "contemprary", VOCAB) == ["modern"]


# --------------------------------------------------------------------------- frame_slots: negation and prices


@pytest.mark.parametrize(
    ("text", "slot", "phrase", "expected"),
    [
        ("sofas, not black", "color", "black", {"exclude_color": ["black"]}),
        ("i don't want grey", "color", "grey", {"exclude_color": ["grey"]}),
        ("anything without leather", "material", "leather", {"exclude_material": ["leather"]}),
        ("no samsung please", "brand", "samsung", {"exclude_brand": ["samsung"]}),
        ("not too big, in black", "color", "black", {"color": ["black"]}),  # too far back
        ("a black sofa", "color", "black", {"color": ["black"]}),
    ],
)
def test_a_negation_just_before_a_span_makes_it_an_exclusion(text, slot, phrase, expected):
    assert slots_of(text, (slot, phrase)) == expected


def test_a_wanted_value_that_is_also_excluded_is_dropped():
    assert slots_of("black, not black", ("color", "black"), ("color", "black")) == {
        "exclude_color": ["black"]
    }
    slots = slots_of(
        "black or white but no white", ("color", "black"), ("color", "white"), ("color", "white")
    )
    assert slots == {"color": ["black"], "exclude_color": ["white"]}


@pytest.mark.parametrize(
    ("text", "slot", "expected"),
    [
        ("sofas under 300", "price_min", {"price_max": 300}),
        ("less than $300", "price_min", {"price_max": 300}),
        ("up to 1.5k", "price_min", {"price_max": 1500}),
        ("no more than 300", "price_min", {"price_max": 300}),
        ("not more than about 300", "price_min", {"price_max": 300}),
        ("over 300", "price_max", {"price_min": 300}),
        ("at least 300", "price_max", {"price_min": 300}),
        ("not less than 300", "price_max", {"price_min": 300}),
        ("300 or more", "price_max", {"price_min": 300}),
        ("300 and up", "price_max", {"price_min": 300}),
        ("$300 or less", "price_min", {"price_max": 300}),
        ("300 tops", "price_min", {"price_max": 300}),
        ("around 300", "price_max", {"price_max": 300}),  # no rule: the tag stands
        ("around 300", "price_min", {"price_min": 300}),
    ],
)
def test_price_rules_beat_the_tagged_end_of_the_range(text, slot, expected):
    assert slots_of(text, (slot, "300" if "300" in text else "1.5k")) == expected


@pytest.mark.parametrize(
    "tags", [("price_min", "price_max"), ("price_max", "price_max"), ("price_min", "price_min")]
)
def test_between_and_from_to_give_both_ends(tags):
    for text in ("between 200 and 500", "from 200 to 500"):
        assert slots_of(text, (tags[0], "200"), (tags[1], "500")) == {"price_min": 200, "price_max": 500}


def test_a_bare_range_keeps_the_tagged_low_end():
    assert slots_of("200-500", ("price_min", "200"), ("price_max", "500")) == {
        "price_min": 200,
        "price_max": 500,
    }


def test_an_inverted_range_is_swapped():
    assert slots_of("between 900 and 300", ("price_min", "900"), ("price_max", "300")) == {
        "price_min": 300,
        "price_max": 900,
    }
    assert slots_of("sofas 900 300", ("price_min", "900"), ("price_max", "300")) == {
        "price_min": 300,
        "price_max": 900,
    }


def test_repeated_values_are_kept_once_and_the_first_single_value_wins():
    slots = slots_of(
        "grey or gray or blak black sofa bookcase",
        ("color", "grey"),
        ("color", "gray"),
        ("color", "blak"),
        ("color", "black"),
        ("category", "sofa"),
        ("category", "bookcase"),
    )
    assert slots == {"color": ["grey", "black"], "category": "sofa"}


def test_spans_that_mean_nothing_are_left_out():
    assert slots_of("xyzzy things for nokia", ("color", "xyzzy"), ("brand", "nokia")) == {}
    assert frame_slots([], [], SNAP_VOCAB) == {}


# --------------------------------------------------------------------------- spans_from_tags


def test_spans_group_b_and_i_tags():
    words = ["grey", "chest", "of", "drawers", "under", "300"]
    tags = ["B-color", "B-category", "I-category", "I-category", "O", "B-price_max"]
    assert spans_from_tags(words, tags) == [
        Span("color", 0, 1, "grey"),
        Span("category", 1, 4, "chest of drawers"),
        Span("price_max", 5, 6, "300"),
    ]


def test_two_b_tags_in_a_row_are_two_spans():
    spans = spans_from_tags(["black", "white"], ["B-color", "B-color"])
    assert [(s.start, s.end, s.text) for s in spans] == [(0, 1, "black"), (1, 2, "white")]


def test_an_i_tag_without_its_b_tag_starts_a_span():
    spans = spans_from_tags(["a", "dark", "grey", "sofa"], ["O", "I-color", "I-color", "I-category"])
    assert spans == [Span("color", 1, 3, "dark grey"), Span("category", 3, 4, "sofa")]


def test_span_confidence_is_the_lowest_word_score():
    spans = spans_from_tags(
        ["solid", "oak", "desk", "now"],
        ["B-material", "I-material", "B-category", "O"],
        [0.9, 0.6, 0.8, 0.1],
    )
    assert [s.confidence for s in spans] == [0.6, 0.8]
    assert all(s.confidence == 1.0 for s in spans_from_tags(["oak", "desk"], ["B-material", "B-category"]))


def test_no_tags_no_spans():
    assert spans_from_tags([], []) == []
    assert spans_from_tags(["hi", "there"], ["O", "O"]) == []


# --------------------------------------------------------------------------- vocabulary

PRODUCT_TYPES = {
    "sofa": "sofas",
    "bookcase": "bookcases",
    "chest of drawers": "chests of drawers",
    "bench": "benches",
    "accessory": "accessories",
    "cell phone accessory": "cell phone accessories",
    "shelf": "shelves",
    "mouse": "mice",
    "knife": "knives",
    "glass": "glasses",
    "box": "boxes",
    "dress": "dresses",
    "mattress": "mattresses",
    "toy": "toys",
    "floor lamp": "floor lamps",
    "cell phone case": "cell phone cases",
}


@pytest.mark.parametrize(("one", "many"), PRODUCT_TYPES.items())
def test_singular_and_plural_undo_each_other(one, many):
    assert plural(one) == many
    assert singular(many) == one
    assert singular(one) == one  # already singular: unchanged
    assert singular(plural(one)) == one


def test_singular_and_plural_of_nothing_are_nothing():
    assert singular("") == ""
    assert plural("") == ""


@pytest.mark.parametrize(
    ("product_type", "cleaned"),
    [
        ("3-seat sofa", "sofa"),
        ("Two-seat sofa-bed", "sofa-bed"),
        ("Wardrobe with 2 doors", "wardrobe"),
        ("Chest of 3 drawers", "chest of drawers"),
        ("Modular chest of 2 drawers", "chest of drawers"),
        ("Cell Phone Cases & Clips", "cell phone case"),
        ("Unlocked cell phones", "cell phone"),
        ("Glass door", "door"),
        ("Wireless earbuds", "earbud"),
        ("Table+4 chairs", "table"),
        ("Bookcase, white", "bookcase"),
        ("Black", "black"),  # a prefix word alone is kept
        ("Frame/wire baskets/top shelf", ""),  # too many words to be a type
    ],
)
def test_clean_product_type(product_type, cleaned):
    assert clean_product_type(product_type) == cleaned


def test_clean_product_type_of_a_usb_a_to_usb_c_cable_is_a_cable():
    cleaned = clean_product_type("usb-a to usb-c cable")
    assert cleaned.endswith("cable")
    assert cleaned.split()[0] != "to"


def test_head_nouns_are_last_words_shared_by_enough_types():
    categories = ["cell phone", "unlocked phone", "desk phone", "floor lamp", "table lamp", "sofa"]
    assert head_nouns(categories) == {"phone"}
    assert head_nouns(categories, minimum=2) == {"phone", "lamp"}
    assert head_nouns(["a b", "c b", "d b"]) == set()  # too short to be a noun


def catalog_vocabulary() -> ParserVocabulary:
    return ParserVocabulary.from_catalog(
        brands=["Insignia™", "Samsung", " Dunmore & Vale ", "Black", "Gray", "Oak", "X", "samsung"],
        attributes=[
            {"type": "3-seat sofa", "feature": ["Storage", "USB charging", "x" * 40]},
            {"type": "Sofas", "feature": "Storage"},
            {"type": "Chest of 3 drawers"},
            {"type": "Cell Phone Cases & Clips"},
            {"type": "cell phones"},
            {"type": "desk phone"},
            {"type": "satellite phones"},
            {"type": "TV"},  # too short
            {"type": None},
            {},
        ],
    )


def test_from_catalog_cleans_types_features_and_brands():
    vocabulary = catalog_vocabulary()
    assert vocabulary.categories == (
        "cell phone",
        "cell phone case",
        "chest of drawers",
        "desk phone",
        "phone",  # the head noun of three types
        "satellite phone",
        "sofa",
    )
    assert vocabulary.brands == ("dunmore & vale", "insignia", "samsung")  # no "black", "gray", "oak", "x"
    assert vocabulary.features == ("storage", "usb charging")
    assert vocabulary.colors == COLORS
    assert vocabulary.materials == MATERIALS
    assert vocabulary.styles == STYLES
    assert vocabulary.rooms == ROOMS


def test_from_catalog_keeps_the_most_common_types_and_features():
    attributes = [{"type": "sofa", "feature": ["storage"]}] * 3 + [{"type": "rug", "feature": ["washable"]}]
    vocabulary = ParserVocabulary.from_catalog([], attributes, max_categories=1, max_features=1)
    assert vocabulary.categories == ("sofa",)
    assert vocabulary.features == ("storage",)


def test_vocabulary_survives_a_save_and_load(tmp_path):
    vocabulary = catalog_vocabulary()
    vocabulary.save(tmp_path / "vocabulary.json")
    loaded = ParserVocabulary.load(tmp_path / "vocabulary.json")
    assert loaded == vocabulary
    assert isinstance(loaded.categories, tuple)
    assert loaded.color_synonyms["gray"] == "grey"
    assert loaded.material_synonyms["aluminum"] == "aluminium"


def test_merged_vocabulary_unites_catalog_words_and_their_head_nouns():
    furniture = ParserVocabulary(categories=("bookcase", "sofa"), brands=("nordhem",), features=("storage",))
    phones = ParserVocabulary(
        categories=("cell phone", "desk phone", "satellite phone", "sofa"),
        brands=("samsung", "nordhem"),
        features=("wireless",),
    )
    merged = furniture.merged(phones)
    assert merged.categories == ("bookcase", "cell phone", "desk phone", "phone", "satellite phone", "sofa")
    assert merged.brands == ("nordhem", "samsung")
    assert merged.features == ("storage", "wireless")
    assert merged.colors == COLORS


def test_closest_allows_more_edits_for_longer_words():
    assert closest("sofaa", ["sofa", "bookcase"]) == "sofa"
    assert closest("bokcse", ["sofa", "bookcase"]) == "bookcase"  # two edits from six letters
    assert closest("sfoaa", ["sofa"]) is None  # two edits, five letters
    assert closest("desk", ["sofa"]) is None
    assert closest("rug", ["rug"]) == "rug"
    assert closest("rugs", []) is None


# --------------------------------------------------------------------------- generate_examples


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return generate_examples(VOCAB, 2000, seed=0)


@pytest.fixture(scope="module")
def clean_examples() -> list[Example]:
    """Examples without typos: every slot word is one the vocabulary knows."""
    return generate_examples(VOCAB, 2000, seed=0, typo_rate=0.0)


def test_tagged_builds_words_and_bio_tags_from_segments():
    example = tagged(
        [("show me", None), ("grey", "color"), ("chests of drawers", "category"), ("under $80!", None)],
        "search",
    )
    assert example.words == ("show", "me", "grey", "chests", "of", "drawers", "under", "$", "80", "!")
    assert example.tags == ("O", "O", "B-color", "B-category", "I-category", "I-category", "O", "O", "O", "O")
    assert example.intent == "search"
    assert example.text == "show me grey chests of drawers under $ 80 !"
    assert tagged([("", None), ("", "color")], "greet").words == ()


def test_the_same_seed_gives_the_same_examples_and_another_seed_others():
    first = generate_examples(VOCAB, 300, seed=7)
    assert first == generate_examples(VOCAB, 300, seed=7)
    other = generate_examples(VOCAB, 300, seed=8)
    assert other != first
    assert len({e.text for e in first} ^ {e.text for e in other}) > 100


def test_examples_have_one_known_tag_per_word_and_a_known_intent(examples):
    assert len(examples) == 2000
    for example in examples:
        assert example.words
        assert len(example.words) == len(example.tags)
        assert set(example.tags) <= set(TAGS)
        assert example.intent in INTENTS


def test_every_intent_is_generated_roughly_by_its_weight(examples):
    counts = Counter(example.intent for example in examples)
    assert set(counts) == set(INTENTS)
    total = sum(INTENT_WEIGHTS.values())
    for intent, weight in INTENT_WEIGHTS.items():
        expected = 2000 * weight / total
        assert abs(counts[intent] - expected) < 5 * math.sqrt(expected) + 5, intent


def test_an_i_tag_always_continues_a_span_of_its_own_slot(examples):
    for example in examples:
        previous = "O"
        for tag in example.tags:
            if tag.startswith("I-"):
                assert previous[2:] == tag[2:], example  # "O"[2:] is "", never a slot
            previous = tag


def test_examples_split_again_into_the_same_words(examples):
    """The parser splits raw text with ``split_words``: training words must be what it will see."""
    for example in examples:
        assert split_words(example.text) == list(example.words), example.text


def test_examples_use_the_slots_their_intent_has(examples):
    slots_by_intent: dict[str, set[str]] = {}
    for example in examples:
        slots_by_intent.setdefault(example.intent, set()).update(t[2:] for t in example.tags if t != "O")
    for chat in ("greet", "goodbye", "help", "reset", "out_of_scope", "more"):
        assert slots_by_intent[chat] == set(), chat
    assert {"category", "color", "material", "brand", "price_min", "price_max"} <= slots_by_intent["search"]
    assert slots_by_intent["compare"] == {"reference"}
    assert {"reference", "attribute"} == slots_by_intent["product_question"]
    assert {"price_relative", "exclude_color"} <= slots_by_intent["refine"]


def _values_by_slot(examples: list[Example]) -> dict[str, list[tuple[str, object]]]:
    values: dict[str, list[tuple[str, object]]] = {}
    for example in examples:
        for span in spans_from_tags(list(example.words), list(example.tags)):
            values.setdefault(span.slot, []).append((span.text, normalise_value(span.slot, span.text, VOCAB)))
    return values


def test_every_slot_is_generated(clean_examples):
    assert set(_values_by_slot(clean_examples)) == set(SLOTS)


@pytest.mark.parametrize("slot", SLOTS)
def test_every_generated_span_normalises_to_a_value(clean_examples, slot):
    nothing = sorted(
        {text for text, value in _values_by_slot(clean_examples)[slot] if value in (None, [], "")}
    )
    assert nothing == []


def test_generated_spans_normalise_to_the_vocabulary(clean_examples):
    values = _values_by_slot(clean_examples)
    assert {value for _, value in values["category"]} == set(VOCAB.categories)
    assert {b for _, value in values["brand"] + values["exclude_brand"] for b in value} == set(VOCAB.brands)
    colors = {c for _, value in values["color"] + values["exclude_color"] for c in value}
    assert colors == set(COLORS)
    assert {m for _, value in values["material"] + values["exclude_material"] for m in value} <= set(
        MATERIALS
    )
    assert {s for _, value in values["style"] for s in value} == set(STYLES)
    assert {value for _, value in values["room"]} == set(ROOMS)
    assert {f for _, value in values["feature"] for f in value} == set(VOCAB.features)
    assert {value for _, value in values["price_relative"]} == {"lower", "higher"}
    assert {value for _, value in values["sort"]} - {None} <= set(SORTS)
    assert {value for _, value in values["attribute"]} - {None} <= set(ATTRIBUTES)
    for slot in ("price_min", "price_max"):
        assert all(isinstance(value, int | float) and value > 0 for _, value in values[slot]), slot
    for text, value in values["reference"]:
        assert value, text
        assert all(p == -1 or 1 <= p <= 10 for p in value), text
    for text, value in values["size"]:
        assert value.endswith("-seat") or "x" in value or value in ("single", "double", "queen", "king"), text


def test_generated_categories_with_typos_still_give_a_category(examples):
    values = _values_by_slot(examples)["category"]
    assert all(value for _, value in values)
    snapped = sum(value in VOCAB.categories for _, value in values)
    assert snapped / len(values) > 0.97


# --------------------------------------------------------------------------- evaluation


def test_slot_pairs_count_each_list_value_and_compare_numbers_as_floats():
    pairs = slot_pairs(
        {"color": ["black", "white"], "price_max": 500, "reference": [1, 2], "category": "sofa"}
    )
    assert pairs == Counter(
        {
            ("color", "black"): 1,
            ("color", "white"): 1,
            ("price_max", 500.0): 1,
            ("reference", 1.0): 1,
            ("reference", 2.0): 1,
            ("category", "sofa"): 1,
        }
    )
    assert slot_pairs({"price_min": 19.999}) == Counter({("price_min", 20.0): 1})
    assert slot_pairs({}) == Counter()


LABELLED = [
    LabelledUtterance(
        "black or white sofa under 500",
        "search",
        {"category": "sofa", "color": ["black", "white"], "price_max": 500},
    ),
    LabelledUtterance("compare the first two", "compare", {"reference": [1, 2]}),
    LabelledUtterance("hello", "greet"),
    LabelledUtterance("lamps", "search", {"category": "lamp"}),
]
PARSED = {
    "black or white sofa under 500": Frame(
        "search", 0.9, {"category": "sofa", "color": ["black"], "price_max": 500.0}
    ),
    "compare the first two": Frame("similar", 0.4, {"reference": [1]}),
    "hello": Frame("greet", 0.99, {}),
    "lamps": Frame("search", 0.8, {"category": "lamp", "brand": ["acme"]}),
}


def test_evaluate_scores_a_hand_computed_case():
    calls = []

    def parse(texts):
        calls.append(list(texts))
        return [PARSED[text] for text in texts]

    report = evaluate(parse, LABELLED)
    assert calls == [[u.text for u in LABELLED]]  # one batch, in order
    assert report["utterances"] == 4
    assert report["intent_accuracy"] == 0.75
    assert report["exact_frame"] == 0.25
    # 5 of 6 predicted pairs are right; 5 of 7 expected pairs were found.
    precision, recall = 5 / 6, 5 / 7
    assert report["slot_precision"] == round(precision, 4)
    assert report["slot_recall"] == round(recall, 4)
    assert report["slot_f1"] == round(2 * precision * recall / (precision + recall), 4) == round(10 / 13, 4)
    assert report["per_intent"] == {
        "search": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2},
        "compare": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "similar": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
        "greet": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    }
    assert report["per_slot"] == {
        "brand": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
        "category": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2},
        "color": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
        "price_max": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "reference": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
    }
    assert {gold: row for gold, row in report["confusion"].items() if row} == {
        "compare": {"similar": 1},
        "greet": {"greet": 1},
        "search": {"search": 2},
    }
    assert [error["text"] for error in report["errors"]] == [
        "black or white sofa under 500",
        "compare the first two",
        "lamps",
    ]
    assert report["errors"][1] == {
        "text": "compare the first two",
        "expected": {"intent": "compare", "slots": {"reference": [1, 2]}},
        "got": {"intent": "similar", "confidence": 0.4, "slots": {"reference": [1]}},
    }


def test_the_confusion_matrix_has_rows_only_for_intents_in_the_labelled_set():
    report = evaluate(lambda texts: [PARSED[text] for text in texts], LABELLED)
    assert set(report["confusion"]) == {"compare", "greet", "search"}


def test_a_perfect_parser_scores_one_everywhere():
    expected = {u.text: Frame(u.intent, 1.0, u.slots) for u in LABELLED}
    report = evaluate(lambda texts: [expected[t] for t in texts], LABELLED)
    assert report["intent_accuracy"] == report["exact_frame"] == 1.0
    assert report["slot_precision"] == report["slot_recall"] == report["slot_f1"] == 1.0
    assert report["errors"] == []


def test_evaluate_refuses_a_parser_that_loses_utterances():
    with pytest.raises(ValueError, match="shorter"):
        evaluate(lambda texts: [Frame("greet")] * (len(texts) - 1), LABELLED)


def test_load_labelled_reads_a_jsonl_file(tmp_path):
    path = tmp_path / "labelled.jsonl"
    path.write_text(
        '{"text": "hi", "intent": "greet"}\n\n'
        '{"text": "grey sofa", "intent": "search", "slots": {"color": ["grey"]}, "catalog": "demo"}\n',
        encoding="utf-8",
    )
    assert load_labelled(path) == [
        LabelledUtterance("hi", "greet", {}, ""),
        LabelledUtterance("grey sofa", "search", {"color": ["grey"]}, "demo"),
    ]


def test_the_held_out_set_is_labelled_with_known_intents_slots_and_values():
    utterances = load_labelled()
    assert HELDOUT_PATH.name == "heldout.jsonl"
    assert len(utterances) >= 150
    assert {u.intent for u in utterances} == set(INTENTS)
    assert len({u.text.lower() for u in utterances}) == len(utterances)
    for u in utterances:
        assert u.text.strip(), u
        assert set(u.slots) <= set(SLOTS), u
        for slot, value in u.slots.items():
            if slot in LIST_SLOTS:
                assert isinstance(value, list), u
                assert value, u
                assert all(isinstance(v, str) for v in value), u
            elif slot in ("price_min", "price_max"):
                assert isinstance(value, int | float), u
                assert value > 0, u
            elif slot == "reference":
                assert value, u
                assert all(isinstance(v, int) for v in value), u
            else:
                assert isinstance(value, str), u
                assert value, u
        for color in u.slots.get("color", []) + u.slots.get("exclude_color", []):
            assert color in COLORS, u
        for material in u.slots.get("material", []) + u.slots.get("exclude_material", []):
            assert material in MATERIALS, u
        assert u.slots.get("sort", SORTS[0]) in SORTS, u
        assert u.slots.get("attribute", ATTRIBUTES[0]) in ATTRIBUTES, u
        assert u.slots.get("price_relative", "lower") in ("lower", "higher"), u
        if "category" in u.slots:
            assert singular(u.slots["category"]) == u.slots["category"], u
        assert u.slots.get("price_min", 0) <= u.slots.get("price_max", math.inf), u


# --------------------------------------------------------------------------- sub-word labels


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(default_model_path())


def test_each_words_tag_lands_on_its_first_sub_token(tokenizer):
    utterances = [["grey", "sofaa", "from", "dunmore"], ["hi"]]
    assert len(tokenizer.tokenize("sofaa")) > 1
    assert len(tokenizer.tokenize("dunmore")) > 1
    batch = tokenize(tokenizer, utterances)
    labels = tag_labels(batch, [[11, 12, 0, 13], [14]])
    assert labels.shape == batch.input_ids.shape
    for row, words in enumerate(utterances):
        tokens = tokenizer.convert_ids_to_tokens(batch.input_ids[row].tolist())
        positions = batch.first_tokens[row]
        assert len(positions) == len(words)
        for word, position in zip(words, positions, strict=True):
            assert tokens[position] == tokenizer.tokenize(word)[0]
        labelled = {position: int(label) for position, label in enumerate(labels[row]) if label != IGNORED}
        assert labelled == dict(zip(positions, [[11, 12, 0, 13], [14]][row], strict=True))
    # "sofaa" is two tokens, "dunmore" too: their second tokens, [CLS], [SEP] and padding are ignored.
    assert batch.first_tokens[0] == [1, 2, 4, 5]
    assert labels[0].tolist() == [IGNORED, 11, 12, IGNORED, 0, 13, IGNORED, IGNORED]
    assert labels[1].tolist() == [IGNORED, 14, *([IGNORED] * 6)]
    assert batch.attention_mask[1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]


def test_words_past_the_token_limit_get_no_label(tokenizer):
    words = ["sofa"] * 200
    batch = tokenize(tokenizer, [words])
    assert batch.input_ids.shape[1] == MAX_TOKENS
    assert len(batch.first_tokens[0]) == MAX_TOKENS - 2
    labels = tag_labels(batch, [[3] * 200])
    assert int((labels != IGNORED).sum()) == MAX_TOKENS - 2


def test_batch_to_keeps_the_word_positions(tokenizer):
    batch = tokenize(tokenizer, [["a", "sofa"]])
    moved = batch.to("cpu")
    assert moved.first_tokens == batch.first_tokens
    assert moved.input_ids.equal(batch.input_ids)


# --------------------------------------------------------------------------- training and the parser

QUESTIONS = [
    "show me grey sofas under 500",
    "compare the first two",
    "add the second one to my cart",
    "black rug, not leather",
    "how much is the first one",
    "cheaper ones",
    "hi",
    "bye",
    "what's the weather",
    "a dunmore & vale bookcase with storage between 200 and 400",
    "sofaa",
]


@pytest.fixture(scope="module")
def trained():
    """A parser trained for two epochs on 800 generated examples, on the CPU, and its loss reports."""
    progress: list[dict] = []
    examples = generate_examples(VOCAB, 800, seed=1)
    parser = train(
        examples, VOCAB, TrainingConfig(epochs=2, batch_size=16), device="cpu", on_progress=progress.append
    )
    return parser, progress


@pytest.fixture(scope="module")
def saved_parser(trained, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("parser")
    trained[0].save(folder)
    return folder


def test_training_without_examples_is_refused():
    with pytest.raises(ValueError, match="no training examples"):
        train([], VOCAB, device="cpu")


@pytest.mark.slow
def test_training_reports_a_falling_loss(trained):
    _, progress = trained
    assert len(progress) >= 2
    assert progress[-1]["step"] == progress[-1]["steps"]
    assert progress[-1]["epoch"] == 2
    assert [p["step"] for p in progress] == sorted(p["step"] for p in progress)
    assert progress[-1]["loss"] < progress[0]["loss"]


@pytest.mark.slow
def test_parse_gives_a_frame_with_a_known_intent_and_a_confidence(trained):
    parser, _ = trained
    assert parser.quantized is False
    for text in QUESTIONS:
        frame = parser.parse(text)
        assert isinstance(frame, Frame)
        assert frame.intent in INTENTS
        assert 0.0 <= frame.confidence <= 1.0
        assert set(frame.slots) <= set(SLOTS)


@pytest.mark.slow
def test_the_trained_parser_reads_a_plain_search(trained):
    parser, _ = trained
    frame = parser.parse("show me grey sofas under 500")
    assert frame.intent == "search"
    assert frame.slots == {"color": ["grey"], "category": "sofa", "price_max": 500}
    assert parser.parse("add the second one to my cart").slots == {"reference": [2]}


@pytest.mark.slow
def test_parse_batch_keeps_the_order_and_equals_single_parses(trained):
    parser, _ = trained
    texts = QUESTIONS + list(reversed(QUESTIONS))  # more than one thread's worth, with padding
    frames = parser.parse_batch(texts)
    assert len(frames) == len(texts)
    for text, frame in zip(texts, frames, strict=True):
        single = parser.parse(text)
        assert (frame.intent, frame.slots) == (single.intent, single.slots), text
        assert frame.confidence == pytest.approx(single.confidence, abs=0.02), text
    halves = frames[: len(QUESTIONS)], frames[len(QUESTIONS) :][::-1]
    assert [(f.intent, f.slots) for f in halves[0]] == [(f.intent, f.slots) for f in halves[1]]
    small = parser.parse_batch(texts, batch_size=3)
    assert [(f.intent, f.slots) for f in small] == [(f.intent, f.slots) for f in frames]
    assert parser.parse_batch([]) == []


@pytest.mark.slow
@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_an_empty_utterance_is_out_of_scope_with_no_slots(trained, text):
    parser, _ = trained
    assert parser.parse(text) == Frame("out_of_scope", 1.0, {})
    frames = parser.parse_batch([text, "grey sofas", text])
    assert frames[0] == frames[2] == Frame("out_of_scope", 1.0, {})
    single = parser.parse("grey sofas")
    assert (frames[1].intent, frames[1].slots) == (single.intent, single.slots)


@pytest.mark.slow
def test_a_very_long_utterance_is_parsed(trained):
    parser, _ = trained
    text = "show me grey sofas under 500 please " * 72
    assert len(split_words(text)) >= 500
    frame = parser.parse(text)
    assert frame.intent in INTENTS
    assert 0.0 <= frame.confidence <= 1.0
    punctuation = parser.parse("!!! ??? ...")
    assert punctuation.intent in INTENTS


@pytest.mark.slow
def test_a_saved_parser_loads_to_the_same_frames(trained, saved_parser):
    parser, _ = trained
    for name in ("encoder", "heads.pt", "labels.json", "vocabulary.json"):
        assert (saved_parser / name).exists(), name
    loaded = Parser.load(saved_parser, quantize=False)
    assert loaded.version == saved_parser.name
    assert loaded.vocabulary == VOCAB
    assert loaded.intents == list(INTENTS)
    assert loaded.tags == list(TAGS)
    expected, got = parser.parse_batch(QUESTIONS), loaded.parse_batch(QUESTIONS)
    assert [(f.intent, f.slots) for f in got] == [(f.intent, f.slots) for f in expected]
    for a, b in zip(got, expected, strict=True):
        assert a.confidence == pytest.approx(b.confidence, abs=1e-4)


@pytest.mark.slow
def test_a_loaded_parser_is_quantized_on_the_cpu_by_default(saved_parser):
    loaded = Parser.load(saved_parser, version="v1")
    assert loaded.quantized is True
    assert loaded.version == "v1"
    frame = loaded.parse("show me grey sofas under 500")
    assert frame.intent in INTENTS
    assert 0.0 <= frame.confidence <= 1.0


@pytest.mark.slow
def test_the_trained_parser_can_be_evaluated_on_the_held_out_set(trained):
    parser, _ = trained
    report = evaluate(parser.parse_batch, load_labelled()[:40])
    assert report["utterances"] == 40
    for key in ("intent_accuracy", "slot_precision", "slot_recall", "slot_f1", "exact_frame"):
        assert 0.0 <= report[key] <= 1.0, key
    assert report["intent_accuracy"] > 0.3
    assert sum(sum(row.values()) for row in report["confusion"].values()) == 40


# --------------------------------------------------------------------------- parser versions


def publish(store: ParserStore, parser: Parser, activate: bool = True, **manifest) -> str:
    """``parser`` saved and committed as a new version."""
    with store.staging() as staged:
        parser.save(staged)
        return store.commit(staged, {"examples": 800, **manifest}, activate=activate)


@pytest.mark.slow
def test_a_committed_parser_is_what_the_live_parser_serves(trained, tmp_path):
    store = ParserStore(tmp_path / "parser")
    live = LiveParser(store)
    assert live.get() is None
    first = publish(store, trained[0], note="first")
    assert store.active_version() == first
    assert store.versions() == [first]
    assert store.manifest()["note"] == "first"
    assert store.manifest()["version"] == first
    assert not any(store.staging_dir.iterdir())
    parser = live.get()
    assert isinstance(parser, Parser)
    assert parser.version == first
    assert live.get() is parser  # unchanged ACTIVE: no reload
    assert parser.parse("show me grey sofas under 500").intent in INTENTS


@pytest.mark.slow
def test_activating_another_version_hot_reloads_the_live_parser(trained, tmp_path):
    store = ParserStore(tmp_path / "parser")
    live = LiveParser(store)
    first = publish(store, trained[0])
    served = live.get()
    second = publish(store, trained[0], activate=False)
    assert second > first
    assert store.versions() == [first, second]
    assert store.active_version() == first
    assert live.get() is served
    store.activate(second)
    reloaded = live.get()
    assert reloaded is not served
    assert reloaded.version == second
    assert live.get() is reloaded
    store.activate(first)
    assert live.get().version == first


@pytest.mark.slow
def test_activating_an_unknown_version_is_refused(trained, tmp_path):
    store = ParserStore(tmp_path / "parser")
    first = publish(store, trained[0])
    with pytest.raises(LookupError):
        store.activate("20000101T000000.000000")
    assert store.active_version() == first


def test_a_failed_staging_leaves_nothing_behind(tmp_path):
    store = ParserStore(tmp_path / "parser")

    def die_while_saving() -> None:
        with store.staging() as staged:
            (staged / "heads.pt").write_bytes(b"half")
            raise RuntimeError("training died")

    with pytest.raises(RuntimeError, match="training died"):
        die_while_saving()
    assert list(store.staging_dir.iterdir()) == []
    assert store.versions() == []
    assert store.active_version() is None
    assert LiveParser(store).get() is None


def test_rule_slots_fill_in_hard_slots_the_model_missed_for_searches_only():
    rules = Frame("search", 1.0, {"brand": ["apple"], "price_max": 50.0, "category": "iphone"})
    model = Frame("search", 0.9, {"category": "apple iphone", "price_max": 40.0})
    merged = with_rule_slots(model, rules)
    assert merged.slots == {"category": "apple iphone", "price_max": 40.0, "brand": ["apple"]}
    assert merged.confidence == 0.9
    question = Frame("product_question", 0.9, {"attribute": "price"})
    assert with_rule_slots(question, rules) is question


def test_loading_the_encoder_logs_no_warnings_and_draws_no_progress_bar(capfd, caplog):
    """The pooler weights MiniLM ships unused and the absent tensor-parallel plan are expected;
    transformers reports both as warnings (and draws a bar) on every load unless told not to."""
    from assistant.nlu.model import load_encoder

    with caplog.at_level("WARNING"):
        load_encoder(default_model_path())
    _, printed = capfd.readouterr()
    assert not [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert "LOAD REPORT" not in printed
    assert "not sharded" not in printed
    assert "Loading weights" not in printed
