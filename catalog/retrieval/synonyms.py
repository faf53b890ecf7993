"""Shoppers' words for product types that a catalog names otherwise, as a search engine's
synonym list: "couch" for sofa, "dresser" for chest of drawers, "power bank" for portable
charger. No embedding knows all of these (MiniLM puts "loveseat" nearer footstools than sofas).

A line reads ``said, said => meant``; ``#`` starts a comment. A said phrase becomes the meant
one only where the catalog's types use the meant one and hardly use the said phrase (fewer
than ``KEPT_FROM`` products: "changing table/bookshelf" does not make IKEA a seller of
bookshelves) (``TypeVocabulary.uses``), so a shop that sells "loveseats" keeps them. The shipped
list is ``synonyms.txt``; a shop adds its own file with ``AISLE_SYNONYMS_FILE``. No Django imports.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

SHIPPED = Path(__file__).with_name("synonyms.txt")
KEPT_FROM = 5
"""A said phrase the types of this many products use is the shop's own word, kept."""


@dataclass(frozen=True)
class Synonyms:
    """(said, meant) phrase pairs, longest said first, lower-case."""

    rules: tuple[tuple[str, str], ...] = ()

    @classmethod
    def read(cls, paths: Iterable[Path]) -> "Synonyms":
        """The rules of the files at ``paths``; a later file's rule for a phrase wins.

        Raises ``ValueError`` naming the file and line of a rule without ``=>``.
        """
        meanings: dict[str, str] = {}
        for path in paths:
            for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                said, arrow, meant = line.partition("=>")
                meant = " ".join(meant.lower().split())
                if not arrow or not meant:
                    raise ValueError(f"{path}:{number}: a synonym rule reads 'said, said => meant'")
                for phrase in said.split(","):
                    phrase = " ".join(phrase.lower().split())
                    if phrase and phrase != meant:
                        meanings[phrase] = meant
        rules = sorted(meanings.items(), key=lambda rule: (-len(rule[0]), rule[0]))
        return cls(tuple(rules))

    def rewrite(self, text: str, uses: Callable[[str], int]) -> str:
        """``text`` with each said phrase (a whole word or words, plural too) replaced by its
        meaning where ``uses`` (products whose types use a phrase) counts the meant phrase and
        fewer than ``KEPT_FROM`` for the said one."""
        lowered = text.lower()
        for said, meant in self.rules:
            if said not in lowered:  # a substring test first: most texts hold no synonym
                continue
            pattern = rf"(?<![\w-]){re.escape(said)}(?:e?s)?(?![\w-])"
            if re.search(pattern, lowered) and uses(meant) and uses(said) < KEPT_FROM:
                lowered = re.sub(pattern, meant, lowered)
        return lowered if lowered != text.lower() else text
