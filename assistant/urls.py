from django.urls import path

from . import views

app_name = "assistant"

urlpatterns = [
    path("", views.chat_page, name="chat"),
    path("api/chat/", views.api_chat, name="api-chat"),
    path("api/search/", views.api_search, name="api-search"),
    path("api/feedback/", views.api_feedback, name="api-feedback"),
    path("api/products/<str:sku>/", views.api_product, name="api-product"),
]
