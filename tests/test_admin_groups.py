"""Staff groups (catalog managers, analysts) kept by every migrate, and the privacy action that
forgets a shopper."""

import uuid

import pytest
from django.contrib.auth.models import Group

from assistant.models import Conversation, Message
from catalog.models import Product
from recsys_plugins.models import FeedbackEvent

CONVERSATIONS = "/admin/assistant/conversation/"


@pytest.fixture
def member(django_user_model):
    """``member("Analysts")``: a client logged in as staff in that group only."""
    from django.test import Client

    def login(group: str) -> Client:
        user = django_user_model.objects.create_user(uuid.uuid4().hex[:20], password="x", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.mark.django_db
def test_catalog_managers_run_the_catalog_and_cannot_read_conversations(member, small_catalog):
    manager = member("Catalog managers")
    assert manager.get("/admin/catalog/product/").status_code == 200
    assert manager.get("/admin/catalog/catalogimport/add/").status_code == 200
    assert manager.get(CONVERSATIONS).status_code == 403
    assert manager.get("/admin/analytics/").status_code == 403


@pytest.mark.django_db
def test_analysts_read_conversations_feedback_and_analytics_and_change_nothing(member, small_catalog):
    analyst = member("Analysts")
    conversation = Conversation.objects.create(session_key=uuid.uuid4().hex)
    assert analyst.get(CONVERSATIONS).status_code == 200
    assert analyst.get(f"{CONVERSATIONS}{conversation.pk}/change/").status_code == 200
    assert analyst.get("/admin/recsys_plugins/feedbackevent/").status_code == 200
    assert analyst.get("/admin/analytics/").status_code == 200
    assert analyst.get("/admin/catalog/product/").status_code == 403
    refused = analyst.post(
        CONVERSATIONS, {"action": "forget_shoppers", "_selected_action": [conversation.pk]}
    )
    assert refused.status_code in (200, 403)
    assert Conversation.objects.filter(pk=conversation.pk).exists()


@pytest.mark.django_db
def test_forgetting_a_shopper_deletes_their_conversations_and_feedback_only(admin_client, small_catalog):
    product = Product.objects.first()
    forgotten, kept = (Conversation.objects.create(session_key=uuid.uuid4().hex) for _ in range(2))
    for conversation in (forgotten, kept):
        Message.objects.create(conversation=conversation, role="user", text="sofa")
        FeedbackEvent.objects.create(session_key=conversation.session_key, product=product, action="like")
    response = admin_client.post(
        CONVERSATIONS, {"action": "forget_shoppers", "_selected_action": [forgotten.pk]}, follow=True
    )
    assert "Deleted 1 conversations and 1 feedback events." in response.content.decode()
    assert list(Conversation.objects.all()) == [kept]
    assert list(FeedbackEvent.objects.values_list("session_key", flat=True)) == [kept.session_key]
    assert Message.objects.filter(conversation=kept).count() == 1
