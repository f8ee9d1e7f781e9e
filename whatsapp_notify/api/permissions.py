"""Who may call the API: Django's model permissions, or the classes the host names.

Reading needs the model's ``view`` permission (DRF's own ``DjangoModelPermissions`` lets
any authenticated user read); creating needs ``add``; operator actions (resend, cancel,
retry, reply) need ``change``. ``WHATSAPP_NOTIFY["API_PERMISSION_CLASSES"]``, a list of
dotted paths, replaces this for every view of the API.
"""

from __future__ import annotations

from django.utils.module_loading import import_string
from rest_framework.permissions import DjangoModelPermissions

from ..conf import get_settings


class PermisosDelModelo(DjangoModelPermissions):
    """Model permissions with ``view`` for reads; actions by their own permission.

    An action answers with the permission its view declares in ``permisos_por_accion``
    (``{"reenviar": "change"}``), whatever its HTTP method.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        accion = getattr(view, "action", None)
        permiso = getattr(view, "permisos_por_accion", {}).get(accion)
        if permiso is None:
            return super().has_permission(request, view)
        if not request.user or not request.user.is_authenticated:
            return False
        modelo = self._queryset(view).model
        return request.user.has_perm(
            f"{modelo._meta.app_label}.{permiso}_{modelo._meta.model_name}"
        )


def clases_de_permiso() -> list:
    """The permission classes every API view uses."""
    nombradas = get_settings().API_PERMISSION_CLASSES
    if nombradas is None:
        return [PermisosDelModelo]
    return [import_string(ruta) for ruta in nombradas]
