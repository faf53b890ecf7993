"""What the apps' admins share: read-only rows and the permission that guards their actions."""

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.db.models import Model
from django.http import HttpRequest


def may_change(request: HttpRequest, model: type[Model]) -> bool:
    """Whether the user holds ``model``'s change permission, whatever its admin allows in forms.

    Training runs are read-only rows: the change permission on a run model is what lets an
    admin start runs and switch the version they serve.
    """
    opts = model._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shoppers write these rows; admins read them."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
