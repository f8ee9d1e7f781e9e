"""What the API says about itself in OpenAPI, read only when drf-spectacular is installed.

The committed description (``openapi.yaml`` beside this module, served at
``api/esquema/``) is written by drf-spectacular; the API itself does not need it, so
without it these decorators change nothing.
"""

from __future__ import annotations

try:
    from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
except ImportError:  # the API works without it; only the description generator uses it

    def extend_schema(*args, **kwargs):
        return lambda objeto: objeto

    extend_schema_field = extend_schema_view = extend_schema

__all__ = ["extend_schema", "extend_schema_field", "extend_schema_view"]
