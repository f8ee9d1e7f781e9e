"""The mail to ``ADMINS`` that goes with an alert (a paused account, a failure rate, envíos
that wait for a decision).

The alert is logged first, by its caller; the mail is a copy. A mail that cannot go must
not stop the worker or the Beat task that raised the alert, so its failure is caught and
logged here, on every Django: ``mail_admins(fail_silently=True)`` did that, and Django 6.1
deprecates the argument (the mailer's own configuration replaces it).
"""

from __future__ import annotations

import logging

from django.core.mail import mail_admins

logger = logging.getLogger(__name__)


def avisar_admins(asunto: str, texto: str) -> bool:
    """Mail ``asunto`` and ``texto`` to ``ADMINS``; False (logged) when the mail failed."""
    try:
        mail_admins(asunto, texto)
    except Exception:
        logger.exception("No se pudo enviar a ADMINS el correo del aviso «%s»", asunto)
        return False
    return True
