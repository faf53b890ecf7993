"""Ranking: pure rankers that order candidate products for a shopper's context."""
