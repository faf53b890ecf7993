"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Django must be set up before anything imports models (the routes do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.conf import settings  # noqa: E402

from assistant import services  # noqa: E402
from assistant.routing import websocket_urlpatterns  # noqa: E402
from config import daphne_limits  # noqa: E402
from config.origins import ExactOriginValidator  # noqa: E402

daphne_limits.install()
if settings.AISLE_WARM_UP:
    services.warm_up()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": ExactOriginValidator(SessionMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
