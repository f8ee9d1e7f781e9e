"""The API's views: envíos, the queue, consents, conversations and the figures.

Every write goes through the function an ERP would call from Python (``enviar_*``,
``outbound.actions``, ``consent``), inside one transaction, so the API neither validates
nor records anything its own way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib.resources import files

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import (
    APIException,
    NotFound,
    ParseError,
    PermissionDenied,
    ValidationError,
)
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle

from .. import consent, costs
from ..conf import DEFAULT_ALIAS, get_settings
from ..exceptions import WhatsAppError
from ..health import comprobar_salud
from ..messages import BotonRapido, BotonUrl
from ..models import (
    CambioConsentimiento,
    Categoria,
    ClaseEnvio,
    ConsentimientoCliente,
    Conversacion,
    EnvioWhatsApp,
    EstadoEnvio,
    Mensaje,
)
from ..outbound import actions, outbox, reports
from ..outbound.resend import reenviar_aviso
from ..outbound.status import estado_whatsapp
from ..phones import TelefonoInvalido, normalizar, variantes
from . import serializers as s
from .fields import estado_como_json
from .permissions import clases_de_permiso
from .schema import extend_schema, extend_schema_view, parametro

#: The exceptions the Python API raises for a request it refuses, and their stable codes.
CODIGOS = (
    ("UnsupportedContent", "contenido_no_soportado"),
    ("ValorDemasiadoLargo", "valor_demasiado_largo"),
    ("VariablesError", "variables_invalidas"),
    ("RegionDesconocida", "region_desconocida"),
    ("FechaInvalida", "fecha_invalida"),
    ("TelefonoInvalido", "telefono_invalido"),
    ("MessageError", "mensaje_invalido"),
)


class Rechazado(APIException):
    """The Python API refused the request (a programmer error): 400 with a stable code."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "mensaje_invalido"


