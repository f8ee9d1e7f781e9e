"""What the REST API's tests share: URLs by name, users with their permissions."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient


def url(nombre: str, *args) -> str:
    """The path of the API view ``whatsapp_notify:<nombre>``."""
    return reverse(f"whatsapp_notify:{nombre}", args=args)


def usuario(django_user_model, nombre: str, *permisos: str):
    """A user holding the permissions named by codename (``"view_enviowhatsapp"``)."""
    user = django_user_model.objects.create_user(nombre, password="x")
    for codename in permisos:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def cliente(django_user_model, nombre: str, *permisos: str, **opciones) -> APIClient:
    """An API client logged in as a new user with ``permisos`` (``opciones`` to APIClient)."""
    api = APIClient(**opciones)
    api.force_authenticate(usuario(django_user_model, nombre, *permisos))
    return api
