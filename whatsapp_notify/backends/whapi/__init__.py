"""WHAPI.Cloud, a gateway to WhatsApp through a linked device (``WhapiBackend``)."""

from .backend import WhapiBackend

__all__ = ["WhapiBackend"]
