"""How envíos, messages, conversations and consents read and are written over HTTP.

A request carries the Python API's parameter names (``telefono``, ``plantilla``,
``variables``, ``clave``…); :class:`NuevoEnvioSerializer` checks their shape and
:mod:`.views` hands them to the same ``enviar_*`` function the ERP would call, so the
validation and the ``omitido`` answers are the Python API's own.
"""

from __future__ import annotations

import base64
import binascii

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import serializers

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
from .schema import extend_schema_field

#: What ``clase`` creates, and the fields each one takes besides the common ones.
CAMPOS_POR_CLASE: dict[str, frozenset[str]] = {
    ClaseEnvio.PLANTILLA: frozenset(
        {"plantilla", "variables", "idioma", "documento", "nombre_documento", "imagen",
         "video", "encabezado", "botones"}
    ),
    ClaseEnvio.TEXTO: frozenset({"texto"}),
    ClaseEnvio.DOCUMENTO: frozenset({"documento", "nombre_documento", "caption"}),
    ClaseEnvio.IMAGEN: frozenset({"imagen", "nombre_documento", "caption"}),
    ClaseEnvio.BOTONES: frozenset(
        {"texto", "botones", "encabezado", "pie", "imagen", "video", "documento",
         "nombre_documento"}
    ),
    ClaseEnvio.LISTA: frozenset({"texto", "boton", "secciones", "encabezado", "pie"}),
    ClaseEnvio.UBICACION: frozenset({"latitud", "longitud", "nombre_lugar", "direccion"}),
    ClaseEnvio.REACCION: frozenset({"emoji"}),
}  # fmt: skip
#: The largest id and provider code a column holds (64 and 32 bits).
MAX_ID = 2**63 - 1
MAX_CODIGO = 2**31 - 1
#: The clases the API creates, and the estados ``cola/reintentar/`` selects.
CLASES_NUEVAS = [(c, c) for c in ClaseEnvio.values if c in CAMPOS_POR_CLASE]
REINTENTABLES = [
    (e, e)
    for e in (EstadoEnvio.FALLIDO, EstadoEnvio.INCIERTO, EstadoEnvio.CANCELADO, EstadoEnvio.OMITIDO)
]
#: Fields every clase takes (``programado_para`` and ``categoria`` but for reactions).
COMUNES = frozenset(
    {"clase", "telefono", "referencia_tipo", "referencia_id", "tipo", "clave", "nombre",
     "programado_para", "cuenta", "region", "categoria", "expira_en", "responde_a"}
)  # fmt: skip
#: What each clase must have.
OBLIGATORIOS: dict[str, tuple[str, ...]] = {
    ClaseEnvio.PLANTILLA: ("plantilla",),
    ClaseEnvio.TEXTO: ("texto",),
    ClaseEnvio.DOCUMENTO: ("documento",),
    ClaseEnvio.IMAGEN: ("imagen",),
    ClaseEnvio.BOTONES: ("texto", "botones"),
    ClaseEnvio.LISTA: ("texto", "boton", "secciones"),
    ClaseEnvio.UBICACION: ("latitud", "longitud"),
    ClaseEnvio.REACCION: ("emoji", "responde_a"),
}


class Estricto(serializers.Serializer):
    """A request serializer that refuses the fields it does not have (a typo such as
    ``variabels`` is a 400, never a send without variables)."""

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        datos = self.initial_data
        if hasattr(datos, "keys"):
            desconocidos = sorted(set(datos.keys()) - set(self.fields))
            if desconocidos:
                raise serializers.ValidationError(
                    {
                        campo: serializers.ErrorDetail(
                            _("Campo desconocido."), code="campo_desconocido"
                        )
                        for campo in desconocidos
                    }
                )
        return attrs


#: clave prefixes the app writes its own envíos under (replies, copies, the admin's box):
#: a client's clave may not start with one, or it could take the place of one of them.
CLAVES_RESERVADAS = ("api:", "copia:", "admin:", "respuesta:")
#: What a reaction does not take (it goes at once, and has no category of its own).
NO_EN_REACCION = frozenset({"programado_para", "categoria"})


