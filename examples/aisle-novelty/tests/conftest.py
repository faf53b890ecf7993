"""The kit's fixtures, for the tests here that do not subclass a contract."""

from recsys_plugins.testing import sample_candidates, sample_context  # noqa: F401
