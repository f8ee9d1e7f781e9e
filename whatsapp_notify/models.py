"""The outbox (``EnvioWhatsApp``), the conversation (``Mensaje``) and consent.

``EnvioWhatsApp`` is the truth about a send: the Celery task carries only its id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q, signals
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .error_text import explicar
from .phones import mask
from .salvaguarda import al_fallar
from .sentencias import preparadas


class EstadoEnvio(models.TextChoices):
    PROGRAMADO = "programado", _("Programado")
    PENDIENTE = "pendiente", _("Pendiente")
    ENVIANDO = "enviando", _("Enviando")
    INCIERTO = "incierto", _("Sin confirmar")
    ENVIADO = "enviado", _("Enviado")
    ENTREGADO = "entregado", _("Entregado")
    LEIDO = "leido", _("Leído")
    FALLIDO = "fallido", _("Fallido")
    OMITIDO = "omitido", _("Omitido")
    CANCELADO = "cancelado", _("Cancelado")


class MotivoOmision(models.TextChoices):
    DESHABILITADO = "deshabilitado", _("WhatsApp deshabilitado")
    SIN_TELEFONO = "sin_telefono", _("Sin teléfono")
    TELEFONO_INVALIDO = "telefono_invalido", _("Teléfono inválido")
    SIN_CONSENTIMIENTO = "sin_consentimiento", _("Sin consentimiento")
    FUERA_DE_VENTANA = "fuera_de_ventana", _("Fuera de la ventana de 24 horas")
    ERROR_DISPARADOR = "error_disparador", _("Error al preparar el disparador")
    POLITICA = "politica", _("No permitido por la política del ERP")
    PLANTILLA_NO_APROBADA = "plantilla_no_aprobada", _("Plantilla no aprobada")
    BAJA = "baja", _("El cliente pidió la baja")
    VENCIDO = "vencido", _("Pasó su momento")


class Categoria(models.TextChoices):
    """What a send is, for consent: a stop of marketing never stops utility notices."""

    UTILITY = "utility", _("Servicio (utility)")
    MARKETING = "marketing", _("Marketing")


class ClaseEnvio(models.TextChoices):
    PLANTILLA = "plantilla", _("Plantilla")
    DOCUMENTO = "documento", _("Documento")
    IMAGEN = "imagen", _("Imagen")
    TEXTO = "texto", _("Texto")
    BOTONES = "botones", _("Botones")
    LISTA = "lista", _("Lista")
    UBICACION = "ubicacion", _("Ubicación")
    REACCION = "reaccion", _("Reacción")


class EnvioQuerySet(models.QuerySet):
    def por_clave(self, clave: str | None) -> EnvioWhatsApp | None:
        """The envío recorded under ``clave`` (unique), or None."""
        return self.filter(clave=clave).order_by().first() if clave else None

    def insertar_nuevo(
        self, envio: EnvioWhatsApp, *, lectura: LecturaAlInsertar | None = None
    ) -> bool:
        """INSERT ``envio`` unless its clave is taken: True when inserted (``pk`` set).

        One statement, ``INSERT … ON CONFLICT (clave) DO NOTHING RETURNING id``, on
        PostgreSQL and SQLite: a clave another transaction recorded first is no error.
        ``pre_save`` and ``post_save`` (``created=True``, only when inserted) are sent as
        ``Model.save()`` sends them, for the host's audit receivers. Elsewhere, the ORM's
        INSERT in a savepoint, its ``IntegrityError`` turned into False.

        ``lectura``: a scalar subquery the same statement returns beside the id; its
        ``aplicar`` gets the value before ``post_save`` and the fields it changes are written
        with one ``UPDATE`` (``pre_save`` saw the envío before them). Elsewhere the subquery
        runs first, in a ``SELECT`` of its own, and the INSERT writes what it decided.
        """
        from django.db import IntegrityError, connections, router, transaction

        alias = self._db or router.db_for_write(self.model, instance=envio)
        conexion = connections[alias]
        if conexion.vendor not in ("postgresql", "sqlite") or not (
            conexion.features.can_return_columns_from_insert
        ):
            if lectura is not None:
                with conexion.cursor() as cursor:
                    cursor.execute(f"SELECT {lectura.sql}", lectura.parametros)
                    lectura.aplicar(envio, cursor.fetchone()[0])
            try:
                with transaction.atomic(using=alias):
                    envio.save(using=alias, force_insert=True)
            except IntegrityError:
                if not envio.clave or not self.using(alias).filter(clave=envio.clave).exists():
                    raise
                envio.pk, envio._state.db = None, alias
                return False
            return True
        # Model.save()'s signals, as it would send them (receivers may still change the row).
        clase = envio.__class__
        signals.pre_save.send(
            sender=clase, instance=envio, raw=False, using=alias, update_fields=None
        )
        preparadores, insercion = _insert_sin_conflicto(self.model, conexion)
        sql, valores = insercion.para([preparar(envio) for preparar in preparadores])
        if lectura is not None:
            sql, valores = f"{sql}, {lectura.sql}", [*valores, *lectura.parametros]
        with conexion.cursor() as cursor:
            fila = preparadas.insertar(conexion, cursor, sql, valores)
        envio._state.db = alias  # where it is, or where the envío that won its clave is
        if fila is None:
            return False
        envio.pk, envio._state.adding = fila[0], False
        # Inside a disparador's block that took no savepoint (``salvaguarda``): its failure
        # deletes the row again, as a rollback would.
        al_fallar(conexion, insercion.borrado, [envio.pk])
        if lectura is not None and (cambiados := lectura.aplicar(envio, fila[1])):
            self.using(alias).filter(pk=envio.pk).update(
                **{campo: getattr(envio, campo) for campo in cambiados}
            )
        signals.post_save.send(
            sender=clase, instance=envio, created=True, update_fields=None, raw=False, using=alias
        )
        return True

    def debidos(self, ahora=None):
        """Envíos ready for a worker: pendiente and due (:func:`debido`)."""
        return self.filter(debido(ahora or timezone.now()))


class LecturaAlInsertar(NamedTuple):
    """What :meth:`EnvioQuerySet.insertar_nuevo` reads in the INSERT itself: a scalar subquery
    (SQL in parentheses, ``%s`` placeholders) with its parameters, and ``aplicar(envio,
    valor)``, which settles the unsaved envío by the value and returns the attnames it
    changed (none: nothing more is written)."""

    sql: str
    parametros: Sequence[Any]
    aplicar: Callable[[EnvioWhatsApp, Any], Sequence[str]]


def debido(ahora: datetime) -> Q:
    """An envío ready for a worker at ``ahora``: pendiente, with no retry waiting or with its
    retry's time come. A ``Q``, for filters and for aggregates' ``filter=`` alike."""
    return Q(estado=EstadoEnvio.PENDIENTE) & (
        Q(proximo_intento__isnull=True) | Q(proximo_intento__lte=ahora)
    )


def _insert_sin_conflicto(modelo, conexion) -> tuple[list[Callable], _Insercion]:
    """What ``insertar_nuevo`` runs, built once per model and connection: one function per
    column that gives its value from the instance (:func:`_preparador`) and the SQL."""
    clave = (modelo, conexion.alias)
    if clave not in _INSERTS:
        opts = modelo._meta
        campos = [campo for campo in opts.concrete_fields if campo is not opts.pk]
        nombre = conexion.ops.quote_name
        insercion = _Insercion(
            "INSERT INTO {} ({}) VALUES (".format(
                nombre(opts.db_table), ", ".join(nombre(campo.column) for campo in campos)
            ),
            ") ON CONFLICT ({}) DO NOTHING RETURNING {}".format(
                nombre(opts.get_field("clave").column), nombre(opts.pk.column)
            ),
            len(campos),
            f"DELETE FROM {nombre(opts.db_table)} WHERE {nombre(opts.pk.column)} = %s",
        )
        _INSERTS[clave] = ([_preparador(campo, conexion) for campo in campos], insercion)
    return _INSERTS[clave]


class _Insercion:
    """The INSERT's SQL with ``NULL`` written in for the columns that are None.

    The envío has over fifty columns, most of them empty when it is recorded. psycopg
    parses a statement again on every execution once it has more than fifty parameters;
    with the empty ones written as ``NULL`` it has about thirty and is parsed once per
    shape. The shapes are few (which optional fields a kind of send fills), and cached.
    """

    MAX_FORMAS = 256  # beyond this many shapes (never seen) the SQL is built each time

    def __init__(self, cabeza: str, cola: str, columnas: int, borrado: str) -> None:
        self.cabeza, self.cola, self.columnas = cabeza, cola, columnas
        self.borrado = borrado  # the row again, by its pk: how a disparador's block undoes it
        self.formas: dict[tuple[int, ...], str] = {}

    def para(self, valores: list) -> tuple[str, list]:
        """The SQL for ``valores`` (one per column, in order) and the parameters it takes."""
        nulos = tuple(i for i, valor in enumerate(valores) if valor is None)
        sql = self.formas.get(nulos)
        if sql is None:
            vacias = set(nulos)
            sql = "{}{}{}".format(
                self.cabeza,
                ", ".join("NULL" if i in vacias else "%s" for i in range(self.columnas)),
                self.cola,
            )
            if len(self.formas) < self.MAX_FORMAS:
                self.formas[nulos] = sql
        return sql, [valor for valor in valores if valor is not None]


_INSERTS: dict[tuple, tuple[list[Callable], _Insercion]] = {}


def _valores_iniciales(modelo) -> tuple[dict[str, Any], list[tuple[str, Callable]]]:
    """The defaults of ``modelo``'s concrete fields, by attname: the constant ones, and the
    callable ones to call per instance. Computed once per model."""
    if modelo not in _INICIALES:
        constantes: dict[str, Any] = {}
        llamables: list[tuple[str, Callable]] = []
        for campo in modelo._meta.concrete_fields:
            if campo.has_default() and callable(campo.default):
                llamables.append((campo.attname, campo.get_default))
            else:
                constantes[campo.attname] = campo.get_default()
        _INICIALES[modelo] = (constantes, llamables)
    return _INICIALES[modelo]


_INICIALES: dict[type, tuple[dict[str, Any], list[tuple[str, Callable]]]] = {}

# Fields of these exact classes store a value of these exact types as it is: their
# pre_save reads the attribute and their get_db_prep_save returns it unchanged. None is
# stored as it is by the first four, and by a DateTimeField that is not auto_now(_add).
_TAL_CUAL: dict[type, tuple[type, ...]] = {
    models.CharField: (str, type(None)),
    models.SlugField: (str, type(None)),
    models.TextField: (str, type(None)),
    models.BooleanField: (bool, type(None)),
    models.DateTimeField: (type(None),),
}


def _preparador(campo: models.Field, conexion) -> Callable:
    """The value ``campo`` stores for an instance being inserted, as ``Model.save()`` would
    compute it (``pre_save``, then ``get_db_prep_save``), and as cheaply as the field allows.

    A disparador inserts inside the ERP's save: running the whole preparation on each of
    some fifty columns, nearly all plain text or empty, cost more than the INSERT itself.
    """
    tipos = _TAL_CUAL.get(type(campo))
    if tipos is None or getattr(campo, "auto_now", False) or getattr(campo, "auto_now_add", False):
        return lambda obj: campo.get_db_prep_save(campo.pre_save(obj, True), conexion)
    attname = campo.attname

    def preparar(obj):
        valor = getattr(obj, attname)
        if type(valor) in tipos:
            return valor
        return campo.get_db_prep_save(campo.pre_save(obj, True), conexion)

    return preparar


class EnvioWhatsApp(models.Model):
    """One outbound notification to one recipient: the outbox row and its audit trail."""

    # Recipient
    telefono = models.CharField(
        _("teléfono"), max_length=20, blank=True, help_text=_("E.164 sin «+».")
    )
    telefono_original = models.CharField(
        _("teléfono original"), max_length=64, blank=True, help_text=_("Como lo dio el ERP.")
    )
    wa_id = models.CharField(_("ID de WhatsApp"), max_length=32, blank=True)
    nombre = models.CharField(_("nombre"), max_length=200, blank=True)

    # Why and for what
    # tipo and content_type lead an index of Meta.indexes each, which serves their lookups.
    tipo = models.SlugField(_("tipo"), max_length=64, blank=True, db_index=False)
    content_type = models.ForeignKey(
        ContentType,
        models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        verbose_name=_("tipo de referencia"),
    )
    object_id = models.CharField(_("id de referencia"), max_length=64, blank=True)
    referencia = GenericForeignKey("content_type", "object_id")
    # Unique through Meta.constraints (the same index, without the LIKE one of unique=True).
    clave = models.CharField(_("clave"), max_length=255, null=True, blank=True)
    cuenta = models.CharField(_("cuenta"), max_length=64, default="default")
    categoria = models.CharField(
        _("categoría"), max_length=16, choices=Categoria.choices, default=Categoria.UTILITY
    )

    # What to send
    clase = models.CharField(_("clase"), max_length=16, choices=ClaseEnvio.choices)
    plantilla = models.CharField(_("plantilla"), max_length=512, blank=True)
    idioma = models.CharField(_("idioma"), max_length=15, blank=True)
    variables = models.JSONField(_("variables"), default=list, blank=True)
    texto = models.TextField(
        _("texto"), blank=True, help_text=_("Texto, pie del documento o cuerpo del mensaje.")
    )
    interactivo = models.JSONField(
        _("interactivo"),
        default=dict,
        blank=True,
        help_text=_("Botones o filas de la lista, con su encabezado y pie."),
    )
    # The customer's message this envío answers (its wamid), quoted above it in the chat.
    responde_a = models.CharField(_("responde a"), max_length=128, blank=True)
    documento = models.FileField(
        _("documento"), upload_to="whatsapp_notify/documentos/%Y/%m/", blank=True
    )
    nombre_documento = models.CharField(_("nombre del documento"), max_length=255, blank=True)
    documento_mime = models.CharField(_("tipo MIME del documento"), max_length=127, blank=True)
    documento_sha256 = models.CharField(_("SHA-256 del documento"), max_length=64, blank=True)

    # State
    estado = models.CharField(
        _("estado"), max_length=16, choices=EstadoEnvio.choices, default=EstadoEnvio.PENDIENTE
    )
    motivo = models.CharField(_("motivo"), max_length=32, choices=MotivoOmision.choices, blank=True)
    intentos = models.PositiveSmallIntegerField(_("intentos"), default=0)
    proximo_intento = models.DateTimeField(_("próximo intento"), null=True, blank=True)
    wamid = models.CharField(
        _("ID del mensaje (wamid)"), max_length=128, null=True, blank=True
    )  # unique: Meta
    error_codigo = models.IntegerField(_("código de error"), null=True, blank=True)
    error_titulo = models.CharField(_("título del error"), max_length=255, blank=True)
    error_detalle = models.TextField(_("detalle del error"), blank=True)
    # A status webhook proved that a copy sent by an automatic re-send also reached the
    # customer: the other copies' wamids, in the order their statuses came.
    duplicado = models.BooleanField(_("duplicado"), default=False)
    wamids_duplicados = models.JSONField(
        _("IDs de mensaje duplicados (wamid)"), default=list, blank=True
    )

    # What the status webhooks report about billing and the conversation
    conversacion_id = models.CharField(_("id de conversación"), max_length=128, blank=True)
    conversacion_expira_en = models.DateTimeField(
        _("la conversación expira"), null=True, blank=True
    )
    conversacion_origen = models.CharField(
        _("origen de la conversación"), max_length=64, blank=True
    )
    facturable = models.BooleanField(_("facturable"), null=True, blank=True)
    precio_modelo = models.CharField(_("modelo de precio"), max_length=16, blank=True)
    precio_tipo = models.CharField(_("tipo de precio"), max_length=32, blank=True)
    precio_categoria = models.CharField(_("categoría de precio"), max_length=64, blank=True)
    # What it cost (costs.py), recorded once its delivery is known, at the rate then in
    # force: Meta's pricing times the rate table, or the price the provider reported.
    # None: unknown (not delivered yet, or no rate for its country and category).
    costo = models.DecimalField(_("costo"), max_digits=12, decimal_places=6, null=True, blank=True)
    moneda = models.CharField(_("moneda"), max_length=3, blank=True)

    # One timestamp per transition
    creado_en = models.DateTimeField(_("creado"), default=timezone.now, editable=False)
    programado_para = models.DateTimeField(_("programado para"), null=True, blank=True)
    expira_en = models.DateTimeField(
        _("caduca"), null=True, blank=True, help_text=_("Después de esta hora ya no se envía.")
    )
    despachado_en = models.DateTimeField(_("encolado"), null=True, blank=True)
    reclamado_en = models.DateTimeField(_("tomado por un worker"), null=True, blank=True)
    enviado_en = models.DateTimeField(_("enviado"), null=True, blank=True)
    confirmado_en = models.DateTimeField(
        _("primer estado recibido"), null=True, blank=True, help_text=_("Primer webhook de estado.")
    )
    entregado_en = models.DateTimeField(_("entregado"), null=True, blank=True)
    leido_en = models.DateTimeField(_("leído"), null=True, blank=True)
    fallido_en = models.DateTimeField(_("fallido"), null=True, blank=True)
    cancelado_en = models.DateTimeField(_("cancelado"), null=True, blank=True)
    actualizado_en = models.DateTimeField(_("actualizado"), auto_now=True)

    objects = EnvioQuerySet.as_manager()

    class Meta:
        verbose_name = _("envío de WhatsApp")
        verbose_name_plural = _("envíos de WhatsApp")
        ordering = ["-creado_en", "-pk"]
        indexes = [
            # The worker and Beat: due rows by state.
            models.Index(fields=["estado", "proximo_intento"], name="wn_envio_estado_prox"),
            # Scheduled sends coming due.
            models.Index(fields=["estado", "programado_para"], name="wn_envio_estado_prog"),
            # Admin: the default listing (newest first, date_hierarchy on creado_en).
            models.Index(fields=["-creado_en"], name="wn_envio_creado"),
            # Admin: recent envíos by tipo, and lookups by phone and referencia.
            models.Index(fields=["tipo", "-creado_en"], name="wn_envio_tipo_creado"),
            models.Index(fields=["telefono", "-creado_en"], name="wn_envio_tel_creado"),
            models.Index(fields=["content_type", "object_id"], name="wn_envio_referencia"),
            # Webhook lag: the account's sends still waiting for their first status.
            models.Index(fields=["cuenta", "enviado_en"], name="wn_envio_cuenta_enviado"),
            # The dashboard and the failure alert (outbound.reports, medir_fallos): per-day
            # counts, failures and sends in a period, answered from the index alone
            # (PostgreSQL's INCLUDE; elsewhere a plain index on the first column).
            models.Index(
                fields=["creado_en"],
                include=["estado", "tipo", "cuenta", "id"],
                name="wn_envio_panel_creado",
            ),
            models.Index(
                fields=["fallido_en"],
                include=["cuenta", "error_codigo", "intentos", "id"],
                condition=models.Q(estado="fallido"),
                name="wn_envio_fallido_en",
            ),
            models.Index(
                fields=["enviado_en"],
                include=["estado", "cuenta", "intentos", "duplicado", "id"],
                name="wn_envio_enviado_en",
            ),
            # Costs per month (costs.por_mes): envíos with a known cost, by delivery time.
            models.Index(
                fields=["entregado_en"],
                name="wn_envio_costo_entregado",
                condition=models.Q(costo__isnull=False),
            ),
        ]
        # Constraints rather than unique=True: on PostgreSQL that also builds a LIKE index
        # per column, which no query here uses and every INSERT pays for. clave is what
        # insertar_nuevo's ON CONFLICT names; a status finds its envío by wamid.
        constraints = [
            models.UniqueConstraint(fields=["clave"], name="wn_envio_clave_unica"),
            models.UniqueConstraint(fields=["wamid"], name="wn_envio_wamid_unico"),
        ]

    def __str__(self) -> str:
        que = self.plantilla or self.nombre_documento or self.clase
        return f"#{self.pk} {que} → {mask(self.telefono)} ({self.get_estado_display()})"

    def error_legible(self) -> str:
        """Why it failed (or waits), in the active language; ``""`` without an error."""
        return explicar(self)

    @classmethod
    def nuevo(cls, **campos: Any) -> EnvioWhatsApp:
        """An unsaved envío with its fields' defaults and ``campos`` (by attname), as
        ``EnvioWhatsApp(**campos)`` builds it.

        The outbox builds one inside the ERP's save (a disparador): the constructor walks
        some fifty fields for their defaults each time; here the constant ones are copied
        at once and only the callable ones (``timezone.now``, ``list``) are called. With a
        ``pre_init`` or ``post_init`` receiver on this model, the constructor runs, so the
        receiver sees it as always.
        """
        if signals.pre_init.has_listeners(cls) or signals.post_init.has_listeners(cls):
            return cls(**campos)
        constantes, llamables = _valores_iniciales(cls)
        envio = cls.__new__(cls)
        envio._state = models.base.ModelState()
        datos = envio.__dict__
        datos.update(constantes)
        for attname, por_omision in llamables:
            datos[attname] = por_omision()
        for attname, valor in campos.items():
            setattr(envio, attname, valor)
        return envio

    @property
    def terminado(self) -> bool:
        """True when nothing more will be attempted for this envío."""
        # Imported here: states reads EstadoEnvio from this module.
        from .states import TERMINALES

        return self.estado in TERMINALES


class Direccion(models.TextChoices):
    ENTRANTE = "entrante", _("Entrante")
    SALIENTE = "saliente", _("Saliente")


class Manejo(models.TextChoices):
    """Where an inbound message is with the reply handlers (``respuesta``)."""

    PENDIENTE = "pendiente", _("Pendiente")
    ATENDIDO = "atendido", _("Atendido")
    SIN_MANEJADOR = "sin_manejador", _("Sin manejador")
    AGENTE = "agente", _("Para el agente")
    ERROR = "error", _("Error del manejador")


class EstadoDescarga(models.TextChoices):
    PENDIENTE = "pendiente", _("Por descargar")
    DESCARGANDO = "descargando", _("Descargándose")
    DESCARGADA = "descargada", _("Descargada")
    OMITIDA = "omitida", _("No se guarda")
    FALLIDA = "fallida", _("Falló")


class Mensaje(models.Model):
    """One WhatsApp message of a conversation, ``entrante`` or ``saliente``."""

    direccion = models.CharField(_("dirección"), max_length=8, choices=Direccion.choices)
    cuenta = models.CharField(_("cuenta"), max_length=64, default="default")
    telefono = models.CharField(_("teléfono"), max_length=20, blank=True)
    wa_id = models.CharField(_("ID de WhatsApp"), max_length=32, blank=True)
    nombre = models.CharField(_("nombre"), max_length=200, blank=True)
    wamid = models.CharField(
        _("ID del mensaje (wamid)"), max_length=128, unique=True, null=True, blank=True
    )
    tipo = models.CharField(_("tipo"), max_length=32, default="text")
    texto = models.TextField(_("texto"), blank=True)
    contenido = models.JSONField(_("contenido"), default=dict, blank=True)
    contexto_wamid = models.CharField(_("responde a"), max_length=128, blank=True)
    respuesta_id = models.CharField(
        _("id de la respuesta"), max_length=256, blank=True, help_text=_("Botón, fila o payload.")
    )
    user_id = models.CharField(_("id de usuario (BSUID)"), max_length=160, blank=True)
    media_id = models.CharField(_("id de media"), max_length=128, blank=True)
    media_mime = models.CharField(_("tipo MIME"), max_length=127, blank=True)
    media_sha256 = models.CharField(_("SHA-256 de media"), max_length=128, blank=True)
    media_nombre = models.CharField(_("nombre del archivo"), max_length=255, blank=True)
    archivo = models.FileField(
        _("archivo descargado"), upload_to="whatsapp_notify/recibidos/%Y/%m/", blank=True
    )
    descarga = models.CharField(
        _("descarga"), max_length=12, choices=EstadoDescarga.choices, blank=True,
        help_text=_("La del archivo recibido, cuando MEDIA_DOWNLOAD incluye su tipo."),
    )  # fmt: skip
    descarga_error = models.TextField(_("error de la descarga"), blank=True)
    descarga_intentos = models.PositiveSmallIntegerField(_("intentos de descarga"), default=0)
    descarga_en = models.DateTimeField(_("próximo intento"), null=True, blank=True)
    envio = models.ForeignKey(
        EnvioWhatsApp,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="mensajes",
        verbose_name=_("envío"),
        help_text=_("Saliente: el envío que lo mandó. Entrante: el envío al que responde."),
    )
    conversacion = models.ForeignKey(
        "Conversacion",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="mensajes",
        verbose_name=_("conversación"),
    )
    manejo = models.CharField(_("manejo"), max_length=16, choices=Manejo.choices, blank=True)
    manejador = models.CharField(_("manejador"), max_length=255, blank=True)
    manejo_error = models.TextField(_("error del manejador"), blank=True)
    manejado_en = models.DateTimeField(_("manejado"), null=True, blank=True)
    manejo_intentos = models.PositiveSmallIntegerField(
        _("repartos de Beat"),
        default=0,
        help_text=_("Veces que Beat lo volvió a repartir porque su tarea no terminó."),
    )
    fecha = models.DateTimeField(_("fecha"), default=timezone.now)
    creado_en = models.DateTimeField(_("registrado"), auto_now_add=True)

    class Meta:
        verbose_name = _("mensaje")
        verbose_name_plural = _("mensajes")
        ordering = ["-fecha", "-pk"]
        indexes = [
            models.Index(fields=["telefono", "-fecha"], name="wn_mensaje_tel_fecha"),
            models.Index(fields=["wa_id", "-fecha"], name="wn_mensaje_waid_fecha"),
            models.Index(fields=["direccion", "-fecha"], name="wn_mensaje_dir_fecha"),
            models.Index(fields=["conversacion", "fecha"], name="wn_mensaje_conv_fecha"),
            # Beat's sweep for messages whose handler task was lost: only the few waiting.
            models.Index(
                fields=["creado_en"],
                name="wn_mensaje_por_manejar",
                condition=models.Q(manejo="pendiente"),
            ),
            # Beat's sweep for downloads due again: only the few waiting.
            models.Index(
                fields=["descarga_en"],
                name="wn_mensaje_por_descargar",
                condition=models.Q(descarga__in=["pendiente", "descargando"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direccion_display()} {self.tipo} {mask(self.telefono or self.wa_id)}"

    @property
    def estado(self) -> str:
        """A saliente's estado is its envío's (its statuses move the envío); "" otherwise."""
        if self.direccion != Direccion.SALIENTE or self.envio_id is None:
            return ""
        return self.envio.estado


class EstadoConversacion(models.TextChoices):
    BOT = "bot", _("Bot")
    AGENTE = "agente", _("Con un agente")
    CERRADA = "cerrada", _("Cerrada")


class Conversacion(models.Model):
    """The thread with one phone on one account: who answers it, the handlers' context,
    the service window, the last message and how many the staff has not read."""

    cuenta = models.CharField(_("cuenta"), max_length=64, default="default")
    telefono = models.CharField(_("teléfono"), max_length=20)
    wa_id = models.CharField(_("ID de WhatsApp"), max_length=32, blank=True)
    nombre = models.CharField(_("nombre"), max_length=200, blank=True)
    estado = models.CharField(
        _("estado"),
        max_length=8,
        choices=EstadoConversacion.choices,
        default=EstadoConversacion.BOT,
    )
    contexto = models.JSONField(
        _("contexto"),
        default=dict,
        blank=True,
        help_text=_("Lo que los manejadores de respuestas guardan entre mensajes."),
    )
    ventana_hasta = models.DateTimeField(
        _("ventana abierta hasta"),
        null=True,
        blank=True,
        help_text=_("Hasta cuándo se puede escribir texto libre (24 h tras su último mensaje)."),
    )
    ultimo_mensaje = models.ForeignKey(
        Mensaje,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("último mensaje"),
    )
    ultimo_mensaje_en = models.DateTimeField(_("fecha del último mensaje"), null=True, blank=True)
    ultimo_entrante_en = models.DateTimeField(
        _("último mensaje del cliente"), null=True, blank=True
    )
    no_leidos = models.PositiveIntegerField(_("sin leer"), default=0)
    agente = models.CharField(
        _("agente"),
        max_length=150,
        blank=True,
        help_text=_("Quién la tiene: el usuario de Django o el WhatsApp del agente."),
    )
    tomada_en = models.DateTimeField(_("tomada por un agente"), null=True, blank=True)
    iniciada_en = models.DateTimeField(
        _("iniciada"),
        default=timezone.now,
        help_text=_("Cuándo empezó el contexto actual (se reinicia al caducar)."),
    )
    actualizada_en = models.DateTimeField(_("actualizada"), auto_now=True)

    class Meta:
        verbose_name = _("conversación")
        verbose_name_plural = _("conversaciones")
        ordering = ["-ultimo_mensaje_en", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["cuenta", "telefono"], name="wn_conversacion_unica")
        ]
        indexes = [
            models.Index(fields=["-ultimo_mensaje_en"], name="wn_conversacion_reciente"),
            models.Index(fields=["estado", "-ultimo_mensaje_en"], name="wn_conversacion_estado"),
        ]

    def __str__(self) -> str:
        return f"{mask(self.telefono)} ({self.get_estado_display()})"

    def ventana_abierta(self, ahora: datetime | None = None) -> bool:
        """True while free-form text may be sent (the customer wrote in the last 24 h)."""
        return self.ventana_hasta is not None and self.ventana_hasta > (ahora or timezone.now())


class TipoPaso(models.TextChoices):
    AGENTE = "agente", _("Pasó a un agente")
    TOMADA = "tomada", _("Un agente la tomó")
    BOT = "bot", _("Volvió al bot")


class PasoConversacion(models.Model):
    """One step of a human handoff: who passed the conversation to an agent, who took
    it, who gave it back to the bot (``quien``: a user, an agent's number, ``cliente``,
    ``sistema``) and why."""

    conversacion = models.ForeignKey(
        Conversacion, models.CASCADE, related_name="pasos", verbose_name=_("conversación")
    )
    tipo = models.CharField(_("paso"), max_length=8, choices=TipoPaso.choices)
    quien = models.CharField(_("quién"), max_length=150, blank=True)
    motivo = models.CharField(_("motivo"), max_length=255, blank=True)
    mensaje = models.ForeignKey(
        Mensaje,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("mensaje"),
        help_text=_("El mensaje que lo causó, si lo hubo."),
    )
    creado_en = models.DateTimeField(_("cuándo"), default=timezone.now)

    class Meta:
        verbose_name = _("paso de la conversación")
        verbose_name_plural = _("pasos de la conversación")
        ordering = ["creado_en", "pk"]

    def __str__(self) -> str:
        return f"{self.get_tipo_display()} ({self.quien or '—'})"


class EstadoConsentimiento(models.TextChoices):
    OTORGADO = "otorgado", _("Otorgado")
    REVOCADO = "revocado", _("Revocado")


class OrigenConsentimiento(models.TextChoices):
    ERP = "erp", _("ERP")
    FORMULARIO = "formulario", _("Formulario")
    WHATSAPP = "whatsapp", _("Mensaje de WhatsApp")
    META = "meta", _("Preferencias en WhatsApp (Meta)")
    PROVEEDOR = "proveedor", _("Rechazo del proveedor (bloqueo o baja)")
    ADMIN = "admin", _("Administración")
    IMPORTACION = "importacion", _("Importación")


class ConsentimientoCliente(models.Model):
    """Opt-in / opt-out of one phone number for one category, with origin and evidence.

    ``cuenta`` is the account (business number) it concerns; "" means every account (what
    the ERP records without naming one). A customer's own decision in WhatsApp (``BAJA``,
    a provider's stop) concerns the account it was sent to.
    """

    cuenta = models.CharField(
        _("cuenta"),
        max_length=64,
        blank=True,
        default="",
        help_text=_('Alias de la cuenta en WHATSAPP_NOTIFY["BACKENDS"]; vacío: todas.'),
    )
    telefono = models.CharField(_("teléfono"), max_length=20)
    categoria = models.CharField(
        _("categoría"), max_length=16, choices=Categoria.choices, default=Categoria.UTILITY
    )
    estado = models.CharField(_("estado"), max_length=10, choices=EstadoConsentimiento.choices)
    origen = models.CharField(
        _("origen"), max_length=16, choices=OrigenConsentimiento.choices, default="erp"
    )
    evidencia = models.TextField(_("evidencia"), blank=True)
    otorgado_en = models.DateTimeField(_("otorgado"), null=True, blank=True)
    revocado_en = models.DateTimeField(_("revocado"), null=True, blank=True)
    actualizado_en = models.DateTimeField(_("actualizado"), auto_now=True)

    class Meta:
        verbose_name = _("consentimiento de cliente")
        verbose_name_plural = _("consentimientos de clientes")
        ordering = ["-actualizado_en"]
        constraints = [
            models.UniqueConstraint(
                fields=["telefono", "categoria", "cuenta"], name="wn_consentimiento_tel_cat_cuenta"
            )
        ]

    def __str__(self) -> str:
        donde = f", {self.cuenta}" if self.cuenta else ""
        return f"{mask(self.telefono)} ({self.categoria}{donde}): {self.get_estado_display()}"

    @property
    def vigente(self) -> bool:
        return self.estado == EstadoConsentimiento.OTORGADO


class CambioConsentimiento(models.Model):
    """One decision recorded about a phone's consent for a category: its history.

    ``ConsentimientoCliente`` holds what stands now; each grant or revocation, from the ERP,
    the admin, the customer's own words or the provider, also leaves one of these, with
    what held before, where it came from and its evidence. Rows are only ever added.
    """

    telefono = models.CharField(_("teléfono"), max_length=20)
    categoria = models.CharField(_("categoría"), max_length=16, choices=Categoria.choices)
    cuenta = models.CharField(_("cuenta"), max_length=64, blank=True, default="")
    estado = models.CharField(_("estado"), max_length=10, choices=EstadoConsentimiento.choices)
    anterior = models.CharField(
        _("estado anterior"), max_length=10, choices=EstadoConsentimiento.choices, blank=True
    )
    origen = models.CharField(_("origen"), max_length=16, choices=OrigenConsentimiento.choices)
    evidencia = models.TextField(_("evidencia"), blank=True)
    fecha = models.DateTimeField(_("fecha de la decisión"))
    registrado_en = models.DateTimeField(_("registrado"), auto_now_add=True)

    class Meta:
        verbose_name = _("cambio de consentimiento")
        verbose_name_plural = _("historial de consentimientos")
        # In the order they were recorded, which is the order ``anterior`` follows; ``fecha``
        # (when the customer decided) may be earlier than a decision recorded before it.
        ordering = ["-pk"]
        indexes = [models.Index(fields=["telefono", "categoria"], name="wn_cambio_tel_cat")]

    def __str__(self) -> str:
        antes = self.get_anterior_display() if self.anterior else "—"
        ahora = self.get_estado_display()
        return f"{mask(self.telefono)} ({self.get_categoria_display()}): {antes} → {ahora}"


class MediaSubido(models.Model):
    """A document uploaded to the provider, reused by content hash while its id is valid."""

    cuenta = models.CharField(_("cuenta"), max_length=64)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    media_id = models.CharField(_("id de media"), max_length=128)
    subido_en = models.DateTimeField(_("subido"), default=timezone.now)
    expira_en = models.DateTimeField(_("expira"))

    class Meta:
        verbose_name = _("archivo subido")
        verbose_name_plural = _("archivos subidos")
        constraints = [
            models.UniqueConstraint(fields=["cuenta", "sha256"], name="wn_media_cuenta_sha256")
        ]

    def __str__(self) -> str:
        return f"{self.cuenta}:{self.sha256[:12]} → {self.media_id}"


class EstadoCuenta(models.Model):
    """Pause state of an account alias after an auth/config error from the provider."""

    cuenta = models.CharField(_("cuenta"), max_length=64, primary_key=True)
    pausada = models.BooleanField(_("pausada"), default=False)
    pausada_en = models.DateTimeField(_("pausada desde"), null=True, blank=True)
    error_codigo = models.IntegerField(_("código de error"), null=True, blank=True)
    error_detalle = models.TextField(_("detalle del error"), blank=True)
    alertado_en = models.DateTimeField(_("alerta enviada"), null=True, blank=True)
    comprobado_en = models.DateTimeField(_("última comprobación"), null=True, blank=True)
    reanudada_en = models.DateTimeField(_("reanudada"), null=True, blank=True)

    class Meta:
        verbose_name = _("estado de cuenta")
        verbose_name_plural = _("estados de cuentas")

    def __str__(self) -> str:
        estado = _("pausada") if self.pausada else _("activa")
        return f"{self.cuenta}: {estado}"

    def error_legible(self) -> str:
        """Why the account paused, in the active language; ``""`` without an error."""
        return explicar(self)


class EventoWebhook(models.Model):
    """A webhook body exactly as received (raw bytes, decoded), kept before processing."""

    cuenta = models.CharField(_("cuenta"), max_length=64)
    sha256 = models.CharField(_("SHA-256 del cuerpo"), max_length=64)
    cuerpo = models.TextField(_("cuerpo"))
    # The query string: Twilio's status callback URL carries the envío's reference.
    consulta = models.CharField(_("consulta"), max_length=2048, blank=True, default="")
    recibido_en = models.DateTimeField(_("recibido"), default=timezone.now)
    procesado_en = models.DateTimeField(_("procesado"), null=True, blank=True)
    eventos = models.PositiveIntegerField(_("eventos"), default=0)
    desconocidos = models.PositiveIntegerField(_("eventos no reconocidos"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("evento de webhook")
        verbose_name_plural = _("eventos de webhook")
        ordering = ["-recibido_en", "-pk"]
        constraints = [
            # Meta redelivers a body it got no 200 for: the same bytes are stored once.
            models.UniqueConstraint(fields=["cuenta", "sha256"], name="wn_evento_cuenta_sha256")
        ]
        indexes = [
            models.Index(fields=["-recibido_en"], name="wn_evento_recibido"),
            models.Index(fields=["procesado_en"], name="wn_evento_procesado"),
        ]

    def __str__(self) -> str:
        eventos = ngettext("%(n)s evento", "%(n)s eventos", self.eventos) % {"n": self.eventos}
        return f"{self.cuenta} {self.recibido_en:%Y-%m-%d %H:%M:%S} ({eventos})"


class Plantilla(models.Model):
    """An approved (or not) template of the WhatsApp Business Account, synced from Meta."""

    cuenta = models.CharField(_("cuenta"), max_length=64, default="default")
    nombre = models.CharField(_("nombre"), max_length=512)
    idioma = models.CharField(_("idioma"), max_length=15)
    meta_id = models.CharField(_("id en Meta"), max_length=64, blank=True)
    categoria = models.CharField(_("categoría"), max_length=32, blank=True)
    estado = models.CharField(_("estado"), max_length=32, blank=True)
    formato_encabezado = models.CharField(_("formato del encabezado"), max_length=16, blank=True)
    formato_parametros = models.CharField(
        _("formato de parámetros"), max_length=16, default="POSITIONAL"
    )
    parametros_cuerpo = models.PositiveSmallIntegerField(_("parámetros del cuerpo"), default=0)
    nombres_parametros = models.JSONField(_("nombres de parámetros"), default=list, blank=True)
    # The body text with its placeholders, as the provider lists it (rendered where the
    # provider has no templates of its own).
    cuerpo = models.TextField(_("cuerpo"), blank=True)
    componentes = models.JSONField(_("componentes"), default=list, blank=True)
    motivo = models.CharField(_("motivo de Meta"), max_length=255, blank=True)
    sincronizada_en = models.DateTimeField(_("sincronizada"), default=timezone.now)

    class Meta:
        verbose_name = _("plantilla")
        verbose_name_plural = _("plantillas")
        ordering = ["cuenta", "nombre", "idioma"]
        constraints = [
            models.UniqueConstraint(
                fields=["cuenta", "nombre", "idioma"], name="wn_plantilla_cuenta_nombre_idioma"
            )
        ]

    def __str__(self) -> str:
        return f"{self.nombre} ({self.idioma}): {self.estado or '?'}"

    @property
    def aprobada(self) -> bool:
        """True when Meta lets the template be sent.

        Not only ``APPROVED``: a ``FLAGGED`` (quality warning), ``REINSTATED``, ``UNARCHIVED``,
        ``LOCKED`` or ``UNLOCKED`` template (webhook events) still sends; these are refused.
        """
        return self.estado not in NO_ENVIABLES


# Template statuses under which Meta refuses to send (132001, 132015, 132016).
NO_ENVIABLES = frozenset(
    {
        "PENDING",
        "REJECTED",
        "PAUSED",
        "DISABLED",
        "DELETED",
        "PENDING_DELETION",
        "ARCHIVED",
        "IN_APPEAL",
        "LIMIT_EXCEEDED",
    }
)