@extend_schema_field(
    {
        "oneOf": [{"type": "string", "format": "binary"}, {"type": "string", "format": "byte"}],
        "description": "El archivo subido (multipart) o su contenido en base64 (JSON).",
    }
)
class ArchivoField(serializers.FileField):
    """A file as an upload (multipart) or as base64 text (JSON); bytes for the outbox."""

    default_error_messages = {
        "invalido": "Un archivo subido (multipart) o su contenido en base64.",
        "vacio": "El archivo está vacío.",
    }

    def to_internal_value(self, data) -> bytes:
        if hasattr(data, "read"):
            contenido = data.read()
        elif isinstance(data, str):
            try:
                contenido = base64.b64decode(data.split(",", 1)[-1], validate=True)
            except (binascii.Error, ValueError):
                self.fail("invalido")
        else:
            self.fail("invalido")
        if not contenido:
            self.fail("vacio")
        return contenido

    def to_representation(self, value):  # pragma: no cover - write-only
        return None

    def __init__(self, **kwargs):
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("help_text", "El archivo subido (multipart) o en base64 (JSON).")
        super().__init__(**kwargs)


class JSONListaODict(serializers.JSONField):
    """``variables``: a list for ``{{1}}..{{n}}`` or an object for named parameters."""

    def to_internal_value(self, data):
        valor = super().to_internal_value(data)
        if not isinstance(valor, list | dict):
            raise serializers.ValidationError(
                _("Una lista (parámetros {{1}}..{{n}}) o un objeto (parámetros con nombre)."),
                code="variables_invalidas",
            )
        return valor


class NuevoEnvioSerializer(Estricto):
    """The request to create an envío; ``clase`` says which ``enviar_*`` it is."""

    clase = serializers.ChoiceField(choices=CLASES_NUEVAS, default=ClaseEnvio.PLANTILLA)
    telefono = serializers.CharField(max_length=64, trim_whitespace=True)
    plantilla = serializers.CharField(required=False, max_length=512)
    variables = JSONListaODict(required=False)
    idioma = serializers.CharField(required=False, max_length=15)
    texto = serializers.CharField(required=False, trim_whitespace=False)
    caption = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    documento = ArchivoField(required=False)
    imagen = ArchivoField(required=False)
    video = ArchivoField(required=False)
    nombre_documento = serializers.CharField(required=False, max_length=255)
    encabezado = serializers.CharField(required=False, allow_blank=True)
    pie = serializers.CharField(required=False, allow_blank=True)
    botones = serializers.JSONField(
        required=False,
        help_text="botones: [[id, título], …] o títulos; plantilla: "
        '[{"url": "sufijo"} | {"payload": "…"} | null, …]',
    )
    boton = serializers.CharField(required=False)
    secciones = serializers.JSONField(
        required=False, help_text='{"Sección": [[id, título, descripción?], …], …}'
    )
    latitud = serializers.FloatField(required=False, min_value=-90, max_value=90)
    longitud = serializers.FloatField(required=False, min_value=-180, max_value=180)
    nombre_lugar = serializers.CharField(required=False, allow_blank=True)
    direccion = serializers.CharField(required=False, allow_blank=True)
    emoji = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    responde_a = serializers.CharField(
        required=False, max_length=128, help_text="wamid del mensaje del cliente que contesta"
    )
    referencia_tipo = serializers.CharField(
        required=False, help_text='El modelo del objeto del ERP: "app_label.modelo".'
    )
    referencia_id = serializers.CharField(required=False, max_length=64)
    tipo = serializers.SlugField(required=False, allow_blank=True, max_length=64)
    clave = serializers.CharField(
        required=False,
        max_length=255,
        help_text="Clave de idempotencia: la misma clave nunca produce un segundo envío.",
    )
    nombre = serializers.CharField(required=False, max_length=200)
    programado_para = serializers.DateTimeField(required=False)
    cuenta = serializers.CharField(required=False, max_length=64)
    region = serializers.CharField(required=False, max_length=2, min_length=2)
    categoria = serializers.ChoiceField(choices=Categoria.choices, required=False)
    expira_en = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        clase = attrs["clase"]
        admitidos = COMUNES | CAMPOS_POR_CLASE[clase]
        if clase == ClaseEnvio.REACCION:
            admitidos -= NO_EN_REACCION
        ajenos = sorted(set(self.initial_data) - admitidos - {"clase"})
        errores = {
            campo: serializers.ErrorDetail(
                _("No aplica a clase=%(clase)s.") % {"clase": repr(clase)}, code="campo_no_aplica"
            )
            for campo in ajenos
            if campo in self.fields
        }
        errores.update(
            {
                campo: serializers.ErrorDetail(
                    _("Obligatorio con clase=%(clase)s.") % {"clase": repr(clase)},
                    code="obligatorio",
                )
                for campo in OBLIGATORIOS[clase]
                if campo not in attrs
            }
        )
        if ("referencia_tipo" in attrs) != ("referencia_id" in attrs):
            errores["referencia_id"] = serializers.ErrorDetail(
                _("referencia_tipo y referencia_id van juntos."), code="referencia_incompleta"
            )
        if attrs.get("clave", "").startswith(CLAVES_RESERVADAS):
            errores["clave"] = serializers.ErrorDetail(
                _("Las claves que empiezan por %(prefijos)s son de la app.")
                % {"prefijos": ", ".join(CLAVES_RESERVADAS)},
                code="clave_reservada",
            )
        for campo in ("documento", "imagen", "video"):
            # An upload names itself: its file name is the one the customer sees.
            subido = self.initial_data.get(campo)
            if campo in attrs and "nombre_documento" not in attrs and hasattr(subido, "name"):
                attrs["nombre_documento"] = subido.name[:255]
        if errores:
            raise serializers.ValidationError(errores)
        if "referencia_tipo" in attrs:
            attrs["referencia"] = objeto_referido(
                attrs.pop("referencia_tipo"), attrs.pop("referencia_id")
            )
        return attrs