class Conflicto(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflicto"


def rechazo(exc: Exception) -> Rechazado:
    """``exc`` from ``enviar_*`` as a 400 whose code names its class."""
    nombres = {clase.__name__ for clase in type(exc).__mro__}
    codigo = next((codigo for nombre, codigo in CODIGOS if nombre in nombres), None)
    if codigo is None and isinstance(exc, ImproperlyConfigured):
        codigo = "configuracion"
    return Rechazado(str(exc), code=codigo or "mensaje_invalido")


class ThrottleWhatsApp(UserRateThrottle):
    """Each user's (or address's) request rate: ``API_THROTTLE_RATE``, or
    ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["whatsapp_notify"]`` when the host sets it."""

    scope = "whatsapp_notify"

    def get_rate(self):
        return self.THROTTLE_RATES.get(self.scope, get_settings().API_THROTTLE_RATE)

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        return super().allow_request(request, view)


class Paginacion(CursorPagination):
    """Newest first, stable while rows arrive: a cursor, never an offset."""

    ordering = "-pk"
    page_size = 50
    page_size_query_param = "tamano"
    max_page_size = 500

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        # DRF does not check the position it decodes: a tampered one would reach the query.
        posicion = None if cursor is None else cursor.position
        if posicion is not None and not (str(posicion).isascii() and str(posicion).isdigit()):
            raise NotFound(self.invalid_cursor_message)
        return cursor


class BaseAPI:
    """What every view of the API shares: permissions, throttle, error codes."""

    def get_permissions(self):
        return [clase() for clase in clases_de_permiso()]

    def get_throttles(self):
        return [*super().get_throttles(), ThrottleWhatsApp()]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # A NUL reaches no column (PostgreSQL refuses it in text): say so before any query.
        if any(
            "\x00" in valor for _clave, valores in request.query_params.lists() for valor in valores
        ):
            raise ParseError(_("La consulta lleva un carácter nulo (\\x00)."), code="caracter_nulo")

    def get_exception_handler(self):
        base = super().get_exception_handler()

        def con_codigo(exc, context):
            respuesta = base(exc, context)
            if (
                respuesta is not None
                and isinstance(respuesta.data, dict)
                and set(respuesta.data) == {"detail"}
            ):
                respuesta.data["code"] = _codigo_de(exc)
            return respuesta

        return con_codigo


def _codigo_de(exc: Exception) -> str:
    """The stable code of an error DRF renders as ``{"detail": ...}``."""
    if isinstance(exc, Http404):
        return NotFound.default_code
    if isinstance(exc, DjangoPermissionDenied):
        return "permission_denied"
    if isinstance(exc, APIException):
        codigos = exc.get_codes()
        return codigos if isinstance(codigos, str) else exc.default_code
    return "error"


def _parametros(*parametros) -> list:
    return [uno for uno in parametros if uno is not None]


_CUENTA = parametro("cuenta", "Alias de la cuenta en BACKENDS.")
_TELEFONO = parametro("telefono", "En cualquier formato; encuentra también sus variantes.")
FILTROS_ENVIOS = _parametros(
    parametro("estado", "Uno o varios, separados por comas."),
    parametro("tipo", "Uno o varios, separados por comas."),
    _CUENTA,
    _TELEFONO,
    parametro("clave", "La clave de idempotencia."),
    parametro("referencia_tipo", 'El modelo del objeto del ERP: "app_label.modelo".'),
    parametro("referencia_id", "El id del objeto del ERP (con referencia_tipo)."),
    parametro("creado_desde", "Fecha (su inicio) o fecha y hora ISO."),
    parametro("creado_hasta", "Fecha (incluida) o fecha y hora ISO (excluida)."),
    parametro("tamano", "Filas por página (hasta 500).", tipo=int),
)
FILTROS_CONSENTIMIENTOS = _parametros(
    _TELEFONO,
    parametro("categoria", "utility o marketing.", opciones=["utility", "marketing"]),
    _CUENTA,
    parametro("estado", "otorgado o revocado.", opciones=["otorgado", "revocado"]),
)


# --- envíos -------------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(parameters=FILTROS_ENVIOS))
class EnvioViewSet(BaseAPI, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                   viewsets.GenericViewSet):  # fmt: skip
    """Envíos: list with filters, detail with statuses and messages, create, resend, cancel.

    Filters (query string): ``estado`` and ``tipo`` (comma-separated), ``cuenta``,
    ``telefono`` (any format), ``clave``, ``referencia_tipo`` + ``referencia_id``,
    ``creado_desde`` / ``creado_hasta`` (ISO date or date-time).
    """

    queryset = EnvioWhatsApp.objects.all()
    pagination_class = Paginacion
    permisos_por_accion = {"reenviar": "change", "cancelar": "change"}

    def get_serializer_class(self):
        if self.action == "retrieve":
            return s.EnvioDetalleSerializer
        if self.action == "create" or (self.action == "metadata" and self.request.method == "POST"):
            return s.NuevoEnvioSerializer  # OPTIONS describes what a POST takes
        return s.EnvioSerializer

    def get_queryset(self) -> QuerySet[EnvioWhatsApp]:
        envios = EnvioWhatsApp.objects.all()
        if self.action == "retrieve":
            return envios.prefetch_related("mensajes")
        if self.action == "list":
            return filtrar_envios(envios, self.request.query_params)
        return envios

    @extend_schema(
        request=s.NuevoEnvioSerializer, responses={201: s.EnvioSerializer, 200: s.EnvioSerializer}
    )
    def create(self, request, *args, **kwargs):
        entrada = s.NuevoEnvioSerializer(data=request.data)
        entrada.is_valid(raise_exception=True)
        datos = dict(entrada.validated_data)
        if (previo := EnvioWhatsApp.objects.por_clave(datos.get("clave"))) is not None:
            _exigir_mismo_envio(previo, datos)
        try:
            with transaction.atomic():
                envio = crear_envio(dict(datos))
        except (WhatsAppError, ValueError, TypeError, ImproperlyConfigured) as exc:
            raise rechazo(exc) from exc
        nuevo = outbox.registrado_ahora(envio)
        if not nuevo:
            _exigir_mismo_envio(envio, datos)  # a concurrent request won the clave
        envio.refresh_from_db()
        codigo = status.HTTP_201_CREATED if nuevo else status.HTTP_200_OK
        return Response(s.EnvioSerializer(envio).data, status=codigo)

    @extend_schema(request=None, responses=s.EnvioSerializer)
    @action(detail=True, methods=["post"])
    def reenviar(self, request, pk=None):
        """Send again an envío that never reached its recipient (fallido, omitido…)."""
        envio = self.get_object()
        with transaction.atomic():
            resultado = actions.reenviar([envio])
        envio.refresh_from_db()
        if not resultado.reenviados:
            (motivo,) = resultado.omitidos
            raise Conflicto(str(_NO_REENVIADO.get(motivo, motivo)), code=motivo)
        return Response(s.EnvioSerializer(envio).data)

    @extend_schema(request=None, responses=s.EnvioSerializer)
    @action(detail=True, methods=["post"])
    def cancelar(self, request, pk=None):
        """Cancel an envío that still waits (programado or pendiente)."""
        envio = self.get_object()
        if not actions.cancelar([envio]):
            envio.refresh_from_db()
            raise Conflicto(
                _("El envío está %(estado)s: sólo se cancela mientras espera.")
                % {"estado": str(envio.get_estado_display()).lower()},
                code="no_cancelable",
            )
        envio.refresh_from_db()
        return Response(s.EnvioSerializer(envio).data)


_NO_REENVIADO = {
    actions.YA_ENVIADO: gettext_lazy(
        "El proveedor ya aceptó este envío: reenviarlo lo duplicaría."
    ),
    actions.EN_CURSO: gettext_lazy("El envío sigue en curso: espera a que termine."),
    actions.SUPERADO: gettext_lazy(
        "Un envío posterior del mismo aviso ya salió o está en camino: reenviar este lo duplicaría."
    ),
}


def _exigir_mismo_envio(previo: EnvioWhatsApp, datos: dict) -> None:
    """A repeated clave must name the same send: same clase, recipient and template.

    A retried request gets its envío back; a different request under a clave already used
    would otherwise be answered with another envío and never go out (409 instead).
    """
    distinto = previo.clase != datos["clase"] or (
        previo.clase == ClaseEnvio.PLANTILLA and datos.get("plantilla") != previo.plantilla
    )
    try:
        digitos = normalizar(datos["telefono"], datos.get("region"))
    except TelefonoInvalido:
        digitos = ""
    if previo.telefono and digitos and digitos not in variantes(previo.telefono):
        distinto = True
    if distinto:
        raise Conflicto(
            _(
                "La clave %(clave)s ya es del envío %(id)s, a otro destinatario o con otro "
                "contenido: usa una clave nueva para un envío nuevo."
            )
            % {"clave": repr(previo.clave), "id": previo.pk},
            code="clave_en_uso",
        )


def crear_envio(datos: dict) -> EnvioWhatsApp:
    """Call the ``enviar_*`` function ``datos["clase"]`` names with ``datos``."""
    clase = datos.pop("clase")
    telefono = datos.pop("telefono")
    datos.setdefault("cuenta", DEFAULT_ALIAS)
    if "botones" in datos:
        datos["botones"] = _botones(clase, datos["botones"])
    if "secciones" in datos:
        datos["secciones"] = _secciones(datos["secciones"])
    if clase == ClaseEnvio.PLANTILLA:
        return outbox.enviar_plantilla(telefono, datos.pop("plantilla"), **datos)
    if clase == ClaseEnvio.TEXTO:
        return outbox.enviar_texto(telefono, datos.pop("texto"), **datos)
    if clase == ClaseEnvio.DOCUMENTO:
        return outbox.enviar_documento(telefono, datos.pop("documento"), **datos)
    if clase == ClaseEnvio.IMAGEN:
        return outbox.enviar_imagen(telefono, datos.pop("imagen"), **datos)
    if clase == ClaseEnvio.BOTONES:
        return outbox.enviar_botones(telefono, datos.pop("texto"), **datos)
    if clase == ClaseEnvio.LISTA:
        return outbox.enviar_lista(telefono, datos.pop("texto"), **datos)
    if clase == ClaseEnvio.UBICACION:
        return outbox.enviar_ubicacion(
            telefono, datos.pop("latitud"), datos.pop("longitud"), **datos
        )
    datos.pop("programado_para", None)
    datos.pop("categoria", None)
    return outbox.enviar_reaccion(telefono, datos.pop("emoji"), **datos)


def _botones(clase: str, botones) -> list:
    if not isinstance(botones, list):
        raise ValidationError({"botones": [_("Una lista.")]}, code="botones_invalidos")
    if clase == ClaseEnvio.PLANTILLA:
        return [_boton_de_plantilla(boton) for boton in botones]
    return [tuple(boton) if isinstance(boton, list) else boton for boton in botones]


def _boton_de_plantilla(boton):
    if boton is None:
        return None
    if isinstance(boton, dict) and set(boton) == {"url"}:
        return BotonUrl(str(boton["url"]))
    if isinstance(boton, dict) and set(boton) == {"payload"}:
        return BotonRapido(str(boton["payload"]))
    raise ValidationError(
        {
            "botones": [
                _('%(boton)s: {"url": sufijo}, {"payload": texto} o null.') % {"boton": repr(boton)}
            ]
        },
        code="botones_invalidos",
    )


def _secciones(secciones):
    if not isinstance(secciones, dict):
        raise ValidationError(
            {"secciones": [_('Un objeto {"Sección": [[id, título], …]}.')]},
            code="secciones_invalidas",
        )
    return {
        titulo: [tuple(fila) if isinstance(fila, list) else fila for fila in filas]
        for titulo, filas in secciones.items()
    }


def filtrar_envios(envios: QuerySet, params) -> QuerySet:
    """The envíos that match the list's query-string filters (400 on a malformed one)."""
    if estados := _lista(params.get("estado")):
        desconocidos = set(estados) - set(EstadoEnvio.values)
        if desconocidos:
            mensaje = _("Estado desconocido: %(estados)s") % {"estados": sorted(desconocidos)}
            raise ValidationError({"estado": [mensaje]})
        envios = envios.filter(estado__in=estados)
    if tipos := _lista(params.get("tipo")):
        envios = envios.filter(tipo__in=tipos)
    if cuenta := params.get("cuenta"):
        envios = envios.filter(cuenta=cuenta)
    if clave := params.get("clave"):
        envios = envios.filter(clave=clave)
    if telefono := params.get("telefono"):
        try:
            envios = envios.filter(telefono__in=variantes(normalizar(telefono)))
        except TelefonoInvalido as exc:
            raise ValidationError({"telefono": [str(exc)]}, code="telefono_invalido") from exc
    tipo_ref, id_ref = params.get("referencia_tipo"), params.get("referencia_id")
    if tipo_ref or id_ref:
        envios = envios.filter(content_type=_content_type(tipo_ref), object_id=str(id_ref or ""))
    if desde := params.get("creado_desde"):
        envios = envios.filter(creado_en__gte=_fecha(desde, "creado_desde"))
    if hasta := params.get("creado_hasta"):
        envios = envios.filter(creado_en__lt=_fecha(hasta, "creado_hasta", fin=True))
    return envios


def _lista(valor: str | None) -> list[str]:
    return [parte.strip() for parte in (valor or "").split(",") if parte.strip()]


def _content_type(tipo: str | None) -> ContentType:
    app_label, _punto, modelo = (tipo or "").partition(".")
    try:
        return ContentType.objects.get_by_natural_key(app_label, modelo.lower())
    except ContentType.DoesNotExist as exc:
        raise ValidationError(
            {
                "referencia_tipo": [
                    _("%(tipo)s: un modelo como 'taller.ordentrabajo'.") % {"tipo": repr(tipo)}
                ]
            }
        ) from exc


def _fecha(texto: str, campo: str, *, fin: bool = False) -> datetime:
    """An ISO date (its start; ``fin``: the start of the next day) or an ISO date-time."""
    try:
        if len(texto) == 10 and (dia := parse_date(texto)) is not None:
            momento = datetime.combine(dia + timedelta(days=1 if fin else 0), datetime.min.time())
        else:
            momento = parse_datetime(texto)
        if momento is not None and timezone.is_naive(momento):
            momento = timezone.make_aware(momento)
        if momento is not None:
            momento.astimezone(timezone.get_current_timezone())  # out of range here fails now
    except (ValueError, OverflowError):
        momento = None
    if momento is None:
        raise ValidationError(
            {
                campo: [
                    _(
                        "%(texto)s: una fecha ISO (2026-11-20) o fecha y hora (2026-11-20T10:00, "
                        "con su zona codificada en la URL: %%2B06:00)."
                    )
                    % {"texto": repr(texto)}
                ]
            }
        )
    return momento


# --- an ERP object's notices ---------------------------------------------------------------


class AvisosView(BaseAPI, generics.GenericAPIView):
    """GET: what became of an ERP object's notices (``estado_whatsapp``), for a front end.

    ``?referencia_tipo=taller.ordentrabajo&referencia_id=42`` and optionally ``&tipo=``.
    """

    queryset = EnvioWhatsApp.objects.none()
    serializer_class = s.AvisosSerializer
    pagination_class = None

    @extend_schema(
        parameters=_parametros(
            parametro("referencia_tipo", '"app_label.modelo"', requerido=True),
            parametro("referencia_id", "El id del objeto del ERP.", requerido=True),
            parametro("tipo", "Sólo los avisos de este tipo."),
        )
    )
    def get(self, request):
        params = request.query_params
        # The object is named, not read: the answer is the same whether it exists or not
        # (its envíos are found by content type and id), so it tells nothing of other tables.
        obj = _referencia(params.get("referencia_tipo"), params.get("referencia_id"), leer=False)
        tipo = params.get("tipo") or None
        estados = estado_whatsapp(obj, tipo) if tipo else estado_whatsapp(obj)
        if tipo:
            estados = {tipo: estados} if estados is not None else {}
        return Response(
            {
                "referencia": {"tipo": params["referencia_tipo"], "id": params["referencia_id"]},
                "avisos": {clave: estado_como_json(uno) for clave, uno in estados.items()},
            }
        )


class ReenviarAvisoView(BaseAPI, generics.GenericAPIView):
    """POST: the ERP's «Reenviar notificación» button (``reenviar_aviso``).

    200 when a send is queued (``reenviado`` or ``copia``); 409 with ``code`` = the
    ``resultado`` and ``detail`` = the sentence for the user when nothing was sent.
    """

    queryset = EnvioWhatsApp.objects.none()
    serializer_class = s.ReenviarAvisoSerializer
    pagination_class = None
    permisos_por_accion = {None: "change"}

    @extend_schema(responses={200: s.ResultadoAvisoSerializer, 409: s.ResultadoAvisoSerializer})
    def post(self, request):
        entrada = s.ReenviarAvisoSerializer(data=request.data)
        entrada.is_valid(raise_exception=True)
        datos = entrada.validated_data
        if datos.get("copia_de") and not _puede_crear_envios(request):
            raise PermissionDenied(
                _("Una copia nueva es un envío nuevo: pide el permiso de añadir envíos.")
            )
        obj = _referencia(datos["referencia_tipo"], datos["referencia_id"])
        with transaction.atomic():
            hecho = reenviar_aviso(obj, datos["tipo"], copia_de=datos.get("copia_de"))
        cuerpo = {
            **hecho.como_dict(),
            "estado": estado_como_json(hecho.estado),
            "detail": hecho.mensaje,
            "code": hecho.resultado,
        }
        codigo = status.HTTP_200_OK if hecho.reenviado else status.HTTP_409_CONFLICT
        return Response(cuerpo, status=codigo)


def _referencia(tipo: str | None, pk: str | None, *, leer: bool = True):
    """The ERP object named by content type and id: read (``leer``), or only named."""
    if not tipo or not pk:
        falta = "referencia_tipo" if not tipo else "referencia_id"
        raise ValidationError(
            {falta: [_("referencia_tipo y referencia_id van juntos.")]},
            code="referencia_incompleta",
        )
    if leer:
        return s.objeto_referido(tipo, pk)
    modelo = s.modelo_referido(tipo)
    try:
        return modelo(pk=modelo._meta.pk.to_python(pk))
    except (DjangoValidationError, ValueError, TypeError) as exc:
        mensaje = _("%(id)s no es un id de %(tipo)s.") % {"id": repr(pk), "tipo": tipo}
        raise ValidationError({"referencia_id": [mensaje]}) from exc


def _puede_crear_envios(request) -> bool:
    """What creating an envío asks of the user (``add``, unless the host names its own)."""
    if get_settings().API_PERMISSION_CLASSES is not None:
        return True  # the host's classes decided already
    opts = EnvioWhatsApp._meta
    return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")


# --- the queue ----------------------------------------------------------------------------


class ColaView(BaseAPI, generics.GenericAPIView):
    """GET: the queue status; ``?cuenta=`` one account, ``?horas=`` the window (24)."""

    queryset = EnvioWhatsApp.objects.none()
    serializer_class = s.ColaSerializer
    pagination_class = None
    FALLIDOS_RECIENTES = 20

    @extend_schema(
        parameters=_parametros(
            _CUENTA, parametro("horas", "Ventana de lo terminado (24; hasta 2160).", tipo=int)
        )
    )
    def get(self, request):
        cuenta = request.query_params.get("cuenta") or None
        horas = _entero(request.query_params.get("horas"), "horas", 24, maximo=24 * 90)
        cola = reports.cola(cuenta=cuenta, ventana=timedelta(hours=horas))
        fallidos = EnvioWhatsApp.objects.filter(estado=EstadoEnvio.FALLIDO)
        if cuenta:
            fallidos = fallidos.filter(cuenta=cuenta)
        recientes = fallidos.order_by("-fallido_en", "-pk")[: self.FALLIDOS_RECIENTES]
        return Response(
            {
                **_cola(cola),
                "fallidos_recientes": s.EnvioSerializer(recientes, many=True).data,
            }
        )


def _cola(cola: reports.Cola) -> dict:
    return {
        "pendientes": cola.pendientes,
        "en_reintento": cola.en_reintento,
        "programados": cola.programados,
        "enviando": cola.enviando,
        "inciertos": cola.inciertos,
        "mas_antiguo": cola.mas_antiguo,
        "espera_segundos": cola.espera.total_seconds() if cola.espera is not None else None,
        "desde": cola.desde,
        "hasta": cola.hasta,
        "terminados": cola.terminados,
        "fallidos": cola.fallidos,
        "tasa_exito": cola.tasa_exito,
        "tasa_fallos": cola.tasa_fallos,
        "intentos_promedio": cola.intentos_promedio,
        "cuentas_pausadas": list(cola.pausadas),
    }


class ReintentarView(BaseAPI, generics.GenericAPIView):
    """POST: send again the envíos a filter selects (``dry_run``: only count them)."""

    queryset = EnvioWhatsApp.objects.none()
    serializer_class = s.ReintentoSerializer
    pagination_class = None
    permisos_por_accion = {None: "change"}

    @extend_schema(responses=s.ResultadoReintentoSerializer)
    def post(self, request):
        entrada = s.ReintentoSerializer(data=request.data)
        entrada.is_valid(raise_exception=True)
        filtro = entrada.validated_data
        envios = actions.por_reintentar(
            estados=sorted(filtro["estado"]),
            codigos=[filtro["error_codigo"]] if "error_codigo" in filtro else (),
            tipos=[filtro["tipo"]] if "tipo" in filtro else (),
            desde=filtro.get("desde"),
            hasta=filtro.get("hasta"),
            cuenta=filtro.get("cuenta"),
            ids=filtro.get("ids", ()),
        )
        total = envios.count()
        elegidos = list(envios.order_by("pk")[: filtro["limite"]])
        if filtro["dry_run"]:
            return Response(
                {
                    "dry_run": True,
                    "seleccionados": total,
                    "se_reintentarian": len(elegidos),
                    "ids": [envio.pk for envio in elegidos],
                }
            )
        with transaction.atomic():
            resultado = actions.reenviar(elegidos)
        return Response(
            {
                "dry_run": False,
                "seleccionados": total,
                "reenviados": resultado.reenviados,
                "omitidos": resultado.omitidos,
                "quedan": total - len(elegidos),
            }
        )


def _entero(texto: str | None, campo: str, defecto: int, *, maximo: int) -> int:
    if texto in (None, ""):
        return defecto
    if not (texto.isascii() and texto.isdigit()) or not 1 <= int(texto) <= maximo:
        raise ValidationError({campo: [_("Un entero de 1 a %(maximo)s.") % {"maximo": maximo}]})
    return int(texto)


# --- consents -----------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(parameters=FILTROS_CONSENTIMIENTOS))
class ConsentimientoViewSet(BaseAPI, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                            viewsets.GenericViewSet):  # fmt: skip
    """Consents: list (``?telefono=``, ``categoria``, ``cuenta``, ``estado``), grant/revoke
    (POST), ``estado/?telefono=…&categoria=…&cuenta=…`` for what a send would see, and
    ``historial/`` (same filters): every decision recorded, newest first."""

    serializer_class = s.ConsentimientoSerializer
    queryset = ConsentimientoCliente.objects.all()
    pagination_class = Paginacion

    def get_serializer_class(self):
        if self.action == "create" or (self.action == "metadata" and self.request.method == "POST"):
            return s.NuevoConsentimientoSerializer
        return s.ConsentimientoSerializer

    def get_queryset(self):
        modelo = CambioConsentimiento if self.action == "historial" else ConsentimientoCliente
        filas = modelo.objects.all()
        params = self.request.query_params
        if telefono := params.get("telefono"):
            filas = filas.filter(telefono__in=_variantes(telefono))
        for campo in ("categoria", "cuenta", "estado"):
            if campo in params:
                filas = filas.filter(**{campo: _opcion(modelo, campo, params[campo])})
        return filas

    @extend_schema(
        request=s.NuevoConsentimientoSerializer, responses={201: s.ConsentimientoSerializer}
    )
    def create(self, request, *args, **kwargs):
        entrada = s.NuevoConsentimientoSerializer(data=request.data)
        entrada.is_valid(raise_exception=True)
        datos = dict(entrada.validated_data)
        registrar = (
            consent.otorgar_consentimiento
            if datos.pop("accion") == "otorgar"
            else consent.revocar_consentimiento
        )
        telefono = datos.pop("telefono")
        datos["cuenta"] = datos.get("cuenta") or None
        try:
            fila = registrar(telefono, **datos)
        except (WhatsAppError, ValueError) as exc:
            raise rechazo(exc) from exc
        return Response(s.ConsentimientoSerializer(fila).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses=s.EstadoConsentimientoSerializer,
        parameters=_parametros(
            parametro("telefono", "En cualquier formato.", requerido=True),
            parametro("categoria", "utility (por omisión) o marketing."),
            _CUENTA,
        ),
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def estado(self, request):
        """What a send of ``categoria`` to ``telefono`` through ``cuenta`` would see."""
        params = request.query_params
        categoria = params.get("categoria", Categoria.UTILITY)
        if categoria not in Categoria.values:
            mensaje = _("Una de %(opciones)s.") % {"opciones": ", ".join(Categoria.values)}
            raise ValidationError({"categoria": [mensaje]})
        try:
            digitos = normalizar(params.get("telefono", ""))
        except TelefonoInvalido as exc:
            raise ValidationError({"telefono": [str(exc)]}, code="telefono_invalido") from exc
        cuenta = params.get("cuenta") or None
        return Response(
            {
                "telefono": digitos,
                "categoria": categoria,
                "cuenta": cuenta,
                "estado": consent.estado_consentimiento(digitos, categoria, cuenta=cuenta),
            }
        )

    @extend_schema(
        responses=s.CambioConsentimientoSerializer(many=True), parameters=FILTROS_CONSENTIMIENTOS
    )
    @action(detail=False, methods=["get"], serializer_class=s.CambioConsentimientoSerializer)
    def historial(self, request):
        """Every grant and revocation recorded, with what held before, its origin and
        evidence (``?telefono=`` in any format, ``categoria``, ``cuenta``, ``estado``)."""
        pagina = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.CambioConsentimientoSerializer(pagina, many=True).data)


def _opcion(modelo, campo: str, valor: str) -> str:
    """``valor`` for filtering ``modelo.campo``: one of its choices when it has them (400)."""
    opciones = [str(clave) for clave, _etiqueta in modelo._meta.get_field(campo).choices or ()]
    if opciones and valor not in opciones:
        mensaje = _("%(valor)s: una de %(opciones)s.") % {
            "valor": repr(valor),
            "opciones": ", ".join(opciones),
        }
        raise ValidationError({campo: [mensaje]})
    return valor


def _variantes(telefono: str) -> set[str]:
    try:
        return variantes(normalizar(telefono))
    except TelefonoInvalido as exc:
        raise ValidationError({"telefono": [str(exc)]}, code="telefono_invalido") from exc


# --- conversations ------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        parameters=_parametros(
            parametro("estado", "bot, agente o cerrada."),
            parametro("cuenta", "Alias."),
            _TELEFONO,
        )
    )
)
class ConversacionViewSet(BaseAPI, viewsets.ReadOnlyModelViewSet):
    """Conversations (read-only; ``?estado=``, ``cuenta``, ``telefono``), their messages,
    and ``responder/``: a reply in the thread, as the admin's reply box sends it."""

    serializer_class = s.ConversacionSerializer
    queryset = Conversacion.objects.all()
    pagination_class = Paginacion
    permisos_por_accion = {"responder": "change"}

    def get_queryset(self):
        conversaciones = Conversacion.objects.all()
        params = self.request.query_params
        if telefono := params.get("telefono"):
            conversaciones = conversaciones.filter(telefono__in=_variantes(telefono))
        for campo in ("estado", "cuenta"):
            if campo in params:
                conversaciones = conversaciones.filter(
                    **{campo: _opcion(Conversacion, campo, params[campo])}
                )
        return conversaciones

    @extend_schema(responses=s.MensajeSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=s.MensajeSerializer)
    def mensajes(self, request, pk=None):
        conversacion = self.get_object()
        mensajes = Mensaje.objects.filter(conversacion=conversacion)
        pagina = self.paginate_queryset(mensajes)
        return self.get_paginated_response(s.MensajeSerializer(pagina, many=True).data)

    @extend_schema(request=s.RespuestaSerializer, responses={201: s.EnvioSerializer})
    @action(detail=True, methods=["post"], serializer_class=s.RespuestaSerializer)
    def responder(self, request, pk=None):
        """Answer in the thread (needs changing conversations and adding envíos)."""
        conversacion = self.get_object()
        if not _puede_crear_envios(request):
            raise PermissionDenied(
                _("Responder es un envío nuevo: pide el permiso de añadir envíos.")
            )
        entrada = s.RespuestaSerializer(data=request.data)
        entrada.is_valid(raise_exception=True)
        datos = dict(entrada.validated_data)
        clave = datos.pop("clave", None)
        try:
            with transaction.atomic():
                envio = actions.contestar(
                    conversacion,
                    quien=request.user.get_username(),
                    clave=f"api:{conversacion.pk}:{clave}" if clave else None,
                    **datos,
                )
        except actions.VentanaCerrada as exc:
            raise Conflicto(str(exc), code="ventana_cerrada") from exc
        except (WhatsAppError, ValueError, ImproperlyConfigured) as exc:
            raise rechazo(exc) from exc
        nuevo = outbox.registrado_ahora(envio)
        if not nuevo and envio.telefono != conversacion.telefono:
            raise Conflicto(
                _("La clave %(clave)s ya es de un envío a otro teléfono: usa una clave nueva.")
                % {"clave": repr(clave)},
                code="clave_en_uso",
            )
        envio.refresh_from_db()
        codigo = status.HTTP_201_CREATED if nuevo else status.HTTP_200_OK
        return Response(s.EnvioSerializer(envio).data, status=codigo)


