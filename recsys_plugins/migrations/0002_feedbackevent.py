# FeedbackEvent moved here from the assistant app. The state takes the model over with its old
# table (db_table) and the database is left alone, so existing feedback stays where it is. Its
# content type is renamed, so the permissions granted on it and the admin's history stay with it.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def move_content_type(
    apps: StateApps,
    schema_editor: BaseDatabaseSchemaEditor,
    source: str = "assistant",
    target: str = "recsys_plugins",
) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    rows = content_type.objects.using(schema_editor.connection.alias)
    if not rows.filter(app_label=target, model="feedbackevent").exists():
        rows.filter(app_label=source, model="feedbackevent").update(app_label=target)
    content_type.objects.clear_cache()


def move_content_type_back(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    move_content_type(apps, schema_editor, source="recsys_plugins", target="assistant")


class Migration(migrations.Migration):
    dependencies = [
        ("assistant", "0004_feedbackevent_to_recsys_plugins"),
        ("catalog", "0003_index_job"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("recsys_plugins", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="FeedbackEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("session_key", models.CharField(db_index=True, max_length=64)),
                        (
                            "action",
                            models.CharField(
                                choices=[
                                    ("view", "Viewed"),
                                    ("click", "Clicked"),
                                    ("like", "Liked"),
                                    ("dislike", "Disliked"),
                                    ("add_to_cart", "Added to cart"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "ranker",
                            models.CharField(
                                blank=True, help_text="Ranker that showed the product.", max_length=64
                            ),
                        ),
                        (
                            "context",
                            models.JSONField(blank=True, default=dict, help_text="Query, slots, position…"),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        (
                            "product",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="feedback_events",
                                to="catalog.product",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-created_at"],
                        "db_table": "assistant_feedbackevent",
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
