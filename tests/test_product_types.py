"""The product type vocabulary and its phrase resolver, on the demo catalog and the public data.

Real MiniLM, real catalogs: the demo catalog's product vectors (its titles)
make the centroids; the IKEA + Best Buy vocabulary is built from type names alone.
"""

from pathlib import Path

import numpy as np
import pytest

from catalog.importers import ProductRecord, read_catalog
from catalog.retrieval.encoder import Encoder, get_encoder
from catalog.retrieval.product_types import NO_TYPE, TypeMatch, TypeRow, TypeVocabulary, singular

from .conftest import DEMO_CATALOG, shared_data


def rows_of(records: list[ProductRecord]) -> list[TypeRow]:
    return [
        TypeRow(str(record.attributes.get("type", "")), record.categories, record.title) for record in records
    ]


def read(path: Path, fmt: str) -> list[ProductRecord]:
    return [record for _, record in read_catalog(path, fmt) if isinstance(record, ProductRecord)]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return get_encoder("cpu")


@pytest.fixture(scope="module")
def demo(encoder: Encoder) -> TypeVocabulary:
    records = read(DEMO_CATALOG, "jsonl")
    vectors = encoder.encode([record.title for record in records], batch_size=64)
    return TypeVocabulary.build(rows_of(records), encoder=encoder, vectors=vectors)


@pytest.fixture(scope="module")
def public(encoder: Encoder) -> TypeVocabulary:
    records = read(shared_data("ikea/ikea.csv"), "ikea") + read(
        shared_data("bestbuy/products.json"), "bestbuy"
    )
    return TypeVocabulary.build(rows_of(records), encoder=encoder)


def resolved(vocabulary: TypeVocabulary, phrase: str, encoder: Encoder) -> TypeMatch:
    match = vocabulary.resolve(phrase, encoder=encoder)
    assert match is not None, phrase
    return match


def heads(vocabulary: TypeVocabulary, match: TypeMatch) -> set[str]:
    return {vocabulary.types[kind].head for kind in match.type_ids}


# -- rules, without a model -------------------------------------------------


def test_type_keys_heads_and_accessories_follow_the_phrase() -> None:
    rows = [
        TypeRow("3-seat sofa", ["Sofas & armchairs"]),
        TypeRow("Corner sofa", ["Sofas & armchairs"]),
        TypeRow("cover for 3-seat sofa", ["Sofas & armchairs"]),
        TypeRow("chest of 3 drawers", ["Chests of drawers & drawer units"]),
        TypeRow("chest of 6 drawers", ["Chests of drawers & drawer units"]),
        TypeRow("table and 4 chairs", ["Tables & desks"]),
        TypeRow("bar stool with backrest", ["Bar furniture"]),
        TypeRow("stool", ["Chairs"]),
        TypeRow("", [("Cell Phones", "Unlocked Cell Phones")]),
        TypeRow("", [("Cell Phones", "Cell Phone Accessories", "Prepaid Minutes")]),
        TypeRow("", [("Cell Phones", "iPhone")]),
        TypeRow("", []),
    ]
    vocabulary = TypeVocabulary.build(rows)
    by_key = {kind.key: kind for kind in vocabulary.types}

    assert {key: kind.head for key, kind in by_key.items()} == {
        "3-seat sofa": "sofa",
        "corner sofa": "sofa",
        "cover for 3-seat sofa": "cover",
        "chest of 3 drawers": "chest of drawer",
        "chest of 6 drawers": "chest of drawer",
        "table and 4 chairs": "table and chair",
        "bar stool with backrest": "stool",
        "stool": "stool",
        "unlocked cell phone": "phone",
        "prepaid minute": "minute",
        "iphone": "iphone",
    }
    assert by_key["cover for 3-seat sofa"].accessory_of == "sofa"
    assert by_key["prepaid minute"].accessory_of == "phone"
    assert not by_key["3-seat sofa"].accessory
    assert not by_key["unlocked cell phone"].accessory
    # "iPhone" sits under "Cell Phones": it is a phone too.
    assert "phone" in by_key["iphone"].concepts
    assert vocabulary.concepts["chest of drawer"].label == "chest of drawers"
    assert vocabulary.codes.tolist()[-1] == NO_TYPE
    assert vocabulary.codes.tolist()[0] == by_key["3-seat sofa"].id