# --- figures ------------------------------------------------------------------------------


class EstadisticasView(BaseAPI, generics.GenericAPIView):
    """GET: envíos per day by estado and by tipo, totals, failure rate, top error codes.

    ``?dias=`` (30) counts back from now; ``?cuenta=`` one account.
    """

    queryset = EnvioWhatsApp.objects.none()
    serializer_class = s.EstadisticasSerializer
    pagination_class = None

    @extend_schema(
        parameters=_parametros(
            parametro("dias", "Días hacia atrás desde ahora (30; hasta 366).", tipo=int), _CUENTA
        )
    )
    def get(self, request):
        dias = _entero(request.query_params.get("dias"), "dias", 30, maximo=366)
        cuenta = request.query_params.get("cuenta") or None
        hasta = timezone.now()
        desde = hasta - timedelta(days=dias)
        fallos = reports.cola(cuenta=cuenta, ahora=hasta, ventana=hasta - desde)
        return Response(
            {
                "desde": desde,
                "hasta": hasta,
                "por_dia": {
                    por: [
                        {"dia": fila.dia, "valor": fila.valor, "envios": fila.cuantos}
                        for fila in reports.por_dia(desde, hasta, por=por, cuenta=cuenta)
                    ]
                    for por in ("estado", "tipo")
                },
                "por_estado": reports.totales(desde, hasta, por="estado", cuenta=cuenta),
                "por_tipo": reports.totales(desde, hasta, por="tipo", cuenta=cuenta),
                "terminados": fallos.terminados,
                "fallidos": fallos.fallidos,
                "tasa_exito": fallos.tasa_exito,
                "tasa_fallos": fallos.tasa_fallos,
                "umbral_fallos": get_settings().FAILURE_THRESHOLD,
                "errores_principales": [
                    error._asdict()
                    for error in reports.errores_principales(desde, hasta, cuenta=cuenta)
                ],
            }
        )