def objeto_referido(tipo: str, pk: str):
    """The ERP object ``"app_label.modelo"`` + ``pk`` names; a 400 when there is none."""
    modelo = modelo_referido(tipo)
    try:
        return modelo._base_manager.get(pk=pk)
    except (ObjectDoesNotExist, DjangoValidationError, ValueError, TypeError, OverflowError) as exc:
        raise serializers.ValidationError(
            {
                "referencia_id": [
                    serializers.ErrorDetail(
                        _("No existe %(tipo)s con id %(id)s.") % {"tipo": tipo, "id": repr(pk)},
                        code="referencia_inexistente",
                    )
                ]
            }
        ) from exc


def modelo_referido(tipo: str | None):
    """The model class ``"app_label.modelo"`` names (installed today); a 400 otherwise."""
    app_label, _punto, nombre = (tipo or "").partition(".")
    content_type = ContentType.objects.filter(app_label=app_label, model=nombre.lower()).first()
    modelo = content_type.model_class() if content_type is not None else None
    if modelo is None:
        raise serializers.ValidationError(
            {
                "referencia_tipo": [
                    serializers.ErrorDetail(
                        _("%(tipo)s: un modelo instalado, como 'taller.ordentrabajo'.")
                        % {"tipo": repr(tipo)},
                        code="referencia_tipo_invalida",
                    )
                ]
            }
        )
    return modelo


class Lectura(serializers.ModelSerializer):
    """A read-only view of a model whose fields say, in the OpenAPI description, what they
    really hold: a text or choice column that may be blank admits ``""``.

    (DRF's ``read_only_fields`` drops ``allow_blank``, so the fields are made read-only
    here instead, keeping it.)
    """

    def build_field(self, field_name, info, model_class, nested_depth):
        clase, kwargs = super().build_field(field_name, info, model_class, nested_depth)
        columna = info.fields.get(field_name)
        if clase is serializers.SlugField:
            clase = serializers.CharField  # a stored slug may be blank; no pattern to promise
            kwargs.pop("allow_unicode", None)
        # Bounds are for input; a column's depend on the database, and the description must
        # not (it is written once, whatever database generates it).
        for innecesario in ("validators", "required", "queryset", "min_value", "max_value"):
            kwargs.pop(innecesario, None)
        kwargs["read_only"] = True
        if (
            columna is not None
            and columna.blank
            and issubclass(clase, serializers.CharField | serializers.ChoiceField)
        ):
            kwargs["allow_blank"] = True
        return clase, kwargs


class ReferenciaSerializer(serializers.Serializer):
    """The ERP object an envío points at: ``{"tipo": "app_label.modelo", "id": "42"}``."""

    tipo = serializers.CharField()
    id = serializers.CharField()

    def to_representation(self, envio):
        if envio.content_type_id is None:
            return None
        content_type = ContentType.objects.get_for_id(envio.content_type_id)
        return {"tipo": f"{content_type.app_label}.{content_type.model}", "id": envio.object_id}


