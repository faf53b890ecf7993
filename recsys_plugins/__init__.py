"""Ranking: pure rankers that order candidate products for a shopper's context."""

__version__ = "0.5.0"
