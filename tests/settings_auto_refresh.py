"""Test settings with the automatic index refresh on, for worker processes that must sweep at start.

The suite's own settings switch it off (see ``config.settings.test``); a test that needs a worker
which queues refreshes by itself starts it with ``DJANGO_SETTINGS_MODULE`` set to this module.
"""

from config.settings.test import *  # noqa: F403

AISLE_INDEX_AUTO_REFRESH = True