class ErrorEnvioSerializer(serializers.Serializer):
    """Why an envío failed: the provider's code, its title and detail, the readable cause."""

    codigo = serializers.IntegerField(allow_null=True)
    titulo = serializers.CharField()
    detalle = serializers.CharField()
    causa = serializers.CharField()

    def to_representation(self, envio):
        if envio.error_codigo is None and not envio.error_detalle:
            return None
        # titulo and detalle: the provider's words as it sent them (evidence); causa: the
        # explanation, in the reader's language (an older row's stored text as it is).
        return {
            "codigo": envio.error_codigo,
            "titulo": envio.error_titulo,
            "detalle": envio.error_detalle,
            "causa": envio.error_legible(),
        }


class EnvioSerializer(Lectura):
    """An envío as the list shows it: its id, estado, motivo and its model's fields."""

    estado_display = serializers.CharField(source="get_estado_display", read_only=True)
    motivo_display = serializers.CharField(source="get_motivo_display", read_only=True)
    referencia = ReferenciaSerializer(source="*", read_only=True, allow_null=True)
    error = ErrorEnvioSerializer(source="*", read_only=True, allow_null=True)

    class Meta:
        model = EnvioWhatsApp
        fields = [
            "id", "estado", "estado_display", "motivo", "motivo_display", "clase", "tipo",
            "cuenta", "categoria", "telefono", "wa_id", "nombre", "plantilla", "idioma",
            "variables", "texto", "interactivo", "responde_a", "nombre_documento", "clave",
            "referencia", "intentos", "proximo_intento", "wamid", "error", "duplicado",
            "facturable", "precio_modelo", "precio_tipo", "precio_categoria", "costo", "moneda",
            "creado_en", "programado_para", "expira_en", "enviado_en", "entregado_en",
            "leido_en", "fallido_en", "cancelado_en", "actualizado_en",
        ]  # fmt: skip


#: The estado each timestamp of an envío records, in the order an envío goes through them.
MOMENTOS = (
    ("creado_en", "registrado"),
    ("despachado_en", "encolado"),
    ("enviado_en", EstadoEnvio.ENVIADO),
    ("entregado_en", EstadoEnvio.ENTREGADO),
    ("leido_en", EstadoEnvio.LEIDO),
    ("fallido_en", EstadoEnvio.FALLIDO),
    ("cancelado_en", EstadoEnvio.CANCELADO),
)


class MensajeSerializer(Lectura):
    class Meta:
        model = Mensaje
        fields = [
            "id", "direccion", "cuenta", "telefono", "wa_id", "nombre", "wamid", "tipo",
            "texto", "contenido", "contexto_wamid", "respuesta_id", "media_mime",
            "media_nombre", "descarga", "envio", "conversacion", "manejo", "fecha",
        ]  # fmt: skip


class EnvioDetalleSerializer(EnvioSerializer):
    """An envío with its timeline (one entry per status it went through) and messages."""

    estados = serializers.SerializerMethodField()
    mensajes = MensajeSerializer(many=True, read_only=True)

    class Meta(EnvioSerializer.Meta):
        fields = [*EnvioSerializer.Meta.fields, "estados", "mensajes"]

    def get_estados(self, envio) -> list[dict]:
        fecha = serializers.DateTimeField()
        return [
            {"estado": estado, "en": fecha.to_representation(getattr(envio, campo))}
            for campo, estado in MOMENTOS
            if getattr(envio, campo) is not None
        ]


class ConversacionSerializer(Lectura):
    estado_display = serializers.CharField(source="get_estado_display", read_only=True)
    ventana_abierta = serializers.SerializerMethodField()

    class Meta:
        model = Conversacion
        fields = [
            "id", "cuenta", "telefono", "wa_id", "nombre", "estado", "estado_display",
            "contexto", "ventana_hasta", "ventana_abierta", "ultimo_mensaje_en",
            "ultimo_entrante_en", "no_leidos", "agente", "tomada_en", "iniciada_en",
            "actualizada_en",
        ]  # fmt: skip

    def get_ventana_abierta(self, conversacion) -> bool:
        return conversacion.ventana_abierta()


class RespuestaSerializer(Estricto):
    """A reply to a conversation: free text inside the window, a template at any time."""

    texto = serializers.CharField(required=False, trim_whitespace=True)
    plantilla = serializers.CharField(required=False, max_length=512)
    variables = JSONListaODict(required=False)
    idioma = serializers.CharField(required=False, max_length=15)
    clave = serializers.CharField(required=False, max_length=200)

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        if ("texto" in attrs) == ("plantilla" in attrs):
            raise serializers.ValidationError(
                _("Un texto o una plantilla (no los dos)."), code="texto_o_plantilla"
            )
        return attrs


