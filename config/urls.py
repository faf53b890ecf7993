from django.contrib import admin
from django.urls import include, path

from recsys_plugins.views import api_rankers

from .health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/rankers/", api_rankers, name="api-rankers"),
    path("", include("assistant.urls")),
]
