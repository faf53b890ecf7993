# FeedbackEvent moved to recsys_plugins (ranking's training data). The table stays where it is:
# recsys_plugins.0002 takes the model over with the same db_table, so no row is copied.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("assistant", "0003_message_compare"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="FeedbackEvent")],
            database_operations=[],
        ),
    ]
