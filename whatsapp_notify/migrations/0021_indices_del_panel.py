# The dashboard's and the failure alert's aggregates over a period, read from indexes.
# Numbered 0021 after 0019: 0020 is another change in flight; the merge orders them.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("whatsapp_notify", "0020_historial_consentimientos"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="enviowhatsapp",
            index=models.Index(
                fields=["creado_en"],
                include=("estado", "tipo", "cuenta", "id"),
                name="wn_envio_panel_creado",
            ),
        ),
        migrations.AddIndex(
            model_name="enviowhatsapp",
            index=models.Index(
                condition=models.Q(("estado", "fallido")),
                fields=["fallido_en"],
                include=("cuenta", "error_codigo", "intentos", "id"),
                name="wn_envio_fallido_en",
            ),
        ),
        migrations.AddIndex(
            model_name="enviowhatsapp",
            index=models.Index(
                fields=["enviado_en"],
                include=("estado", "cuenta", "intentos", "duplicado", "id"),
                name="wn_envio_enviado_en",
            ),
        ),
    ]
