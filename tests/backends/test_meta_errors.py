"""Graph error codes are Meta's alone: MetaBackend classifies and explains them, nobody else."""

from __future__ import annotations

import pytest

from whatsapp_notify import exceptions
from whatsapp_notify.backends.base import BaseBackend
from whatsapp_notify.backends.locmem import LocmemBackend
from whatsapp_notify.backends.meta import MetaBackend
from whatsapp_notify.exceptions import (
    AuthError,
    PairRateLimitError,
    PermanentError,
    ThroughputLimitError,
    TransientError,
)


@pytest.fixture
def meta():
    return MetaBackend("default", PHONE_NUMBER_ID="1", ACCESS_TOKEN="token")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        pytest.param(131056, 400, PairRateLimitError, id="131056-par"),
        pytest.param(130429, 400, ThroughputLimitError, id="130429-throughput"),
        pytest.param(80007, 400, ThroughputLimitError, id="80007-limite-de-la-waba"),
        pytest.param(4, 400, ThroughputLimitError, id="4-limite-de-la-app"),
        pytest.param(131016, 503, TransientError, id="131016-sobrecarga-no-frena"),
        pytest.param(190, 401, AuthError, id="190-token"),
        pytest.param(131031, 400, AuthError, id="131031-cuenta-bloqueada-pausa"),
        pytest.param(132001, 404, PermanentError, id="132001-plantilla"),
        pytest.param(999001, 500, PermanentError, id="codigo-desconocido-permanente"),
        pytest.param(None, 503, TransientError, id="sin-codigo-503"),
        pytest.param(None, 403, AuthError, id="sin-codigo-403"),
    ],
)
def test_meta_classify__the_graph_code_decides_then_the_status(meta, code, status, expected):
    error = meta.classify(code, http_status=status, detail="d", trace_id="T")

    assert type(error) is expected
    assert (error.code, error.http_status, error.detail, error.trace_id) == (code, status, "d", "T")


def test_meta_classify__readable_is_metas_spanish_sentence(meta):
    error = meta.classify(131026, http_status=400, detail="Message Undeliverable.")

    assert error.readable.startswith("(#131026) No se pudo entregar: el número no usa WhatsApp")
    assert error.readable.endswith(". Detalle: Message Undeliverable.")


def test_meta_describe_error__sentence_and_detail(meta):
    assert meta.describe_error(131051, "Unsupported message type") == (
        "(#131051) Tipo de mensaje no soportado. Detalle: Unsupported message type"
    )
    assert meta.describe_error(999001) == "(#999001) Error del proveedor."
    assert meta.describe_error(None, "sin respuesta") == "sin respuesta"


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        pytest.param(131056, 400, PermanentError, id="131056-no-es-limite-por-par"),
        pytest.param(130429, 400, PermanentError, id="130429-no-es-transitorio"),
        pytest.param(190, 400, PermanentError, id="190-no-es-auth"),
        pytest.param(190, 401, AuthError, id="401-auth"),
        pytest.param(131000, 500, TransientError, id="500-transitorio"),
        pytest.param(None, 429, ThroughputLimitError, id="429-limite"),
        pytest.param(None, None, TransientError, id="sin-respuesta-transitorio"),
    ],
)
def test_generic_classify__reads_only_the_http_status(code, status, expected):
    error = exceptions.classify(code, http_status=status, detail="d")

    assert type(error) is expected
    assert error.code == code  # kept for error_codigo, not read


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(BaseBackend(), id="base"),
        pytest.param(LocmemBackend(), id="locmem"),
    ],
)
def test_other_backends__describe_graph_codes_generically(backend):
    assert backend.describe_error(131026, "Undeliverable") == "(#131026) Undeliverable"
    assert backend.describe_error(131026) == "(#131026) Error del proveedor."
    error = backend.classify(131056, http_status=400, detail="Undeliverable")
    assert type(error) is PermanentError
    assert error.readable == "(#131056) Undeliverable"
