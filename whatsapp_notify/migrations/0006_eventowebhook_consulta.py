from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("whatsapp_notify", "0005_envio_categoria_caducidad_duplicados")]

    operations = [
        migrations.AddField(
            model_name="eventowebhook",
            name="consulta",
            field=models.CharField(blank=True, default="", max_length=2048, verbose_name="consulta"),
        ),
    ]