class ConsentimientoSerializer(Lectura):
    estado_display = serializers.CharField(source="get_estado_display", read_only=True)

    class Meta:
        model = ConsentimientoCliente
        fields = [
            "id", "telefono", "categoria", "cuenta", "estado", "estado_display", "origen",
            "evidencia", "otorgado_en", "revocado_en", "actualizado_en",
        ]  # fmt: skip


class CambioConsentimientoSerializer(Lectura):
    class Meta:
        model = CambioConsentimiento
        fields = [
            "id", "telefono", "categoria", "cuenta", "anterior", "estado", "origen",
            "evidencia", "fecha", "registrado_en",
        ]  # fmt: skip


class NuevoConsentimientoSerializer(Estricto):
    """Grant or revoke: ``accion`` with the arguments of ``otorgar/revocar_consentimiento``."""

    accion = serializers.ChoiceField(choices=[("otorgar", "otorgar"), ("revocar", "revocar")])
    telefono = serializers.CharField(max_length=64)
    categoria = serializers.ChoiceField(choices=Categoria.choices, required=False)
    cuenta = serializers.CharField(required=False, allow_blank=True, max_length=64)
    origen = serializers.ChoiceField(
        choices=ConsentimientoCliente._meta.get_field("origen").choices, default="erp"
    )
    evidencia = serializers.CharField(required=False, allow_blank=True, default="")
    region = serializers.CharField(required=False, max_length=2, min_length=2)
    fecha = serializers.DateTimeField(required=False)


class ReintentoSerializer(Estricto):
    """Which envíos ``cola/reintentar/`` sends again, and whether only to count them."""

    estado = serializers.MultipleChoiceField(
        choices=REINTENTABLES, default=[EstadoEnvio.FALLIDO], allow_empty=False
    )
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        allow_empty=False,
        max_length=1000,
    )
    tipo = serializers.CharField(required=False)
    cuenta = serializers.CharField(required=False)
    error_codigo = serializers.IntegerField(
        required=False, min_value=-MAX_CODIGO, max_value=MAX_CODIGO
    )
    desde = serializers.DateTimeField(required=False)
    hasta = serializers.DateTimeField(required=False)
    limite = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    dry_run = serializers.BooleanField(default=False)


class ColaSerializer(serializers.Serializer):
    """``cola/``: what waits, since when, and how the window's envíos went."""

    pendientes = serializers.IntegerField()
    en_reintento = serializers.IntegerField()
    programados = serializers.IntegerField()
    enviando = serializers.IntegerField()
    inciertos = serializers.IntegerField()
    mas_antiguo = serializers.DateTimeField(allow_null=True)
    espera_segundos = serializers.FloatField(allow_null=True)
    desde = serializers.DateTimeField()
    hasta = serializers.DateTimeField()
    terminados = serializers.IntegerField()
    fallidos = serializers.IntegerField()
    tasa_exito = serializers.FloatField(allow_null=True)
    tasa_fallos = serializers.FloatField(allow_null=True)
    intentos_promedio = serializers.FloatField(allow_null=True)
    cuentas_pausadas = serializers.ListField(child=serializers.CharField())
    fallidos_recientes = EnvioSerializer(many=True)


class ResultadoReintentoSerializer(serializers.Serializer):
    """``cola/reintentar/``'s answer; with ``dry_run`` only the counts and ids."""

    dry_run = serializers.BooleanField()
    seleccionados = serializers.IntegerField()
    se_reintentarian = serializers.IntegerField(required=False)
    ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    reenviados = serializers.IntegerField(required=False)
    omitidos = serializers.DictField(child=serializers.IntegerField(), required=False)
    quedan = serializers.IntegerField(required=False)


class ConteoSerializer(serializers.Serializer):
    dia = serializers.DateField()
    valor = serializers.CharField()
    envios = serializers.IntegerField()


class PorDiaSerializer(serializers.Serializer):
    estado = ConteoSerializer(many=True)
    tipo = ConteoSerializer(many=True)


class ErrorFrecuenteSerializer(serializers.Serializer):
    cuenta = serializers.CharField()
    codigo = serializers.IntegerField(allow_null=True)
    cuantos = serializers.IntegerField()
    causa = serializers.CharField()


