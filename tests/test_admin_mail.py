"""The alert mail to ADMINS: sent when it can be, logged (never raised) when it cannot."""

from __future__ import annotations

import logging
import smtplib
import warnings

from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend

from whatsapp_notify.outbound.admin_mail import avisar_admins


class CorreoCaido(BaseEmailBackend):
    """An e-mail backend whose server hangs up on every message."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def test_avisar_admins__manda_el_correo_a_admins():
    assert avisar_admins("WhatsApp: cuenta 'default' pausada", "Motivo: (#190)") is True

    (correo,) = mail.outbox
    assert correo.to == ["ops@example.com"]
    assert correo.subject.endswith("WhatsApp: cuenta 'default' pausada")
    assert correo.body == "Motivo: (#190)"


def test_avisar_admins__un_correo_que_no_sale_se_registra_y_no_se_lanza(settings, caplog):
    settings.EMAIL_BACKEND = "tests.test_admin_mail.CorreoCaido"

    with caplog.at_level(logging.ERROR, logger="whatsapp_notify.outbound.admin_mail"):
        assert avisar_admins("WhatsApp: cuenta 'default' pausada", "Motivo") is False

    (registro,) = caplog.records
    assert registro.getMessage() == (
        "No se pudo enviar a ADMINS el correo del aviso «WhatsApp: cuenta 'default' pausada»"
    )
    assert registro.exc_info[0] is smtplib.SMTPServerDisconnected
    assert mail.outbox == []


def test_avisar_admins__sin_avisos_de_obsolescencia_de_django():
    # Django 6.1 deprecates mail_admins(fail_silently=...): the alert must not use it.
    with warnings.catch_warnings(record=True) as avisos:
        warnings.simplefilter("always")
        avisar_admins("Asunto", "Texto")

    obsoletos = [
        a for a in avisos if issubclass(a.category, DeprecationWarning | PendingDeprecationWarning)
    ]
    assert obsoletos == []
