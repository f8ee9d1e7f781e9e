"""Disparadores on the test app's Orden, declared with sensible defaults for a test."""

from __future__ import annotations

from whatsapp_notify import disparador


def declarando(**por_omision):
    """For a fixture (``yield from``): a function that declares a disparador with the
    common defaults, then ``por_omision``, then its own options (``modelo`` names another
    model); every one declared is disconnected afterwards."""
    declarados = []

    def declarar_(**opciones):
        argumentos = {
            "campo": "estado",
            "valor": "COMPLETADA",
            "plantilla": "vehiculo_listo_cliente",
            "tipo": "vehiculo_listo",
            "destinatario": lambda orden: orden.cliente,
            "variables": lambda orden: [orden.cliente.nombre, orden.numero],
            **por_omision,
            **opciones,
        }
        declarados.append(disparador(argumentos.pop("modelo", "testapp.Orden"), **argumentos))
        return declarados[-1]

    yield declarar_
    for declarado in declarados:
        declarado.desconectar()
