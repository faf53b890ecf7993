"""BM25 keyword search over the product texts, with bm25s.

Words are lower-cased, stripped of accents (IKEA's "PÖANG" is typed "poang"),
English stop words dropped and the rest stemmed ("sofas" finds "sofa");
single characters and digits are kept, since "iphone 7" and "iphone 6" differ
by one. Rows are addressed by position, as in the vector index. No Django imports.
"""

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from .vector_index import top_k

TOKEN_PATTERN = r"(?u)\b\w+\b"
FOLDER_NAME = "lexical"
_stemmer = Stemmer.Stemmer("english")


def fold_accents(text: str) -> str:
    """``"PÖANG café"`` -> ``"POANG cafe"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """The index terms of each text."""
    return bm25s.tokenize(
        [fold_accents(text) for text in texts],
        token_pattern=TOKEN_PATTERN,
        stopwords="en",
        stemmer=_stemmer,
        return_ids=False,
        show_progress=False,
    )


@dataclass(frozen=True)
class LexicalMatch:
    """A query's BM25 score for every position, and the best score any product could reach.

    ``ceiling`` sums each query term's highest score in the catalog: a product
    matching every term as well as any product does. Dividing by it keeps a
    weak match of a few words weak, where min–max scaling would stretch it to 1.
    """

    scores: np.ndarray
    ceiling: float


class LexicalIndex:
    """BM25 (Lucene variant) scores of a query against every product text."""

    def __init__(self, bm25: bm25s.BM25 | None) -> None:
        self.bm25 = bm25  # None for a catalog without a single term, which bm25s cannot index

    def __len__(self) -> int:
        return int(self.bm25.scores["num_docs"]) if self.bm25 else 0

    @classmethod
    def build(cls, texts: Sequence[str]) -> "LexicalIndex":
        tokens = tokenize(texts)
        if not any(tokens):  # bm25s cannot index a corpus without a single term
            return cls(None)
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        return cls(bm25)

    def match(self, query: str) -> LexicalMatch | None:
        """Scores and ceiling of ``query``, or ``None`` when none of its terms is in the index."""
        if self.bm25 is None:
            return None
        term_ids = self.bm25.get_tokens_ids(tokenize([query])[0])
        if not term_ids:
            return None
        ceiling = float(self._best_score_per_term[term_ids].sum())
        return LexicalMatch(self.bm25.get_scores_from_ids(term_ids), ceiling)

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every position, or ``None`` when no query term is in the index."""
        found = self.match(query)
        return found.scores if found else None

    def containing(self, phrase: str) -> np.ndarray:
        """A mask of the products whose text has every term of ``phrase`` ("sliding doors" also
        finds "sliding door"); all ``False`` when a term is in no product."""
        terms = tokenize([phrase])[0]
        mask = np.zeros(len(self), dtype=bool)
        if self.bm25 is None or not terms:
            return mask
        vocabulary = self.bm25.vocab_dict
        if any(term not in vocabulary for term in terms):
            return mask
        indices, indptr = self.bm25.scores["indices"], self.bm25.scores["indptr"]
        mask[:] = True
        for term in terms:
            term_id = vocabulary[term]
            having = np.zeros(len(self), dtype=bool)
            having[indices[indptr[term_id] : indptr[term_id + 1]]] = True
            mask &= having
        return mask

    def knows(self, word: str) -> bool:
        """Whether some product's text has ``word``, or (from five letters) a word one typing slip
        from it: "bessta" is BESTÅ's, "hmm" is nobody's."""
        terms = tokenize([word])[0]
        if self.bm25 is None or not terms:
            return False
        vocabulary = self.bm25.vocab_dict
        term = terms[0]
        if term in vocabulary:
            return True
        return (
            len(term) >= 5
            and process.extractOne(term, vocabulary.keys(), scorer=Levenshtein.distance, score_cutoff=1)
            is not None
        )

    @functools.cached_property
    def _best_score_per_term(self) -> np.ndarray:
        """Each term's highest score over all products (bm25s keeps scores by term, CSC-style)."""
        data, indptr = self.bm25.scores["data"], self.bm25.scores["indptr"]
        best = np.zeros(len(indptr) - 1, dtype=np.float64)
        filled = np.flatnonzero(np.diff(indptr) > 0)
        best[filled] = np.maximum.reduceat(np.asarray(data, dtype=np.float64), indptr[filled])
        return best

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best-scoring positions with a score above zero, best first."""
        return best_matches(self.scores(query), k, allowed)

    def save(self, folder: Path) -> None:
        if self.bm25 is not None:
            self.bm25.save(str(folder / FOLDER_NAME), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        if not (folder / FOLDER_NAME).exists():
            return cls(None)
        return cls(bm25s.BM25.load(str(folder / FOLDER_NAME), mmap=True, show_progress=False))


def best_matches(
    scores: np.ndarray | None, k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best positions of a full score array among those allowed and above zero."""
    if scores is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    matching = scores > 0
    if allowed is not None:
        matching &= allowed
    positions = np.flatnonzero(matching)
    return top_k(positions, scores[positions], k)
