"""Shoppers' words for product types (catalog/retrieval/synonyms.py): the file format, and
rewriting only where the catalog lacks the said phrase and has the meant one."""

from pathlib import Path

import pytest

from catalog.retrieval.synonyms import SHIPPED, Synonyms

CATALOG_TYPES = {
    "sofa": 20,
    "2-seat sofa": 8,
    "tv bench": 6,
    "chest of drawers": 9,
    "changing table/bookshelf": 2,
}


def uses(phrase: str) -> int:
    """Products whose type names use ``phrase``, like ``TypeVocabulary.uses``."""
    return sum(count for kind, count in CATALOG_TYPES.items() if phrase in kind)


def test_said_phrases_become_the_catalogs_own(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.txt"
    path.write_text(
        "# furniture\ncouch, settee => sofa\nloveseat, love seat => 2-seat sofa  # US\ntv stand => tv bench\n"
    )
    synonyms = Synonyms.read([path])
    assert synonyms.rewrite("grey couch under 500", uses) == "grey sofa under 500"
    assert synonyms.rewrite("Love seat", uses) == "2-seat sofa"
    assert synonyms.rewrite("loveseats in blue", uses) == "2-seat sofa in blue"
    assert synonyms.rewrite("white tv stand", uses) == "white tv bench"
    # whole words only, and text without a synonym comes back as written
    assert synonyms.rewrite("couchette", uses) == "couchette"
    assert synonyms.rewrite("Grey Sofa", uses) == "Grey Sofa"


def test_a_phrase_the_catalog_uses_or_a_meaning_it_lacks_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.txt"
    path.write_text("sofa => couch\nloveseat => love seat bench\n")
    synonyms = Synonyms.read([path])
    assert synonyms.rewrite("sofa", uses) == "sofa"  # the catalog calls them sofas
    assert synonyms.rewrite("loveseat", uses) == "loveseat"  # and has no "love seat bench"
    # A word only a couple of products' types use is not the shop's own.
    assert Synonyms.read([SHIPPED]).rewrite("bookshelf", uses) == "bookshelf"  # no bookcases here
    bookcases = {**CATALOG_TYPES, "bookcase": 30}
    assert (
        Synonyms.read([SHIPPED]).rewrite(
            "bookshelf", lambda phrase: sum(count for kind, count in bookcases.items() if phrase in kind)
        )
        == "bookcase"
    )


def test_a_later_file_wins_and_a_broken_rule_names_its_line(tmp_path: Path) -> None:
    first, second, broken = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    first.write_text("couch => sofa\n")
    second.write_text("couch => 2-seat sofa\n")
    assert Synonyms.read([first, second]).rewrite("couch", uses) == "2-seat sofa"
    broken.write_text("couch => sofa\nsettee sofa\n")
    with pytest.raises(ValueError, match=r"c\.txt:2"):
        Synonyms.read([broken])


def test_the_shipped_list_reads_and_maps_every_phrase_to_another() -> None:
    synonyms = Synonyms.read([SHIPPED])
    assert len(synonyms.rules) >= 50
    assert all(said != meant for said, meant in synonyms.rules)
    said = [phrase for phrase, _ in synonyms.rules]
    assert said == sorted(said, key=lambda phrase: (-len(phrase), phrase))
