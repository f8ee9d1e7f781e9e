"""What each envío cost: Meta's per-message rates, the price Twilio reports, and totals.

Meta bills a delivered template by the recipient's market (the country of the phone) and
the pricing category its status webhooks report (``pricing.category``); messages Meta marks
free (``pricing.type`` ``free_customer_service`` / ``free_entry_point``, or
``billable: false``) cost 0. :data:`TARIFAS_META` is the shipped table, in
:data:`MONEDA_META`: the list rates of Meta's card effective :data:`FECHA_TARIFAS_META`
(as a public copy of it transcribes them; Meta publishes the card as CSV files linked from
its pricing page, with the map of countries to regions used here), checked against the
rate changes Meta's pricing page announced up to :data:`REVISADAS_HASTA`: a rate
that changed after the card (or a country that left its region) is left out, so its cost is
unknown (None), never a wrong number. List rates only: volume tiers lower utility and
authentication rates for large senders, which this table does not know.

The host overrides rates with ``COST_RATES`` (a dict, or the dotted path of one) and names
its billing currency with ``COST_CURRENCY``. In the shipped table's currency its entries
are laid over the shipped ones; in another currency only its own entries count (the USD
figures are never mixed into a table in pesos).

The cost is computed once, when an envío's delivery is known, with the rates then in
force (``inbound.apply``): a later change of the table does not change recorded costs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.module_loading import import_string

from .conf import SETTING_NAME, Settings, get_settings

logger = logging.getLogger(__name__)

MONEDA_META = "USD"
#: The Meta rate card the figures come from (USD, list rates).
FECHA_TARIFAS_META = date(2026, 1, 1)
#: Meta's announced rate changes were checked up to the update of this date.
REVISADAS_HASTA = date(2026, 10, 1)

MARKETING = "marketing"
UTILITY = "utility"
AUTHENTICATION = "authentication"
AUTHENTICATION_INTERNATIONAL = "authentication-international"
SERVICE = "service"
CATEGORIAS_DE_PRECIO = (MARKETING, UTILITY, AUTHENTICATION, AUTHENTICATION_INTERNATIONAL, SERVICE)

# pricing.type of a message Meta does not charge.
TIPOS_GRATUITOS = frozenset({"free_customer_service", "free_entry_point"})
CERO = Decimal("0")


def _t(marketing: str | None, utilidad: str | None, ai: str | None = None) -> dict[str, str]:
    # Meta's card has one figure for utility and authentication in every market listed.
    tarifas = {MARKETING: marketing, UTILITY: utilidad, AUTHENTICATION: utilidad}
    if ai is not None:
        tarifas[AUTHENTICATION_INTERNATIONAL] = ai
    return {categoria: valor for categoria, valor in tarifas.items() if valor is not None}


# Per market (a country, or one of Meta's regions), USD per delivered message. None: the
# rate changed after FECHA_TARIFAS_META (Apr/Jul 2026 updates), so it is not shipped.
_MERCADOS: dict[str, dict[str, str]] = {
    "AR": _t("0.0618", "0.026"),
    "BR": _t("0.0625", "0.0068"),
    "CL": _t("0.0889", "0.02"),
    "CO": _t("0.0125", "0.0008"),
    "EG": _t("0.0644", "0.0036", "0.065"),
    "FR": _t("0.0859", "0.03"),
    "DE": _t("0.1365", "0.055"),
    "IN": _t("0.0118", "0.0014"),  # authentication-international raised 2026-04-01
    "ID": _t("0.0411", "0.025", "0.136"),
    "IL": _t("0.0353", "0.0053"),
    "IT": _t(None, "0.03"),  # marketing raised 2026-07-01
    "MY": _t("0.086", "0.014", "0.0418"),
    "MX": _t("0.0305", "0.0085"),
    "NL": _t("0.1597", "0.05"),
    "NG": _t("0.0516", "0.0067", "0.075"),
    "PK": {MARKETING: "0.0473", AUTHENTICATION_INTERNATIONAL: "0.075"},  # utility 2026-04-01
    "PE": _t("0.0703", "0.02"),
    "RU": _t("0.0802", "0.04"),
    "SA": _t(None, "0.0107", "0.0598"),  # marketing raised 2026-04-01
    "ZA": _t("0.0379", "0.0076", "0.02"),
    "ES": _t(None, "0.02"),  # marketing raised 2026-07-01
    "TR": {MARKETING: "0.0109"},  # utility and authentication lowered 2026-04-01
    "AE": _t("0.0499", "0.0157", "0.051"),
    "GB": _t(None, "0.022"),  # marketing raised 2026-07-01
    "norteamerica": _t("0.025", "0.0034"),
    "resto_africa": _t("0.0225", "0.004"),
    "resto_asia_pacifico": _t("0.0732", "0.0113"),
    "resto_europa_central_oriental": _t("0.086", "0.0212"),
    "resto_latinoamerica": _t("0.074", "0.0113"),
    "resto_medio_oriente": _t("0.0341", "0.0091"),
    "resto_europa_occidental": _t("0.0592", "0.0171"),
    "otros": _t("0.0604", "0.0077"),
}

# Meta's country-to-region map (pricing page, card of 2026-07-01); a country in none of them
# is "otros".
_REGIONES = {
    "norteamerica": "CA US",
    "resto_africa": (
        "DZ AO BJ BW BF BI CM TD CG ER ET GA GM GH GW CI KE LS LR LY MG MW ML MR MZ NA NE RW "
        "SN SL SO SS SD SZ TZ TG TN UG ZM ZW"
    ),
    "resto_asia_pacifico": "AF AU KH CN JP LA MN NZ PG PH TW TJ TH TM UZ VN",
    "resto_europa_central_oriental": "AL AM AZ BY BG HR CZ GE GR LV LT MD MK RS SK SI",
    "resto_europa_occidental": "AT BE DK FI IE NO PT SE CH",
    "resto_latinoamerica": "BO CR DO EC SV GT HT HN JM NI PA PY PR UY VE",
    "resto_medio_oriente": "BH JO LB YE",
}
# Markets Meta made standalone on 2026-07-01 (HK HU PL QA RO SG) and 2026-10-01 (BD IQ NP LK
# KZ KW MA OM UA), whose new rates are not in the card above: their cost is unknown.
SIN_TARIFA_PUBLICADA = frozenset(
    ["HK", "HU", "PL", "QA", "RO", "SG", "BD", "IQ", "NP", "LK", "KZ", "KW", "MA", "OM", "UA"]
)


def _tabla_meta() -> dict[str, dict[str, Decimal]]:
    """Every ISO region code phonenumbers knows, with the rates of its market."""
    mercado_de = {pais: region for region, paises in _REGIONES.items() for pais in paises.split()}
    mercado_de |= {pais: pais for pais in _MERCADOS if len(pais) == 2}
    # From phonenumbers' code table, not country_code_for_region(): that one loads the
    # metadata of every region, a second at import time.
    codigo_de = {
        pais: codigo
        for codigo, paises in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
        for pais in paises
    }
    tabla = {}
    for pais in phonenumbers.SUPPORTED_REGIONS:
        mercado = _mercado(pais, mercado_de, codigo_de)
        if mercado is not None:
            tabla[pais] = {c: Decimal(v) for c, v in _MERCADOS[mercado].items()}
    return tabla


def _mercado(pais: str, mercado_de: dict[str, str], codigo_de: dict[str, int]) -> str | None:
    # Meta prices by calling code: a territory sharing one with a listed country (Jersey
    # and Guernsey +44, the Åland Islands +358) pays that country's rate. +1 is split by
    # area code (the Dominican Republic, Jamaica, Puerto Rico are Latin America), and the
    # other +1 territories are listed nowhere: unknown rather than a guess.
    if pais in SIN_TARIFA_PUBLICADA:
        return None
    if pais in mercado_de:
        return mercado_de[pais]
    codigo = codigo_de.get(pais)
    if codigo in (None, 1):
        return None
    conocidos = [*mercado_de, *SIN_TARIFA_PUBLICADA]
    listados = [p for p in conocidos if codigo_de.get(p) == codigo]
    if not listados:
        return "otros"
    mercados = {mercado_de.get(p) for p in listados}  # None: one without a rate
    return mercados.pop() if len(mercados) == 1 else None


#: The shipped table: ISO region code -> pricing category -> USD per delivered message.
TARIFAS_META: Mapping[str, Mapping[str, Decimal]] = _tabla_meta()


@dataclass(frozen=True)
class Costo:
    """What one envío cost: ``monto`` in ``moneda`` (ISO 4217)."""

    monto: Decimal
    moneda: str


@dataclass(frozen=True)
class Tarifas:
    """The rate table in force: ``tarifas[region][categoria]`` in ``moneda``."""

    moneda: str
    tarifas: Mapping[str, Mapping[str, Decimal]]

    def tarifa(self, region: str | None, categoria: str) -> Decimal | None:
        """The rate of ``categoria`` in ``region``; None when the table has none."""
        if not region:
            return None
        return self.tarifas.get(region, {}).get(normalizar_categoria(categoria))


def normalizar_categoria(categoria: str) -> str:
    """Meta writes ``authentication_international`` in conversations and
    ``authentication-international`` in pricing: one name for both."""
    return str(categoria or "").strip().lower().replace("_", "-")


# -- the table in force --------------------------------------------------------------------

_vigentes: tuple[Settings, Tarifas] | None = None


def tarifas() -> Tarifas:
    """The rate table in force (``COST_RATES`` and ``COST_CURRENCY`` over the shipped one).

    Resolved once per settings (``override_settings`` resolves it again).

    Raises:
        ImproperlyConfigured: the settings are malformed (the system check says so first).
    """
    global _vigentes
    settings = get_settings()
    if _vigentes is None or _vigentes[0] is not settings:
        _vigentes = (settings, construir_tarifas(settings.COST_RATES, settings.COST_CURRENCY))
    return _vigentes[1]


def construir_tarifas(tarifas_host: Any, moneda: Any) -> Tarifas:
    """The table ``COST_RATES`` = ``tarifas_host`` and ``COST_CURRENCY`` = ``moneda`` make.

    Raises:
        ImproperlyConfigured: a currency that is not 3 capital letters, a path that does not
            import, a country that is not an ISO region code, an unknown category, or a rate
            that is not a non-negative number (None removes a rate: its cost is unknown).
    """
    moneda = leer_moneda(moneda)
    propias = leer_tarifas(tarifas_host)
    base = TARIFAS_META if moneda == MONEDA_META else {}
    tabla: dict[str, dict[str, Decimal | None]] = {p: dict(t) for p, t in base.items()}
    for pais, por_categoria in propias.items():
        tabla.setdefault(pais, {}).update(por_categoria)
    limpia = {
        pais: {c: v for c, v in por_categoria.items() if v is not None}
        for pais, por_categoria in tabla.items()
    }
    return Tarifas(moneda=moneda, tarifas=limpia)


def leer_moneda(moneda: Any) -> str:
    if isinstance(moneda, str) and _es_moneda(moneda):
        return moneda
    raise ImproperlyConfigured(
        f"{SETTING_NAME}['COST_CURRENCY'] = {moneda!r}: un código de moneda ISO 4217 de tres "
        "letras mayúsculas, como 'USD' o 'MXN'."
    )


def leer_tarifas(valor: Any) -> dict[str, dict[str, Decimal | None]]:
    """``COST_RATES`` read: ``{"MX": {"marketing": "0.0305", ...}, ...}`` or its dotted path."""
    if valor is None:
        return {}
    if isinstance(valor, str):
        try:
            valor = import_string(valor)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['COST_RATES'] = {valor!r} no se puede importar ({exc})."
            ) from None
    if not isinstance(valor, Mapping):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['COST_RATES'] debe ser un dict {{país: {{categoría: tarifa}}}} o "
            f"la ruta de uno, no {type(valor).__name__}."
        )
    return {_pais(pais): _por_categoria(pais, tarifas) for pais, tarifas in valor.items()}


def _pais(pais: Any) -> str:
    if isinstance(pais, str) and pais in phonenumbers.SUPPORTED_REGIONS:
        return pais
    raise ImproperlyConfigured(
        f"{SETTING_NAME}['COST_RATES']: {pais!r} no es un código de país ISO 3166 que "
        "phonenumbers conozca (en mayúsculas: 'MX', 'CO', 'US')."
    )


def _por_categoria(pais: str, tarifas: Any) -> dict[str, Decimal | None]:
    if not isinstance(tarifas, Mapping):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['COST_RATES'][{pais!r}] debe ser un dict {{categoría: tarifa}}."
        )
    leidas = {}
    for escrita, tarifa in tarifas.items():
        categoria = normalizar_categoria(escrita) if isinstance(escrita, str) else escrita
        if categoria not in CATEGORIAS_DE_PRECIO:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['COST_RATES'][{pais!r}]: categoría {escrita!r} desconocida; "
                f"las de Meta son {', '.join(CATEGORIAS_DE_PRECIO)}."
            )
        leidas[categoria] = None if tarifa is None else _tarifa(pais, categoria, tarifa)
    return leidas


#: What ``EnvioWhatsApp.costo`` holds (12 digits, 6 of them decimals): a rate or a price
#: beyond it would be stored wrong (rounded to 0) or refused by the database.
DECIMALES = 6
MAXIMO = Decimal("999999.999999")


def cabe(valor: Decimal) -> bool:
    """True when ``valor`` is stored exactly in ``EnvioWhatsApp.costo``."""
    return (
        valor.is_finite()
        and abs(valor) <= MAXIMO
        and valor == valor.quantize(Decimal(1).scaleb(-DECIMALES))
    )


def _tarifa(pais: str, categoria: str, tarifa: Any) -> Decimal:
    try:
        # str() first: a float such as 0.1 becomes Decimal("0.1"), not its binary expansion.
        numero = Decimal(str(tarifa)) if not isinstance(tarifa, bool) else None
    except (InvalidOperation, ValueError):
        numero = None
    if numero is None or not numero.is_finite() or numero < 0 or not cabe(numero):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['COST_RATES'][{pais!r}][{categoria!r}] = {tarifa!r}: una tarifa "
            f"por mensaje, un número no negativo de hasta {DECIMALES} decimales y menor que "
            "un millón (mejor como texto: '0.0085'), o None."
        )
    return numero


# -- the cost of one envío -------------------------------------------------------------------


def region_de(telefono: str) -> str | None:
    """The ISO region code of an E.164 phone (digits, with or without ``+``); None if unknown.

    A calling code of one country (52 is Mexico) is read from the digits alone: parsing
    the number costs some 100 µs, a fifth of what applying a status may take. Codes that
    several countries share (+1, +7, +44) need the whole number, parsed once per phone.
    """
    digitos = str(telefono or "").lstrip("+")
    if not digitos.isdigit():
        return None
    # Calling codes are prefix-free: the first length that is one is the code.
    for largo in (1, 2, 3):
        if regiones := phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digitos[:largo])):
            break
    else:
        return None
    if len(regiones) == 1:
        return regiones[0] if regiones[0] != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY else None
    return _region_compartida(digitos)


@functools.lru_cache(maxsize=4096)
def _region_compartida(digitos: str) -> str | None:
    try:
        numero = phonenumbers.parse("+" + digitos)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(numero)
    return region if region and region != phonenumbers.UNKNOWN_REGION else None


def costo_meta(
    telefono: str,
    *,
    facturable: bool | None,
    tipo: str,
    categoria: str,
    modelo: str = "",
    vigentes: Tarifas | None = None,
) -> Costo | None:
    """The cost of one delivered message from its ``pricing`` (``billable``, ``type``,
    ``category``, ``pricing_model``) and the recipient's phone; None when unknown.

    Free (``billable: false`` or a free ``type``): 0. Legacy conversation pricing (``CBP``)
    billed conversations, not messages: unknown. A category or country without a rate in
    the table: unknown.
    """
    vigentes = vigentes or tarifas()
    if facturable is False or tipo in TIPOS_GRATUITOS:
        return Costo(CERO, vigentes.moneda)
    if modelo and modelo.upper() != "PMP":
        return None
    if not categoria or (facturable is None and tipo != "regular"):
        return None
    tarifa = vigentes.tarifa(region_de(telefono), categoria)
    return None if tarifa is None else Costo(tarifa, vigentes.moneda)


def precio_reportado(monto: Any, moneda: Any) -> Costo | None:
    """A provider's own price (Twilio's ``price`` / ``price_unit``) as a cost; None if absent.

    Twilio writes what it charged as a negative amount (``"-0.0085"``).
    """
    try:
        valor = Decimal(str(monto)) if monto not in (None, "") else None
    except InvalidOperation:
        valor = None
    moneda = str(moneda or "").strip().upper()
    if valor is None or not cabe(valor) or not _es_moneda(moneda):
        return None  # absent, or what no column holds: the cost stays unknown
    return Costo(abs(valor), moneda)


def _es_moneda(moneda: str) -> bool:
    return len(moneda) == 3 and moneda.isascii() and moneda.isalpha() and moneda.isupper()


# -- totals ----------------------------------------------------------------------------------

AGRUPACIONES = {None: None, "tipo": "tipo", "cuenta": "cuenta"}


def por_mes(
    envios: QuerySet | None = None,
    *,
    por: str | None = None,
    desde: datetime | date | None = None,
    hasta: datetime | date | None = None,
) -> list[dict[str, Any]]:
    """Costs per month of delivery, in one SQL query: one row per month, group and currency.

    Each row: ``mes`` (the first day, in the current time zone), ``grupo`` (the envío's
    ``tipo`` or ``cuenta`` with ``por``; None without), ``moneda``, ``total`` (a Decimal) and
    ``facturables`` (envíos that cost more than 0). Only envíos whose cost is known count;
    amounts in different currencies are never added together. ``desde`` (inclusive) and
    ``hasta`` (exclusive) bound the delivery time.

    Raises:
        ValueError: ``por`` is not None, ``"tipo"`` or ``"cuenta"``.
    """
    if por not in AGRUPACIONES:
        raise ValueError(f"por={por!r}: None, 'tipo' o 'cuenta'.")
    filas = _con_costo(envios, desde, hasta).annotate(mes=TruncMonth("entregado_en"))
    campos = ["mes", "moneda"] + ([por] if por else [])
    filas = (
        filas.values(*campos)
        .annotate(total=_suma(), facturables=Count("pk", filter=Q(costo__gt=0)))
        .order_by(*campos)
    )
    return [
        {
            "mes": fila["mes"].date() if isinstance(fila["mes"], datetime) else fila["mes"],
            "grupo": fila[por] if por else None,
            "moneda": fila["moneda"],
            "total": fila["total"],
            "facturables": fila["facturables"],
        }
        for fila in filas
    ]


def totales(envios: QuerySet | None = None) -> dict[str, Decimal]:
    """The known cost of ``envios`` per currency (``{"USD": Decimal(...)}``), in one query."""
    filas = _con_costo(envios, None, None).values("moneda").annotate(total=_suma()).order_by()
    return {fila["moneda"]: fila["total"] for fila in filas}


def _con_costo(envios: QuerySet | None, desde, hasta) -> QuerySet:
    from .models import EnvioWhatsApp

    envios = EnvioWhatsApp.objects.all() if envios is None else envios
    envios = envios.filter(costo__isnull=False, entregado_en__isnull=False)
    if desde is not None:
        envios = envios.filter(entregado_en__gte=_momento(desde))
    if hasta is not None:
        envios = envios.filter(entregado_en__lt=_momento(hasta))
    return envios.order_by()


def _momento(valor: datetime | date) -> datetime:
    """A date as the start of that day in the current time zone (naive under
    ``USE_TZ = False``); a datetime as it is."""
    if isinstance(valor, datetime):
        return valor
    inicio = datetime.combine(valor, time.min)
    return timezone.make_aware(inicio) if settings.USE_TZ else inicio


def _suma() -> Coalesce:
    decimal = DecimalField(max_digits=16, decimal_places=6)
    return Coalesce(Sum("costo"), Value(CERO), output_field=decimal)


# -- the price a provider reports ------------------------------------------------------------

#: How many times the price of a message is asked for before giving up (its cost stays
#: unknown), and the wait before each new try, in seconds.
INTENTOS_PRECIO = 5
ESPERA_PRECIO = 120

REGISTRADO, PENDIENTE, NO_APLICA = "registrado", "pendiente", "no_aplica"


def pide_precio(envio: Any) -> bool:
    """True when ``envio`` (just delivered, cost unknown) is priced by asking its provider
    (``fetch_price``), as Twilio's are: its status callbacks carry no price."""
    if envio.costo is not None or envio.entregado_en is None or not envio.wamid:
        return False
    from .backends import backends

    try:
        return backends[envio.cuenta].supports("fetch_price")
    except ImproperlyConfigured:
        return False  # an account no longer configured: nothing to ask


def registrar_precio_reportado(envio_id: int) -> str:
    """Ask the provider what it charged for an envío and record it as its cost, once.

    Returns :data:`REGISTRADO` (recorded now), :data:`PENDIENTE` (the provider has not
    priced it yet, or could not be asked: worth asking again later) or :data:`NO_APLICA`
    (no such envío, its cost is known, or its provider reports no prices).
    """
    from .models import EnvioWhatsApp

    envio = EnvioWhatsApp.objects.filter(pk=envio_id, costo__isnull=True).first()
    if envio is None or not pide_precio(envio):
        return NO_APLICA
    from .backends import backends
    from .exceptions import ProviderError

    try:
        reportado = backends[envio.cuenta].fetch_price(envio.wamid)
    except ProviderError as exc:
        logger.info("Precio del envío %s no disponible (%s)", envio_id, type(exc).__name__)
        return PENDIENTE
    costo = reportado and precio_reportado(reportado.monto, reportado.moneda)
    if not costo:
        return PENDIENTE
    # Conditional: a concurrent task (delivered, then read) records it only once.
    EnvioWhatsApp.objects.filter(pk=envio_id, costo__isnull=True).update(
        costo=costo.monto, moneda=costo.moneda
    )
    return REGISTRADO