def test_words_alone_resolve_plurals_typos_and_sub_types() -> None:
    rows = [TypeRow(text) for text in ("3-seat sofa", "corner sofa", "cover for 3-seat sofa", "bookcase")]
    vocabulary = TypeVocabulary.build(rows, dictionary=["nice", "something"])

    sofas = vocabulary.resolve("Sofas")
    assert sofas is not None
    assert set(sofas.keys) == {"3-seat sofa", "corner sofa"}
    three = vocabulary.resolve("grey 3-seat sofa under 1000")
    assert three is not None
    assert three.keys == ("3-seat sofa",)
    cover = vocabulary.resolve("cover for a 3-seat sofa")
    assert cover is not None
    assert cover.keys == ("cover for 3-seat sofa",)
    assert cover.accessory
    typo = vocabulary.resolve("bookcse")
    assert typo is not None
    assert typo.keys == ("bookcase",)
    assert typo.method == "typo"
    # Without an encoder, a phrase of unknown words is no type.
    assert vocabulary.resolve("something nice") is None
    assert singular("shelves") == "shelf"
    assert singular("accessories") == "accessory"


# -- the demo catalog -------------------------------------------------------


def test_demo_sofa_excludes_its_neighbours(demo: TypeVocabulary, encoder: Encoder) -> None:
    match = resolved(demo, "sofas", encoder)
    assert {"sofa", "corner sofa", "outdoor sofa"} <= set(match.keys)
    assert heads(demo, match) == {"sofa"}
    assert not match.accessory


def test_demo_typo_plural_and_synonym(demo: TypeVocabulary, encoder: Encoder) -> None:
    lamp = resolved(demo, "wht lmap", encoder)
    assert set(lamp.keys) == {"floor lamp", "pendant lamp", "table lamp"}
    assert lamp.method == "typo"
    assert resolved(demo, "bookcse", encoder).keys == ("bookcase",)
    assert resolved(demo, "bookcases", encoder).keys == ("bookcase",)
    couch = resolved(demo, "cheap couch", encoder)
    assert couch.concept == "sofa"
    assert couch.method == "embedding"


def test_demo_table_lamp_is_a_lamp_not_a_table(demo: TypeVocabulary, encoder: Encoder) -> None:
    tables = resolved(demo, "table", encoder)
    assert "table lamp" not in tables.keys
    assert {"coffee table", "dining table", "bedside table"} <= set(tables.keys)


def test_demo_phone_case_is_an_accessory_and_phones_are_not_sold(
    demo: TypeVocabulary, encoder: Encoder
) -> None:
    case = resolved(demo, "phone case", encoder)
    assert case.keys == ("phone case",)
    assert case.accessory
    # The demo catalog sells things for phones, not phones.
    phone = resolved(demo, "phone", encoder)
    assert not phone.supported
    assert any("case" in label for label in phone.closest), phone.closest


def test_demo_unsupported_and_non_types(demo: TypeVocabulary, encoder: Encoder) -> None:
    fridge = resolved(demo, "fridge", encoder)
    assert not fridge.supported
    assert fridge.method == "unsupported"
    assert 1 <= len(fridge.closest) <= 3
    assert all(name in demo.concepts for name in fridge.closest)
    for phrase in ("something nice", "under 500", "hello"):
        assert demo.resolve(phrase, encoder=encoder) is None, phrase


# -- IKEA + Best Buy --------------------------------------------------------


def test_sofa_never_answers_with_covers(public: TypeVocabulary, encoder: Encoder) -> None:
    sofa = resolved(public, "grey 3-seat sofa under 1000", encoder)
    assert sofa.concept == "sofa"
    assert not sofa.accessory
    assert "3-seat sofa" in sofa.keys
    assert all("3-seat" in key for key in sofa.keys)
    assert not any(public.types[kind].accessory for kind in sofa.type_ids)
    every_sofa = resolved(public, "sofa", encoder)
    assert {"3-seat sofa", "corner sofa", "2-seat sofa"} <= set(every_sofa.keys)
    assert not any("cover" in key for key in every_sofa.keys)

    cover = resolved(public, "cover for 3-seat sofa", encoder)
    assert cover.accessory
    assert "cover for 3-seat sofa" in cover.keys
    assert all("cover" in key for key in cover.keys)
    assert public.types[cover.type_ids[0]].accessory_of in ("sofa", "sofa-bed")
    assert "cover for 3-seat sofa" in {public.types[kind].key for kind in public.accessories_for("sofa")}


def test_phone_is_not_its_accessories(public: TypeVocabulary, encoder: Encoder) -> None:
    phone = resolved(public, "phone", encoder)
    assert {"unlocked cell phone", "prepaid phone", "iphone", "iphone se"} <= set(phone.keys)
    assert not {"prepaid minute", "cell phone case & clips", "screen protector"} & set(phone.keys)
    assert not phone.accessory

    card = resolved(public, "prepaid card", encoder)
    assert card.accessory
    assert card.keys == ("prepaid minute",)
    case = resolved(public, "iphone 7 case", encoder)
    assert set(case.keys) == {"iphone 7 case", "iphone 7 plus case"}
    assert case.accessory
    assert resolved(public, "cellphone", encoder).concept == "phone"


