from django.db import migrations, models


class Migration(migrations.Migration):
    """Consent per account: existing rows keep meaning "every account" (cuenta "")."""

    dependencies = [("whatsapp_notify", "0006_eventowebhook_consulta")]

    operations = [
        migrations.AddField(
            model_name="consentimientocliente",
            name="cuenta",
            field=models.CharField(
                blank=True,
                default="",
                help_text='Alias de la cuenta en WHATSAPP_NOTIFY["BACKENDS"]; vacío: todas.',
                max_length=64,
                verbose_name="cuenta",
            ),
        ),
        migrations.RemoveConstraint(
            model_name="consentimientocliente", name="wn_consentimiento_tel_categoria"
        ),
        migrations.AddConstraint(
            model_name="consentimientocliente",
            constraint=models.UniqueConstraint(
                fields=("telefono", "categoria", "cuenta"), name="wn_consentimiento_tel_cat_cuenta"
            ),
        ),
    ]