def esquema(request) -> HttpResponse:
    """The API's OpenAPI description, as committed beside the code (no generator needed)."""
    texto = files("whatsapp_notify.api").joinpath("openapi.yaml").read_bytes()
    return HttpResponse(texto, content_type="application/vnd.oai.openapi; charset=utf-8")


class CostosView(BaseAPI, generics.GenericAPIView):
    """GET: known costs per month of delivery, per currency (``costs.por_mes``).

    ``?meses=`` (12, the current one included), ``?por=tipo`` or ``cuenta``, ``?cuenta=``.
    """

    queryset = EnvioWhatsApp.objects.none()
    serializer_class = s.CostosSerializer
    pagination_class = None

    @extend_schema(
        parameters=_parametros(
            parametro("meses", "Meses, el actual incluido (12; hasta 60).", tipo=int),
            parametro("por", "tipo o cuenta.", opciones=["tipo", "cuenta"]),
            _CUENTA,
        )
    )
    def get(self, request):
        params = request.query_params
        meses = _entero(params.get("meses"), "meses", 12, maximo=60)
        por = params.get("por") or None
        if por not in (None, "tipo", "cuenta"):
            raise ValidationError({"por": [_("tipo o cuenta (o nada: por mes).")]})
        cuenta = params.get("cuenta") or None
        desde = timezone.localdate().replace(day=1)
        for _mes in range(meses - 1):
            desde = (desde - timedelta(days=1)).replace(day=1)
        envios = EnvioWhatsApp.objects.filter(cuenta=cuenta) if cuenta else None
        filas = costs.por_mes(envios, por=por, desde=desde)
        totales: dict = {}
        for fila in filas:
            totales[fila["moneda"]] = totales.get(fila["moneda"], 0) + fila["total"]
        datos = {"desde": desde, "por": por, "cuenta": cuenta, "filas": filas, "totales": totales}
        return Response(s.CostosSerializer(datos).data)


class SaludView(BaseAPI, generics.GenericAPIView):
    """GET: the health checks with their details; 503 when one failed (``comprobar_salud``).

    The plain ``whatsapp/salud/`` is the load balancer's probe; this one answers the API's
    users with everything (``?solo=`` as there).
    """

    queryset = EnvioWhatsApp.objects.none()
    serializer_class = s.SaludSerializer
    pagination_class = None

    @extend_schema(
        responses={200: s.SaludSerializer, 503: s.SaludSerializer},
        parameters=_parametros(
            parametro(
                "solo",
                "Sólo estas comprobaciones, separadas por comas (base_de_datos, "
                "broker, cuentas, cola, webhooks).",
            )
        ),
    )
    def get(self, request):
        solo = request.query_params.get("solo")
        try:
            resultado = comprobar_salud(solo.split(",") if solo else None)
        except ValueError as exc:
            raise ValidationError({"solo": [str(exc)]}) from exc
        codigo = status.HTTP_200_OK if resultado.sana else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(resultado.as_dict(detalle=True), status=codigo)