class EstadisticasSerializer(serializers.Serializer):
    """``estadisticas/``: per day by estado and tipo, totals, failure rate, top errors."""

    desde = serializers.DateTimeField()
    hasta = serializers.DateTimeField()
    por_dia = PorDiaSerializer()
    por_estado = serializers.DictField(child=serializers.IntegerField())
    por_tipo = serializers.DictField(child=serializers.IntegerField())
    terminados = serializers.IntegerField()
    fallidos = serializers.IntegerField()
    tasa_exito = serializers.FloatField(allow_null=True)
    tasa_fallos = serializers.FloatField(allow_null=True)
    umbral_fallos = serializers.FloatField()
    errores_principales = ErrorFrecuenteSerializer(many=True)


class EstadoConsentimientoSerializer(serializers.Serializer):
    telefono = serializers.CharField()
    categoria = serializers.CharField()
    cuenta = serializers.CharField(allow_null=True)
    estado = serializers.CharField(allow_null=True)


class ReenviarAvisoSerializer(Estricto):
    referencia_tipo = serializers.CharField(help_text='"app_label.modelo" del objeto del ERP')
    referencia_id = serializers.CharField(max_length=64)
    tipo = serializers.SlugField(max_length=64)
    copia_de = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="El id del envío entregado del que se quiere otra copia.",
    )


class EstadoWhatsAppSerializer(serializers.Serializer):
    """One notice's status, as ``estado_whatsapp`` gives it (``EstadoWhatsApp``)."""

    tipo = serializers.CharField()
    envio_id = serializers.IntegerField()
    estado = serializers.CharField()
    estado_texto = serializers.CharField()
    enviado = serializers.BooleanField()
    entregado = serializers.BooleanField()
    leido = serializers.BooleanField()
    en_curso = serializers.BooleanField()
    reenviable = serializers.BooleanField()
    motivo = serializers.CharField()
    motivo_texto = serializers.CharField()
    error_codigo = serializers.IntegerField(allow_null=True)
    error_texto = serializers.CharField()
    intentos = serializers.IntegerField()
    creado_en = serializers.DateTimeField()
    programado_para = serializers.DateTimeField(allow_null=True)
    proximo_intento = serializers.DateTimeField(allow_null=True)
    enviado_en = serializers.DateTimeField(allow_null=True)
    entregado_en = serializers.DateTimeField(allow_null=True)
    leido_en = serializers.DateTimeField(allow_null=True)
    fallido_en = serializers.DateTimeField(allow_null=True)
    cancelado_en = serializers.DateTimeField(allow_null=True)
    resumen = serializers.CharField()


class AvisosSerializer(serializers.Serializer):
    referencia = ReferenciaSerializer()
    avisos = serializers.DictField(child=EstadoWhatsAppSerializer())


class ResultadoAvisoSerializer(serializers.Serializer):
    """What ``avisos/reenviar/`` did (``ReenvioAviso``), with DRF's ``detail`` and ``code``."""

    resultado = serializers.CharField()
    reenviado = serializers.BooleanField()
    envio_id = serializers.IntegerField(allow_null=True)
    motivo = serializers.CharField()
    mensaje = serializers.CharField()
    estado = EstadoWhatsAppSerializer(allow_null=True)
    detail = serializers.CharField()
    code = serializers.CharField()


class CostoFilaSerializer(serializers.Serializer):
    mes = serializers.DateField()
    grupo = serializers.CharField(allow_null=True)
    moneda = serializers.CharField()
    total = serializers.DecimalField(max_digits=16, decimal_places=6)
    facturables = serializers.IntegerField()


class CostosSerializer(serializers.Serializer):
    """``costos/``: known costs per month of delivery (and ``tipo`` or ``cuenta``), per
    currency, and the totals of the period per currency."""

    desde = serializers.DateField()
    por = serializers.CharField(allow_null=True)
    cuenta = serializers.CharField(allow_null=True)
    filas = CostoFilaSerializer(many=True)
    totales = serializers.DictField(child=serializers.DecimalField(max_digits=16, decimal_places=6))


class ComprobacionSerializer(serializers.Serializer):
    estado = serializers.CharField()
    motivo = serializers.CharField(required=False)
    duracion_ms = serializers.FloatField(required=False)
    detalle = serializers.DictField(required=False)


class SaludSerializer(serializers.Serializer):
    """``salud/``: the health checks with their details (503 when one failed)."""

    estado = serializers.CharField()
    comprobaciones = serializers.DictField(child=ComprobacionSerializer())
