"""Admin for conversations and feedback: read-only lists for review."""

from django.contrib import admin
from django.http import HttpRequest

from .models import Conversation, FeedbackEvent, Message


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shoppers write these rows; admins read them."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["created_at", "role", "text", "intent", "slots"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["session_key", "user", "message_count", "created_at", "updated_at"]
    search_fields = ["session_key", "messages__text"]
    date_hierarchy = "created_at"
    inlines = [MessageInline]

    @admin.display(description="messages")
    def message_count(self, conversation: Conversation) -> int:
        return conversation.messages.count()


@admin.register(FeedbackEvent)
class FeedbackEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "product", "session_key", "ranker"]
    list_filter = ["action", "ranker", "created_at"]
    search_fields = ["product__sku", "product__title", "session_key"]
    list_select_related = ["product"]
    date_hierarchy = "created_at"
