"""The token bucket (``ratelimit``) and how delivery respects it.

Time is injected (``ahora``) or the wait is recorded: nothing here sleeps.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from tests import backends_scripted as scripted
from whatsapp_notify import enviar_plantilla, signals
from whatsapp_notify.conf import parse_rate
from whatsapp_notify.models import EnvioWhatsApp, EstadoEnvio
from whatsapp_notify.outbound import concurrencia, delivery, ratelimit
from whatsapp_notify.outbound.delivery import Resultado
from whatsapp_notify.outbound.ratelimit import LocalBucket, RateLimiter
from whatsapp_notify.references import referencia_de

SCRIPTED = "tests.backends_scripted.ScriptedBackend"
CERRADO = "redis://127.0.0.1:1/0"  # nothing listens on port 1


#: The real margin between turns; the tests of the bucket's arithmetic run without it.
HOLGURA = ratelimit.HOLGURA


@pytest.fixture(autouse=True)
def sin_holgura(monkeypatch):
    """Turns exactly 1/rate apart, so waits read as round numbers (see the HOLGURA tests)."""
    monkeypatch.setattr(ratelimit, "HOLGURA", 0.0)


@pytest.fixture
def limiter(monkeypatch):
    """A fresh limiter for delivery (buckets of other tests would leak through the global)."""
    nuevo = RateLimiter()
    monkeypatch.setattr(delivery, "limiter", nuevo)
    return nuevo


@pytest.fixture
def dormidas(monkeypatch):
    """Seconds delivery asked to sleep; nothing actually sleeps."""
    pedidas = []
    monkeypatch.setattr(concurrencia.time, "sleep", pedidas.append)
    return pedidas


@pytest.fixture
def guion(wa_settings):
    wa_settings(BACKENDS={"default": {"BACKEND": SCRIPTED}})
    scripted.reset()
    yield scripted
    scripted.reset()


# -- RATE_LIMIT ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("texto", "por_segundo"),
    [
        ("80/s", 80.0),
        ("600/m", 10.0),
        ("1000/h", 1000 / 3600),
        (" 2.5 / s ", 2.5),
        (None, None),
        ("", None),
    ],
    ids=["80/s", "600/m", "1000/h", "espacios-y-decimales", "None", "vacio"],
)
def test_parse_rate__mensajes_por_segundo(texto, por_segundo):
    assert parse_rate(texto) == pytest.approx(por_segundo)


@pytest.mark.parametrize("texto", ["80", "80/d", "rapido", "-1/s"], ids=str)
def test_parse_rate__formato_invalido_nombra_la_forma_correcta(texto):
    with pytest.raises(ValueError, match="'80/s', '600/m' o '1000/h'"):
        parse_rate(texto)


# -- the in-process bucket -----------------------------------------------------------------


def test_local_bucket__rafaga_hasta_la_capacidad_y_luego_espera_1_entre_rate():
    bucket = LocalBucket(rate=10, capacity=10)

    rafaga = [bucket.tomar(100.0) for _ in range(10)]
    espera = bucket.tomar(100.0)

    assert rafaga == [0.0] * 10
    assert espera == pytest.approx(0.1)


def test_local_bucket__esperar_no_consume_fichas():
    # Binary-exact instants (1/8 s) so float rounding does not leave 1e-15 of a token.
    bucket = LocalBucket(rate=8, capacity=8)
    for _ in range(8):
        bucket.tomar(100.0)

    assert bucket.tomar(100.0) == 0.125
    assert bucket.tomar(100.0625) == 0.0625
    assert bucket.tomar(100.125) == 0.0
    assert bucket.tomar(100.125) == 0.125


def test_local_bucket__se_rellena_con_el_tiempo_sin_pasar_la_capacidad():
    bucket = LocalBucket(rate=10, capacity=10)
    for _ in range(10):
        bucket.tomar(100.0)

    tras_una_hora = [bucket.tomar(3700.0) for _ in range(11)]

    assert tras_una_hora[:10] == [0.0] * 10
    assert tras_una_hora[10] == pytest.approx(0.1)


def test_local_bucket__reloj_que_retrocede_no_regala_fichas():
    bucket = LocalBucket(rate=1, capacity=1)
    bucket.tomar(100.0)

    assert bucket.tomar(50.0) == pytest.approx(1.0)


def test_local_bucket__reservar_toma_el_turno_siguiente_dentro_del_plazo():
    bucket = LocalBucket(rate=8, capacity=1)

    assert bucket.reservar(100.0, hasta=0.5) == (0.0, True)
    assert bucket.reservar(100.0, hasta=0.5) == (0.125, True)  # its turn: 100.125
    assert bucket.reservar(100.0, hasta=0.5) == (0.25, True)  # the next one, 1/8 s later
    assert bucket.reservar(100.0, hasta=0.3) == (0.375, False)  # too far: nothing taken
    # The turns already given stay given, whenever their holders come.
    assert bucket.reservar(100.3, hasta=0.5) == (pytest.approx(0.075), True)


def test_local_bucket__un_turno_atrasado_no_retrasa_los_siguientes():
    # A sender that reserves ahead keeps the rate even when it wakes up late: each turn is
    # 1/rate after the previous one, not after the moment it was asked for.
    bucket = LocalBucket(rate=8, capacity=1)
    turnos, ahora = [], 100.0
    for _ in range(16):
        espera, tomado = bucket.reservar(ahora, hasta=1.0)
        assert tomado
        turnos.append(ahora + espera)
        ahora += espera + 0.01  # every wake-up 10 ms late, and the next turn asked then

    assert turnos[-1] - turnos[0] == pytest.approx(15 / 8)


# -- RateLimiter ---------------------------------------------------------------------------


def test_rate_limiter__sin_rate_limit_nunca_espera(wa_settings, limiter):
    wa_settings(RATE_LIMIT=None)

    assert [limiter.tomar("cuenta:default", ahora=100.0) for _ in range(500)] == [0.0] * 500


def test_rate_limiter__local_por_clave(wa_settings, limiter):
    wa_settings(RATE_LIMIT="2/s", REDIS_URL=None)

    default = [limiter.tomar("cuenta:default", ahora=100.0) for _ in range(2)]
    otra = limiter.tomar("cuenta:otra", ahora=100.0)

    assert default == [0.0, pytest.approx(0.5)]
    assert otra == 0.0


def test_rate_limiter__por_minuto_capacidad_minima_de_una_ficha(wa_settings, limiter):
    wa_settings(RATE_LIMIT="6/m")

    assert limiter.tomar("cuenta:default", ahora=100.0) == 0.0
    assert limiter.tomar("cuenta:default", ahora=100.0) == pytest.approx(10.0)
    assert limiter.tomar("cuenta:default", ahora=110.0) == 0.0


def test_rate_limiter__la_tasa_de_la_cuenta_gana_a_la_global(wa_settings, limiter):
    wa_settings(RATE_LIMIT=None, REDIS_URL=None)  # no global limit at all

    primera = limiter.tomar("cuenta:bot", ahora=100.0, tasa="40/h")
    segunda = limiter.tomar("cuenta:bot", ahora=100.0, tasa="40/h")

    assert (primera, segunda) == (0.0, pytest.approx(90.0))


def test_rate_limiter__redis_comparte_fichas_entre_workers(wa_settings, redis_url):
    wa_settings(RATE_LIMIT="5/s", REDIS_URL=redis_url)
    worker_a, worker_b = RateLimiter(), RateLimiter()

    # One token at a time, 0.2 s apart, whichever worker asks.
    assert worker_a.tomar("cuenta:default", ahora=100.0) == 0.0
    assert worker_b.tomar("cuenta:default", ahora=100.0) == pytest.approx(0.2)
    assert worker_a.tomar("cuenta:default", ahora=100.1) == pytest.approx(0.1)
    assert worker_b.tomar("cuenta:default", ahora=100.2) == 0.0
    assert worker_a.tomar("cuenta:default", ahora=100.2) == pytest.approx(0.2)


def test_rate_limiter__redis_un_reloj_atrasado_no_devuelve_el_cubo_atras(wa_settings, redis_url):
    # A caller 5 s behind used to stamp the bucket back 5 s: the next on-time caller was
    # then refilled for those 5 s and over-admitted (Meta answers that with 130429).
    # Binary-exact instants (1/8 s) so float rounding does not leave 1e-15 of a token.
    wa_settings(RATE_LIMIT="8/s", REDIS_URL=redis_url)
    limiter = RateLimiter()

    assert limiter.tomar("cuenta:default", ahora=100.0) == 0.0
    assert limiter.tomar("cuenta:default", ahora=95.0) == 0.125
    assert limiter.tomar("cuenta:default", ahora=100.0) == 0.125
    assert limiter.tomar("cuenta:default", ahora=100.125) == 0.0
    assert limiter.tomar("cuenta:default", ahora=100.125) == 0.125


def test_local_bucket__un_reloj_atrasado_no_devuelve_el_cubo_atras():
    bucket = LocalBucket(rate=10, capacity=1)

    assert bucket.tomar(100.0) == 0.0
    assert bucket.tomar(95.0) == pytest.approx(0.1)
    assert bucket.tomar(100.0) == pytest.approx(0.1)


def test_rate_limiter__redis_toma_la_hora_de_redis_no_la_del_worker(
    wa_settings, redis_url, monkeypatch
):
    # Two workers whose clocks are an hour apart share one timeline: Redis's. With the
    # callers' clocks, the late one stamped the bucket an hour back and the next on-time
    # call was refilled for that hour.
    wa_settings(RATE_LIMIT="2/s", REDIS_URL=redis_url)
    reloj = {"ahora": 10_000_000_000.0}
    monkeypatch.setattr(
        ratelimit,
        "time",
        SimpleNamespace(time=lambda: reloj["ahora"], monotonic=lambda: reloj["ahora"]),
    )
    adelantado, atrasado = RateLimiter(), RateLimiter()

    primera = adelantado.tomar("cuenta:reloj")
    reloj["ahora"] -= 3600
    segunda = atrasado.tomar("cuenta:reloj")
    reloj["ahora"] += 3600
    tercera = adelantado.tomar("cuenta:reloj")

    assert primera == 0.0
    assert segunda == pytest.approx(0.5, abs=0.1)
    assert tercera == pytest.approx(0.5, abs=0.1)


def test_rate_limiter__redis_ninguna_ventana_de_un_segundo_pasa_del_limite(wa_settings, redis_url):
    """Eight threads in four limiters take tokens as fast as they can for 2.5 s: the
    admissions of any one-second window stay at the rate (one more at the window's edge)."""
    import threading

    tasa = 40
    wa_settings(RATE_LIMIT=f"{tasa}/s", REDIS_URL=redis_url)
    limitadores = [RateLimiter() for _ in range(4)]
    admitidas: list[float] = []
    candado = threading.Lock()
    fin = time.monotonic() + 2.5

    def tomar(limitador: RateLimiter) -> None:
        while time.monotonic() < fin:
            espera = limitador.tomar("cuenta:ventana")
            if espera:
                time.sleep(espera)
                continue
            with candado:
                admitidas.append(time.monotonic())

    hilos = [threading.Thread(target=tomar, args=(limitadores[n % 4],)) for n in range(8)]
    for hilo in hilos:
        hilo.start()
    for hilo in hilos:
        hilo.join()

    admitidas.sort()
    pico = max(
        sum(1 for otra in admitidas if inicio <= otra < inicio + 1.0) for inicio in admitidas
    )
    # Measured where admitted (after the Redis round trip): a little jitter, not a burst.
    assert 0 < pico <= tasa + 2
    assert len(admitidas) <= tasa * 2.5 + 2


def test_rate_limiter__redis_reservar_reparte_turnos_entre_workers(wa_settings, redis_url):
    wa_settings(RATE_LIMIT="8/s", REDIS_URL=redis_url)
    worker_a, worker_b = RateLimiter(), RateLimiter()

    assert worker_a.reservar("cuenta:res", ahora=100.0, hasta=1.0) == (0.0, True)
    assert worker_b.reservar("cuenta:res", ahora=100.0, hasta=1.0) == (0.125, True)
    assert worker_a.reservar("cuenta:res", ahora=100.0, hasta=0.2) == (0.25, False)
    assert worker_a.reservar("cuenta:res", ahora=100.0, hasta=1.0) == (0.25, True)
    worker_b.frenar("cuenta:res", 2.0, ahora=100.0)
    # A hold is never reserved through, however long the caller would wait.
    assert worker_a.reservar("cuenta:res", ahora=100.0, hasta=5.0) == (2.0, False)


def test_ritmo__ochenta_turnos_ocupan_un_segundo_y_la_holgura(monkeypatch):
    monkeypatch.setattr(ratelimit, "HOLGURA", HOLGURA)
    bucket = LocalBucket(rate=ratelimit.ritmo(80), capacity=1)

    turnos = [100.0 + bucket.reservar(100.0, hasta=5.0).espera for _ in range(81)]

    # A send up to HOLGURA late beside one on time never puts 81 in one second.
    assert turnos[80] - turnos[0] == pytest.approx(1.0 + HOLGURA)
    assert ratelimit.ritmo(80) == pytest.approx(80 / (1 + HOLGURA))
    assert 1 / ratelimit.ritmo(1 / 60) == pytest.approx(60.0 + HOLGURA)  # 1/m: + HOLGURA


def test_rate_limiter__redis_reservando_ninguna_ventana_de_un_segundo_pasa_del_limite(
    wa_settings, redis_url, monkeypatch
):
    """Eight threads in four limiters reserve their turns and send when each comes, for
    2.5 s: with the margin between turns, no one-second window sees more than the rate."""
    import threading

    monkeypatch.setattr(ratelimit, "HOLGURA", HOLGURA)
    tasa = 40
    wa_settings(RATE_LIMIT=f"{tasa}/s", REDIS_URL=redis_url)
    limitadores = [RateLimiter() for _ in range(4)]
    enviadas: list[float] = []
    candado = threading.Lock()
    fin = time.monotonic() + 2.5

    def enviar(limitador: RateLimiter) -> None:
        while time.monotonic() < fin:
            espera, tomado = limitador.reservar("cuenta:reservas", hasta=1.0)
            time.sleep(espera)
            if tomado:
                with candado:
                    enviadas.append(time.monotonic())

    hilos = [threading.Thread(target=enviar, args=(limitadores[n % 4],)) for n in range(8)]
    for hilo in hilos:
        hilo.start()
    for hilo in hilos:
        hilo.join()

    enviadas.sort()
    pico = max(sum(1 for otra in enviadas if inicio <= otra < inicio + 1.0) for inicio in enviadas)
    assert 0 < pico <= tasa


def test_rate_limiter__redis_con_claves_independientes_y_caducidad(wa_settings, redis_url):
    import redis

    wa_settings(RATE_LIMIT="1/s", REDIS_URL=redis_url)
    limiter = RateLimiter()

    assert limiter.tomar("cuenta:default", ahora=100.0) == 0.0
    assert limiter.tomar("cuenta:otra", ahora=100.0) == 0.0
    assert limiter.tomar("cuenta:default", ahora=100.0) == pytest.approx(1.0)
    ttl = redis.Redis.from_url(redis_url).ttl("whatsapp_notify:rl:cuenta:default")
    assert 0 < ttl <= 62  # two turns of 1 s, and a minute


@pytest.mark.parametrize("redis", [True, False], ids=["redis", "local"])
def test_rate_limiter__frenar_no_da_fichas_a_nadie_hasta_que_pasa(wa_settings, redis_url, redis):
    wa_settings(RATE_LIMIT="8/s", REDIS_URL=redis_url if redis else None)
    worker_a = RateLimiter()
    worker_b = RateLimiter() if redis else worker_a  # without Redis a hold is per process

    worker_a.frenar("cuenta:default", 2.0, ahora=100.0)
    worker_a.frenar("cuenta:default", 0.5, ahora=100.0)  # a shorter hold does not shorten it

    assert worker_b.tomar("cuenta:default", ahora=100.5) == pytest.approx(1.5)
    assert worker_b.tomar("cuenta:otra", ahora=100.5) == 0.0  # other accounts go on
    assert worker_b.tomar("cuenta:default", ahora=102.0) == 0.0
    assert worker_b.tomar("cuenta:default", ahora=102.0) == pytest.approx(0.125)


def test_rate_limiter__frenar_sin_limite_de_ritmo_retiene_este_proceso(wa_settings, limiter):
    wa_settings(RATE_LIMIT=None, REDIS_URL=None)

    limiter.frenar("cuenta:default", 2.0, ahora=100.0)

    assert limiter.tomar("cuenta:default", ahora=101.0) == pytest.approx(1.0)
    assert limiter.tomar("cuenta:default", ahora=102.0) == 0.0


def test_rate_limiter__frenar_con_redis_caido_retiene_el_cubo_local(wa_settings, limiter, caplog):
    wa_settings(RATE_LIMIT="2/s", REDIS_URL=CERRADO)

    limiter.frenar("cuenta:default", 3.0, ahora=100.0)  # does not raise

    assert limiter.tomar("cuenta:default", ahora=101.0) == pytest.approx(2.0)
    assert "se usa el límite local" in caplog.text


def test_rate_limiter__redis_caido_usa_el_limite_local_sin_fallar(wa_settings, limiter, caplog):
    wa_settings(RATE_LIMIT="2/s", REDIS_URL=CERRADO)

    esperas = [limiter.tomar("cuenta:default", ahora=100.0) for _ in range(2)]

    assert esperas == [0.0, pytest.approx(0.5)]
    assert "se usa el límite local" in caplog.text


def test_rate_limiter__sin_el_paquete_redis__limite_local_y_aviso_con_el_extra(
    wa_settings, limiter, caplog, monkeypatch
):
    monkeypatch.setitem(sys.modules, "redis", None)  # REDIS_URL set, [redis] not installed
    wa_settings(RATE_LIMIT="2/s", REDIS_URL=CERRADO)

    esperas = [limiter.tomar("cuenta:default", ahora=100.0) for _ in range(2)]

    assert esperas == [0.0, pytest.approx(0.5)]
    assert 'pip install "django-whatsapp-notify[redis]"' in caplog.text


# -- delivery under the rate limit ---------------------------------------------------------


def nuevo_envio(telefono: str) -> EnvioWhatsApp:
    return enviar_plantilla(telefono, "vehiculo_listo_cliente", variables=["Ana", "Mazda", "OT"])


@pytest.mark.django_db
def test_entregar__sin_ficha_devuelve_el_envio_sin_contar_el_intento(
    guion, wa_settings, limiter, dormidas
):
    wa_settings(RATE_LIMIT="1/m")
    primero = nuevo_envio("+52 55 1234 5678")
    segundo = nuevo_envio("+52 33 1234 5678")
    cambios = []

    def receptor(sender, envio, estado_anterior, estado, **kwargs):
        cambios.append((estado_anterior, estado, envio.intentos))

    signals.envio_estado_cambiado.connect(receptor)
    try:
        assert delivery.entregar(primero.pk).resultado == Resultado.ENVIADO
        antes = timezone.now()
        intento = delivery.entregar(segundo.pk)
        despues = timezone.now()
    finally:
        signals.envio_estado_cambiado.disconnect(receptor)

    segundo = EnvioWhatsApp.objects.get(pk=segundo.pk)
    assert intento.resultado == Resultado.REINTENTO
    assert (segundo.estado, segundo.intentos) == (EstadoEnvio.PENDIENTE, 0)
    assert (
        antes + timedelta(seconds=59) <= segundo.proximo_intento <= despues + timedelta(seconds=60)
    )
    assert segundo.reclamado_en is None
    assert [llamada.referencia for llamada in guion.llamadas] == [referencia_de(primero.pk)]
    assert dormidas == []  # a long wait gives the worker back instead of sleeping
    assert cambios[-1] == (EstadoEnvio.ENVIANDO, EstadoEnvio.PENDIENTE, 0)


@pytest.mark.django_db
def test_entregar__turno_reservado_espera_y_envia_sin_volver_a_pedir(guion, monkeypatch, dormidas):
    class LimiteGuionado:
        turnos = [ratelimit.Turno(0.25, tomado=True)]

        def reservar(self, clave, *, tasa=None, hasta=0.0):
            # The scripted backend advises no pace of its own: the global RATE_LIMIT applies.
            assert (clave, tasa, hasta) == ("cuenta:default", None, delivery.ESPERA_MAXIMA)
            return self.turnos.pop(0)  # a second call would find none

    monkeypatch.setattr(delivery, "limiter", LimiteGuionado())
    envio = nuevo_envio("+52 55 1234 5678")

    assert delivery.entregar(envio.pk).resultado == Resultado.ENVIADO
    assert dormidas == [pytest.approx(0.25, abs=0.01)]
    assert EnvioWhatsApp.objects.get(pk=envio.pk).intentos == 1


@pytest.mark.parametrize(
    ("opciones", "esperado"),
    [
        pytest.param({}, "10/s", id="por-omision-de-twilio"),
        pytest.param({"RATE_LIMIT": "50/s"}, "50/s", id="la-opcion-de-la-cuenta"),
    ],
)
def test_rate__twilio_account_paces_at_its_sender_default_unless_it_says(opciones, esperado):
    from whatsapp_notify.backends.twilio import TwilioBackend

    cuenta = TwilioBackend(
        "citas",
        ACCOUNT_SID="AC0123456789abcdef0123456789abcdef",
        AUTH_TOKEN="token",
        FROM="whatsapp:+14155238886",
        **opciones,
    )

    assert cuenta.rate_limit() == esperado


def test_rate__twilio_refuses_a_malformed_rate_option():
    from whatsapp_notify.backends.twilio import TwilioBackend
    from whatsapp_notify.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="RATE_LIMIT"):
        TwilioBackend("citas", ACCOUNT_SID="AC0123456789abcdef0123456789abcdef", RATE_LIMIT="diez")
