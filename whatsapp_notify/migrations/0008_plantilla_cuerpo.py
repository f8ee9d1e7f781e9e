from django.db import migrations, models


class Migration(migrations.Migration):
    """The body text of a catalog template, filled at the next sync (blank until then)."""

    dependencies = [("whatsapp_notify", "0007_consentimiento_cuenta")]

    operations = [
        migrations.AddField(
            model_name="plantilla",
            name="cuerpo",
            field=models.TextField(blank=True, verbose_name="cuerpo"),
        ),
    ]
