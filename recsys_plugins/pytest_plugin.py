"""The plugin kit as a pytest plugin, registered by installing ``aisle-ranking``.

Its ``pytest11`` entry point has pytest load this module in every run, so a plugin's tests need
no ``conftest.py``: the fixtures ``sample_candidates``, ``sample_context`` and
``sample_interactions`` are there, and the assertions of :mod:`recsys_plugins.testing` are
rewritten, so a failing contract test shows the values it compared. The entry point is named
after this module: ``pytest -p no:recsys_plugins.pytest_plugin`` leaves the kit out, ``-p
recsys_plugins.pytest_plugin`` (or ``pytest_plugins``) loads it where plugins are not loaded
automatically (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``), and naming it where they are changes nothing.
"""

import pytest

# Before the import: pytest rewrites a module's assertions only when it imports it. An installed
# wheel would be rewritten anyway (pytest marks the modules of a pytest11 distribution); an
# editable install, as in Aisle's own checkout, is not.
pytest.register_assert_rewrite("recsys_plugins.testing")

from recsys_plugins.testing import (  # noqa: E402
    sample_candidates,
    sample_context,
    sample_interactions,
)

__all__ = ["sample_candidates", "sample_context", "sample_interactions"]