def test_bed_means_beds(public: TypeVocabulary, encoder: Encoder) -> None:
    bed = resolved(public, "double bed in oak with storage", encoder)
    assert bed.concept == "bed"
    assert {"bed frame", "bed frame with storage", "divan bed", "bunk bed frame"} <= set(bed.keys)
    assert not {"bedside table", "3-seat sofa-bed", "bed tent"} & set(bed.keys)


def test_public_typos_plurals_synonyms(public: TypeVocabulary, encoder: Encoder) -> None:
    for phrase in ("bookcse", "bookcases", "bookshelf", "Bookcase"):
        assert resolved(public, phrase, encoder).concept == "bookcase", phrase
    assert resolved(public, "couch", encoder).concept == "sofa"
    assert resolved(public, "mobile", encoder).concept == "phone"
    assert resolved(public, "chests of drawers", encoder).concept == "chest of drawer"
    # A count inside an "of" name is still that thing, not its last word ("drawers").
    assert resolved(public, "white chest of 3 drawers", encoder).concept == "chest of drawer"


def test_public_unsupported_and_non_types(public: TypeVocabulary, encoder: Encoder) -> None:
    fridge = resolved(public, "fridge", encoder)
    assert not fridge.supported
    assert fridge.closest
    # IKEA sells laptop stands and supports, not laptops: those are the closest.
    laptop = resolved(public, "laptop", encoder)
    assert not laptop.supported
    assert laptop.closest
    assert all("laptop" in label for label in laptop.closest), laptop.closest
    for phrase in ("something nice", "under 500", "hello", "the cheapest one please"):
        assert public.resolve(phrase, encoder=encoder) is None, phrase


def test_parts_made_for_a_product_are_of_their_own_kind(public: TypeVocabulary, encoder: Encoder) -> None:
    legs = resolved(public, "legs for sofa", encoder)
    assert legs.concept == "leg"
    assert legs.keys
    assert all(key.startswith("leg") and "sofa" in key for key in legs.keys), legs.keys
    assert legs.type_ids == tuple(
        kind for kind in public.concepts["leg"].type_ids if "sofa" in public.types[kind].key
    )


def test_uses_tells_the_phrases_the_catalog_names_types_with(public: TypeVocabulary) -> None:
    assert public.uses("tv bench") >= 10
    assert public.uses("Chests of drawers") > 0
    assert public.uses("sofa") > public.uses("3-seat sofa") > 0
    assert public.uses("tv stand") == public.uses("loveseat") == public.uses("") == 0


@pytest.fixture(scope="module")
def ikea_with_vectors(encoder: Encoder) -> TypeVocabulary:
    """IKEA wardrobes, sofas, chests, lamps and bookcases, with their title vectors."""
    kinds = ("wardrobe", "sofa", "chest of", "lamp", "bookcase")
    records = [
        record
        for record in read(shared_data("ikea/ikea.csv"), "ikea")
        if any(kind in str(record.attributes.get("type", "")).lower() for kind in kinds)
    ]
    vectors = encoder.encode([record.title for record in records], batch_size=64)
    return TypeVocabulary.build(rows_of(records), encoder=encoder, vectors=vectors)


def test_the_nearest_products_name_a_kind_no_type_name_is_near(
    ikea_with_vectors: TypeVocabulary, encoder: Encoder
) -> None:
    closet = resolved(ikea_with_vectors, "closet", encoder)
    assert closet.method == "neighbours"
    assert closet.concept == "wardrobe"
    # Far from everything, the products' vote does not count: not a wardrobe, nor anything else.
    fridge = ikea_with_vectors.resolve("fridge", encoder=encoder)
    assert fridge is None or not fridge.supported
    vocabulary_without_products = TypeVocabulary(
        ikea_with_vectors.types,
        ikea_with_vectors.codes,
        ikea_with_vectors.dictionary,
        ikea_with_vectors.name_vectors,
        ikea_with_vectors.centroids,
        ikea_with_vectors.type_vectors,
    )
    without = vocabulary_without_products.resolve("closet", encoder=encoder)
    assert without is None or without.method != "neighbours"


def test_codes_mark_each_product_with_its_type(public: TypeVocabulary, encoder: Encoder) -> None:
    sofa = resolved(public, "sofa", encoder)
    mask = public.product_mask(sofa)
    assert mask.sum() == public.concepts["sofa"].count
    assert all(public.types[code].head == "sofa" for code in public.codes[mask])
    assert (public.codes >= 0).all()


def test_save_and_load_keep_every_answer(public: TypeVocabulary, encoder: Encoder, tmp_path: Path) -> None:
    public.save(tmp_path)
    loaded = TypeVocabulary.load(tmp_path)
    assert np.array_equal(loaded.codes, public.codes)
    assert loaded.types == public.types
    for phrase in ("3-seat sofa", "couch", "fridge", "bookcse", "hello", "prepaid card"):
        vector = encoder.encode([phrase])[0]
        assert loaded.resolve(phrase, vector=vector) == public.resolve(phrase, vector=vector), phrase
