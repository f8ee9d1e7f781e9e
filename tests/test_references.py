"""The reference a message carries (``biz_opaque_callback_data``): only ours parse back."""

from __future__ import annotations

import pytest

from whatsapp_notify.references import LARGO_MAXIMO, envio_referido, referencia_de


@pytest.mark.parametrize("envio_id", [1, 42, 10**18 - 1], ids=["uno", "corto", "el-mayor"])
def test_referencia__la_construida_se_lee_de_vuelta(envio_id):
    referencia = referencia_de(envio_id)

    assert referencia.startswith(f"wn:{envio_id}:")
    assert len(referencia) <= LARGO_MAXIMO
    assert envio_referido(referencia) == envio_id


@pytest.mark.parametrize(
    "ajena",
    [
        pytest.param("42", id="numero-solo"),
        pytest.param("wn:42:0123456789abcdef", id="etiqueta-falsa"),
        pytest.param("wn:43:{tag}", id="etiqueta-de-otro-id"),
        pytest.param("wn:42:{tag}x", id="con-cola"),
        pytest.param(" wn:42:{tag}", id="con-espacio"),
        pytest.param("wn:042:{tag}", id="cero-a-la-izquierda"),
        pytest.param("WN:42:{tag}", id="mayusculas"),
        pytest.param("", id="vacia"),
        pytest.param("x" * 600, id="mas-de-512"),
    ],
)
def test_referencia__la_de_otra_app_no_nombra_ningun_envio(ajena):
    etiqueta = referencia_de(42).rsplit(":", 1)[1]

    assert envio_referido(ajena.format(tag=etiqueta)) is None


def test_referencia__otra_instalacion_con_otra_clave_no_coincide(settings):
    ajena = referencia_de(42)
    settings.SECRET_KEY = "la-clave-de-otro-erp-en-la-misma-cuenta"

    assert envio_referido(ajena) is None
    assert envio_referido(referencia_de(42)) == 42


def test_referencia__sobrevive_a_la_rotacion_de_la_clave(settings):
    anterior = referencia_de(42)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "la-clave-nueva"

    assert envio_referido(anterior) == 42
