"""Django admin for monitoring: envíos, conversation, consent, accounts, media and webhooks.

Envíos, messages, media and webhook bodies are an audit trail: nobody edits them by hand.
Operators act through the actions (resend an envío, resume a paused account, process a
webhook body again). List views mask phones; the detail page of a row shows the full number.
"""

from __future__ import annotations

import json
import uuid
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import consent
from .conf import get_settings
from .dashboard.charts import COLORES_ESTADO
from .dashboard.views import panel_view
from .exceptions import MessageError
from .inbound import handoff, store
from .models import (
    NO_ENVIABLES,
    CambioConsentimiento,
    ConsentimientoCliente,
    Conversacion,
    EnvioWhatsApp,
    EstadoConsentimiento,
    EstadoConversacion,
    EstadoCuenta,
    EstadoEnvio,
    EventoWebhook,
    MediaSubido,
    Mensaje,
    MotivoOmision,
    OrigenConsentimiento,
    PasoConversacion,
    Plantilla,
)
from .outbound import actions
from .phones import TelefonoInvalido, mask, normalizar, variantes

RAZONES_NO_REENVIO = {
    actions.YA_ENVIADO: _("ya se envió (enviado, entregado o leído) y no se envía dos veces"),
    actions.EN_CURSO: _("sigue en curso (programado, pendiente o enviando)"),
    actions.SUPERADO: _(
        "un envío posterior del mismo aviso ya salió o está en camino, y no se envía dos veces"
    ),
    MotivoOmision.ERROR_DISPARADOR: _(
        "el disparador no pudo preparar el mensaje; el ERP debe volver a dispararlo"
    ),
}


def telefonos_buscados(termino: str) -> set[str]:
    """Every stored form of the phone typed in a search box, or nothing if it is not one."""
    if sum(ch.isdigit() for ch in termino) < 7:
        return set()  # a few digits are a partial match, which search_fields already do
    try:
        return variantes(normalizar(termino))
    except TelefonoInvalido:
        return set()


def _columna_momento(campo: str, titulo):
    """A changelist column showing ``campo`` in the active language's short date and time
    (``12/07/2026 1:05 p.m.`` in en-us, ``07/12/2026 13:05`` in es), the full value on hover.

    A fixed ``%d/%m`` reads as another day to a reader whose locale puts the month first.
    """

    @admin.display(description=titulo, ordering=campo, empty_value="—")
    def columna(self, obj) -> str | None:
        valor = getattr(obj, campo)
        if valor is None:
            return None
        # Naive under USE_TZ = False: shown as it is.
        local = timezone.template_localtime(valor)
        return format_html(
            '<span title="{}" style="white-space:nowrap">{}</span>',
            local.isoformat(sep=" ", timespec="seconds"),
            formats.date_format(local, "SHORT_DATETIME_FORMAT"),
        )

    return columna


class BuscarTelefonoMixin:
    """Search also finds a phone typed in any human format (``+52 55 1234 5678``)."""

    campos_telefono: tuple[str, ...] = ("telefono",)

    def get_search_results(self, request, queryset, search_term):
        resultado, duplicados = super().get_search_results(request, queryset, search_term)
        telefonos = telefonos_buscados(search_term)
        if telefonos:
            for campo in self.campos_telefono:
                resultado |= queryset.filter(**{f"{campo}__in": telefonos})
        return resultado, duplicados


class SoloLecturaMixin:
    """Rows are an audit trail: viewable, never added or edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def tiene_permiso_de_operar(self, request: HttpRequest) -> bool:
        # Actions need the model's change permission even though rows are not edited.
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


def _error_corto(texto: str) -> str | None:
    """A list column's error: 60 characters, more on hover (bounded: a provider's text can be
    any size), without the NUL bytes a provider may send, which HTML cannot carry."""
    texto = texto.replace("\x00", "") if texto else texto
    if not texto:
        return None
    corto = Truncator(texto).chars(60)
    if corto == texto:
        return texto
    return format_html('<span title="{}">{}</span>', Truncator(texto).chars(1000), corto)


def _telefono_enmascarado(obj) -> str:
    return mask(obj.telefono) if obj.telefono else "—"


class MensajeInline(admin.TabularInline):
    model = Mensaje
    fields = ("direccion", "tipo", "texto", "fecha")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(EnvioWhatsApp)
class EnvioWhatsAppAdmin(SoloLecturaMixin, BuscarTelefonoMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "telefono_enmascarado",
        "nombre",
        "tipo",
        "plantilla",
        "estado_badge",
        "intentos",
        "creado",
        "enviado",
        "entregado",
        "leido",
        "error",
        "duplicado",
        "costo_con_moneda",
    )
    list_display_links = ("id", "telefono_enmascarado")
    list_filter = (
        "estado",
        "duplicado",
        "tipo",
        "cuenta",
        "clase",
        "categoria",
        "motivo",
        "creado_en",
    )
    search_fields = ("telefono", "nombre", "clave", "wamid", "plantilla")
    date_hierarchy = "creado_en"
    show_full_result_count = False  # the outbox grows without bound: no COUNT(*) of it all
    actions = ("reenviar",)
    inlines = (MensajeInline,)
    fieldsets = (
        (_("Destinatario"), {"fields": ("telefono", "telefono_original", "wa_id", "nombre")}),
        (
            _("Contenido"),
            {
                "fields": (
                    "clase",
                    "plantilla",
                    "idioma",
                    "variables",
                    "texto",
                    "documento",
                    "nombre_documento",
                    "documento_mime",
                    "documento_sha256",
                    "tipo",
                    "categoria",
                    "referencia_enlace",
                    "clave",
                )
            },
        ),
        (
            _("Estado"),
            {
                "fields": (
                    "estado",
                    "motivo",
                    "intentos",
                    "proximo_intento",
                    "cuenta",
                    "wamid",
                    "duplicado",
                    "wamids_duplicados",
                )
            },
        ),
        (
            _("Tiempos"),
            {
                "fields": (
                    "creado_en",
                    "programado_para",
                    "expira_en",
                    "despachado_en",
                    "reclamado_en",
                    "enviado_en",
                    "confirmado_en",
                    "entregado_en",
                    "leido_en",
                    "fallido_en",
                    "cancelado_en",
                    "actualizado_en",
                )
            },
        ),
        (
            _("Error"),
            {"fields": ("error_explicado", "error_codigo", "error_titulo", "error_detalle")},
        ),
        (
            _("Costo"),
            {
                "fields": (
                    "costo_con_moneda",
                    "facturable",
                    "precio_modelo",
                    "precio_tipo",
                    "precio_categoria",
                    "conversacion_origen",
                    "conversacion_id",
                )
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [campo for _titulo, opciones in self.fieldsets for campo in opciones["fields"]]

    def get_urls(self):
        # The operations dashboard lives beside the envíos it counts: the admin site's
        # login and staff check apply, and viewing it needs the view permission of envíos.
        vista = self.admin_site.admin_view(partial(panel_view, model_admin=self))
        return [path("panel/", vista, name="whatsapp_notify_panel"), *super().get_urls()]

    @admin.display(description=_("teléfono"), ordering="telefono")
    def telefono_enmascarado(self, obj: EnvioWhatsApp) -> str:
        return _telefono_enmascarado(obj)

    # Compact times (the full date and time in the tooltip), so the journey of an envío
    # (created, sent, delivered, read) fits on one row of the list.
    creado = _columna_momento("creado_en", _("creado"))
    enviado = _columna_momento("enviado_en", _("enviado"))
    entregado = _columna_momento("entregado_en", _("entregado"))
    leido = _columna_momento("leido_en", _("leído"))

    @admin.display(description=_("error"), ordering="error_codigo", empty_value="—")
    def error(self, obj: EnvioWhatsApp) -> str | None:
        """The explanation in the reader's language, short; the whole of it on hover."""
        return _error_corto(obj.error_legible())

    @admin.display(description=_("explicación"), empty_value="—")
    def error_explicado(self, obj: EnvioWhatsApp) -> str:
        """The readable error in the reader's language; the provider's own words are the
        fields below it, as it sent them. "—" without one (the list and the form alike)."""
        return obj.error_legible() or "—"

    @admin.display(description=_("costo"), ordering="costo")
    def costo_con_moneda(self, obj: EnvioWhatsApp) -> str:
        """The recorded cost with its currency ("0.0085 USD"); "—" while unknown."""
        if obj.costo is None:
            return "—"
        return f"{obj.costo.normalize():f} {obj.moneda}".strip()

    @admin.display(description=_("estado"), ordering="estado")
    def estado_badge(self, obj: EnvioWhatsApp) -> str:
        return format_html(
            '<span style="background:{};color:#fff;padding:2px 8px;border-radius:8px;'
            'white-space:nowrap">{}</span>',
            COLORES_ESTADO.get(obj.estado, "#6c757d"),
            obj.get_estado_display(),
        )

    @admin.display(description=_("referencia"))
    def referencia_enlace(self, obj: EnvioWhatsApp) -> str:
        if not obj.content_type_id:
            return "—"
        referencia = obj.referencia
        if referencia is None:
            return gettext("%(tipo)s #%(id)s (ya no existe)") % {
                "tipo": obj.content_type,
                "id": obj.object_id,
            }
        opts = referencia._meta
        try:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[referencia.pk])
        except NoReverseMatch:
            return str(referencia)
        return format_html('<a href="{}">{}</a>', url, referencia)

    @admin.action(description=_("Reenviar"), permissions=["reenviar"])
    def reenviar(
        self, request: HttpRequest, queryset: QuerySet[EnvioWhatsApp]
    ) -> TemplateResponse | None:
        # An incierto envío may already be on the customer's phone: ask first, like delete.
        inciertos = queryset.filter(estado=EstadoEnvio.INCIERTO)
        if request.POST.get("confirmar") != "si" and inciertos.exists():
            return self._confirmar_reenvio(request, queryset, inciertos)
        resultado = actions.reenviar(queryset)
        if resultado.reenviados:
            self.message_user(request, _mensaje_reenviados(resultado.reenviados), messages.SUCCESS)
        for razon, cuantos in resultado.omitidos.items():
            self.message_user(request, _mensaje_no_reenviados(razon, cuantos), messages.WARNING)

    def has_reenviar_permission(self, request: HttpRequest) -> bool:
        return self.tiene_permiso_de_operar(request)

    def _confirmar_reenvio(
        self,
        request: HttpRequest,
        seleccion: QuerySet[EnvioWhatsApp],
        inciertos: QuerySet[EnvioWhatsApp],
    ) -> TemplateResponse:
        """The intermediate page of «Reenviar» when the selection holds incierto envíos."""
        opts = self.model._meta
        contexto = {
            **self.admin_site.each_context(request),
            "title": gettext("¿Reenviar envíos sin confirmar?"),
            "opts": opts,
            "seleccion": list(seleccion.values_list("pk", flat=True)),
            "inciertos": list(inciertos),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        plantilla = f"admin/{opts.app_label}/{opts.model_name}/reenviar_confirmacion.html"
        return TemplateResponse(request, plantilla, contexto)


def _mensaje_reenviados(cuantos: int) -> str:
    return ngettext("%(n)d envío vuelve a la cola.", "%(n)d envíos vuelven a la cola.", cuantos) % {
        "n": cuantos
    }


def _mensaje_no_reenviados(razon: str, cuantos: int) -> str:
    if razon in RAZONES_NO_REENVIO:
        porque = RAZONES_NO_REENVIO[razon]
    else:
        porque = gettext("sigue omitido: %(motivo)s") % {"motivo": MotivoOmision(razon).label}
    return ngettext(
        "%(n)d envío no se reenvió: %(porque)s.",
        "%(n)d envíos no se reenviaron: %(porque)s.",
        cuantos,
    ) % {"n": cuantos, "porque": porque}


@admin.register(Mensaje)
class MensajeAdmin(SoloLecturaMixin, BuscarTelefonoMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "fecha",
        "direccion",
        "telefono_enmascarado",
        "nombre",
        "tipo",
        "texto_corto",
        "envio",
    )
    list_filter = ("direccion", "tipo", "manejo", "descarga", "cuenta", "fecha")
    search_fields = ("telefono", "wa_id", "nombre", "wamid", "texto")
    campos_telefono = ("telefono", "wa_id")
    date_hierarchy = "fecha"
    list_select_related = ("envio",)
    show_full_result_count = False
    readonly_fields = (
        "direccion",
        "cuenta",
        "telefono",
        "wa_id",
        "nombre",
        "wamid",
        "tipo",
        "texto",
        "contenido",
        "contexto_wamid",
        "envio",
        "conversacion",
        "manejo",
        "manejador",
        "manejo_error",
        "manejado_en",
        "media_mime",
        "media_nombre",
        "archivo",
        "descarga",
        "descarga_error",
        "descarga_intentos",
        "fecha",
        "creado_en",
    )
    fields = readonly_fields

    @admin.display(description=_("teléfono"), ordering="telefono")
    def telefono_enmascarado(self, obj: Mensaje) -> str:
        return mask(obj.telefono or obj.wa_id) or "—"

    @admin.display(description=_("texto"))
    def texto_corto(self, obj: Mensaje) -> str:
        return Truncator(obj.texto).chars(60)


class PasoInline(admin.TabularInline):
    model = PasoConversacion
    fields = ("creado_en", "tipo", "quien", "motivo", "mensaje")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class AtencionFilter(admin.SimpleListFilter):
    """What an agent looks for first: the conversations waiting for a person, and theirs."""

    title = _("atención")
    parameter_name = "atencion"

    def lookups(self, request: HttpRequest, model_admin) -> tuple[tuple[str, str], ...]:
        return (
            ("espera", _("Esperan a un agente")),
            ("mias", _("Las mías")),
            ("sin_leer", _("Con mensajes sin leer")),
        )

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conversacion]):
        con_agente = queryset.filter(estado=EstadoConversacion.AGENTE)
        filtros = {
            "espera": lambda: con_agente.filter(agente=""),
            "mias": lambda: con_agente.filter(agente=request.user.get_username()),
            "sin_leer": lambda: queryset.filter(no_leidos__gt=0),
        }
        return filtros[self.value()]() if self.value() in filtros else queryset


@admin.register(Conversacion)
class ConversacionAdmin(SoloLecturaMixin, BuscarTelefonoMixin, admin.ModelAdmin):
    """The conversations: who answers each (bot or agent), unread messages, the window."""

    list_display = (
        "id",
        "telefono_enmascarado",
        "nombre",
        "estado",
        "agente",
        "no_leidos",
        "ventana",
        "ultimo_mensaje_en",
        "cuenta",
    )
    list_display_links = ("id", "telefono_enmascarado")
    list_filter = (AtencionFilter, "estado", "cuenta")
    search_fields = ("telefono", "wa_id", "nombre", "agente")
    campos_telefono = ("telefono", "wa_id")
    show_full_result_count = False
    readonly_fields = (
        "cuenta",
        "telefono",
        "wa_id",
        "nombre",
        "estado",
        "agente",
        "tomada_en",
        "no_leidos",
        "ventana_hasta",
        "ultimo_mensaje_en",
        "ultimo_entrante_en",
        "contexto",
        "iniciada_en",
        "actualizada_en",
    )
    fields = readonly_fields
    inlines = (PasoInline,)
    actions = ("tomar", "devolver_al_bot")
    change_form_template = "admin/whatsapp_notify/conversacion/change_form.html"
    #: The latest messages the inbox shows (the whole thread is in «Mensajes»).
    HILO = 200

    def get_urls(self):
        vista = self.admin_site.admin_view
        propias = [
            path("<int:pk>/responder/", vista(self.responder_view),
                 name="whatsapp_notify_conversacion_responder"),
            path("<int:pk>/tomar/", vista(self.tomar_view),
                 name="whatsapp_notify_conversacion_tomar"),
            path("<int:pk>/devolver/", vista(self.devolver_view),
                 name="whatsapp_notify_conversacion_devolver"),
        ]  # fmt: skip
        return propias + super().get_urls()

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        conversacion = self.get_object(request, object_id)
        extra = {}
        if conversacion is not None:
            # Opened by someone who answers it: what the customer wrote is read.
            if self.tiene_permiso_de_operar(request):
                Conversacion.objects.filter(pk=conversacion.pk).update(no_leidos=0)
            hilo = conversacion.mensajes.select_related("envio").order_by("-fecha", "-pk")
            extra = {
                "hilo": list(hilo[: self.HILO])[::-1],
                "ventana_abierta": conversacion.ventana_abierta(),
                "puede_operar": self.tiene_permiso_de_operar(request),
                "plantillas": Plantilla.objects.filter(cuenta=conversacion.cuenta)
                .exclude(estado__in=NO_ENVIABLES)
                .order_by("nombre", "idioma"),
                "token": uuid.uuid4().hex,
                "usuario": request.user.get_username(),
            }
        return super().change_view(
            request, object_id, form_url, extra_context={**extra, **(extra_context or {})}
        )

    def _operable(self, request: HttpRequest, pk: int) -> Conversacion:
        if request.method != "POST":
            raise PermissionDenied
        if not self.tiene_permiso_de_operar(request):
            raise PermissionDenied
        return get_object_or_404(Conversacion, pk=pk)

    def _volver(self, conversacion: Conversacion) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:whatsapp_notify_conversacion_change", args=[conversacion.pk])
        )

    def tomar_view(self, request: HttpRequest, pk: int) -> HttpResponseRedirect:
        conversacion = self._operable(request, pk)
        self._cada_una(
            Conversacion.objects.filter(pk=pk),
            lambda c: handoff.tomar(c, request.user.get_username()),
        )
        self.message_user(request, gettext("La conversación es tuya: el bot calla."))
        return self._volver(conversacion)

    def devolver_view(self, request: HttpRequest, pk: int) -> HttpResponseRedirect:
        conversacion = self._operable(request, pk)
        self._cada_una(
            Conversacion.objects.filter(pk=pk, estado=EstadoConversacion.AGENTE),
            lambda c: handoff.devolver_al_bot(c, quien=request.user.get_username(), motivo="admin"),
        )
        self.message_user(request, gettext("La conversación vuelve al bot."))
        return self._volver(conversacion)

    def responder_view(self, request: HttpRequest, pk: int) -> HttpResponseRedirect:
        """Send the operator's reply: free text inside the window, else only a template.

        The form's token is the envío's clave: a double click sends once.
        """
        conversacion = self._operable(request, pk)
        usuario = request.user.get_username()
        token = "".join(c for c in request.POST.get("token", "") if c.isalnum())[:64]
        clave = f"admin:{conversacion.pk}:{token or uuid.uuid4().hex}"
        if (previo := EnvioWhatsApp.objects.por_clave(clave)) is not None:
            # The same form posted again: a double click, or Back and a new text.
            igual = (
                "plantilla" not in request.POST
                and previo.texto == request.POST.get("texto", "").strip()
            )
            self.message_user(
                request,
                gettext("Ya se había enviado: no se manda dos veces.")
                if igual
                else gettext(
                    "Este formulario ya se usó para otro mensaje: no se envió. Recarga la "
                    "página para escribir uno nuevo."
                ),
                messages.INFO if igual else messages.ERROR,
            )
            return self._volver(conversacion)
        try:
            if "plantilla" in request.POST:
                que = self._plantilla(request, conversacion)
            else:
                que = {"texto": request.POST.get("texto", "").strip()}
            envio = actions.contestar(conversacion, quien=usuario, clave=clave, **que)
        except actions.VentanaCerrada:
            self.message_user(
                request,
                gettext(
                    "La ventana de 24 horas está cerrada: el texto libre no llegaría. Envía "
                    "una plantilla aprobada."
                ),
                messages.ERROR,
            )
            return self._volver(conversacion)
        except (MessageError, ImproperlyConfigured, ValueError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return self._volver(conversacion)

        envio.refresh_from_db()
        if envio.estado == EstadoEnvio.OMITIDO:
            self.message_user(
                request,
                gettext("No se envió: %(motivo)s.") % {"motivo": envio.get_motivo_display()},
                messages.WARNING,
            )
        else:
            self.message_user(request, gettext("Respuesta en camino."), messages.SUCCESS)
        return self._volver(conversacion)

    def _plantilla(self, request: HttpRequest, conversacion: Conversacion) -> dict:
        """The template the reply box chose, with its variables, as ``contestar`` takes it."""
        elegida = request.POST.get("plantilla", "")
        fila = (
            Plantilla.objects.filter(pk=int(elegida), cuenta=conversacion.cuenta).first()
            if elegida.isdigit()
            else None
        )
        if fila is None:
            raise MessageError(gettext("Elige una plantilla de la lista de esta cuenta."))
        lineas = [linea.strip() for linea in request.POST.get("variables", "").splitlines()]
        lineas = [linea for linea in lineas if linea]
        if fila.formato_parametros == "NAMED":
            variables = dict(linea.split("=", 1) for linea in lineas if "=" in linea)
            variables = {k.strip(): v.strip() for k, v in variables.items()}
        else:
            variables = lineas
        return {"plantilla": fila.nombre, "idioma": fila.idioma, "variables": variables or None}

    @admin.display(description=_("teléfono"), ordering="telefono")
    def telefono_enmascarado(self, obj: Conversacion) -> str:
        return mask(obj.telefono) or "—"

    @admin.display(description=_("ventana abierta"), boolean=True)
    def ventana(self, obj: Conversacion) -> bool:
        return obj.ventana_abierta()

    @admin.action(description=_("Tomar (la atiendo yo; el bot calla)"), permissions=["operar"])
    def tomar(self, request: HttpRequest, queryset: QuerySet[Conversacion]) -> None:
        usuario = request.user.get_username()
        n = self._cada_una(queryset, lambda c: handoff.tomar(c, usuario))
        self.message_user(
            request,
            ngettext("%(n)d conversación es tuya.", "%(n)d conversaciones son tuyas.", n)
            % {"n": n},
            messages.SUCCESS,
        )

    @admin.action(description=_("Devolver al bot"), permissions=["operar"])
    def devolver_al_bot(self, request: HttpRequest, queryset: QuerySet[Conversacion]) -> None:
        usuario = request.user.get_username()
        n = self._cada_una(
            queryset.filter(estado=EstadoConversacion.AGENTE),
            lambda c: handoff.devolver_al_bot(c, quien=usuario, motivo="admin"),
        )
        self.message_user(
            request,
            ngettext("%(n)d conversación vuelve al bot.", "%(n)d conversaciones vuelven al bot.", n)
            % {"n": n},
            messages.SUCCESS,
        )

    def _cada_una(self, queryset, hacer) -> int:
        n = 0
        for pk in queryset.values_list("pk", flat=True):
            with transaction.atomic():
                conversacion = Conversacion.objects.select_for_update().get(pk=pk)
                hacer(conversacion)
                n += 1
        return n

    def has_operar_permission(self, request: HttpRequest) -> bool:
        return self.tiene_permiso_de_operar(request)


class ConsentimientoForm(forms.ModelForm):
    class Meta:
        model = ConsentimientoCliente
        fields = ("telefono", "categoria", "cuenta", "estado", "origen", "evidencia")

    def clean_cuenta(self) -> str:
        cuenta = self.cleaned_data["cuenta"]
        if cuenta and cuenta not in get_settings().BACKENDS:
            raise forms.ValidationError(
                _(
                    'No hay una cuenta %(cuenta)s en WHATSAPP_NOTIFY["BACKENDS"]; déjala vacía '
                    "para todas."
                ),
                code="cuenta_desconocida",
                params={"cuenta": cuenta},
            )
        return cuenta

    def clean_telefono(self) -> str:
        try:
            return normalizar(self.cleaned_data["telefono"])
        except TelefonoInvalido as exc:
            raise forms.ValidationError(
                _("El teléfono no es válido; escríbelo con lada o con código de país."),
                code="telefono_invalido",
            ) from exc


@admin.register(ConsentimientoCliente)
class ConsentimientoClienteAdmin(BuscarTelefonoMixin, admin.ModelAdmin):
    form = ConsentimientoForm
    list_display = (
        "telefono_enmascarado",
        "categoria",
        "cuenta",
        "estado",
        "origen",
        "otorgado_en",
        "revocado_en",
        "actualizado_en",
    )
    list_filter = ("categoria", "cuenta", "estado", "origen")
    search_fields = ("telefono",)
    show_full_result_count = False
    readonly_fields = ("otorgado_en", "revocado_en", "actualizado_en")

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {
            "origen": OrigenConsentimiento.ADMIN,
            **super().get_changeform_initial_data(request),
        }

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        # Phone and category identify the consent: another one is a different record.
        if obj:
            return (*self.readonly_fields, "telefono", "categoria")
        return self.readonly_fields

    @admin.display(description=_("teléfono"), ordering="telefono")
    def telefono_enmascarado(self, obj: ConsentimientoCliente) -> str:
        return _telefono_enmascarado(obj)

    def save_model(self, request, obj: ConsentimientoCliente, form, change) -> None:
        decidido = "estado" in form.changed_data or not change
        if decidido:
            marca = "otorgado_en" if obj.estado == EstadoConsentimiento.OTORGADO else "revocado_en"
            setattr(obj, marca, timezone.now())
        anterior = form.initial.get("estado") if change else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if decidido:
                consent.anotar(obj, anterior, getattr(obj, marca))


@admin.register(CambioConsentimiento)
class CambioConsentimientoAdmin(SoloLecturaMixin, BuscarTelefonoMixin, admin.ModelAdmin):
    list_display = (
        "telefono_enmascarado",
        "categoria",
        "cuenta",
        "anterior",
        "estado",
        "origen",
        "fecha",
    )
    list_filter = ("categoria", "cuenta", "estado", "origen")
    search_fields = ("telefono",)
    show_full_result_count = False
    fields = (
        "telefono", "categoria", "cuenta", "anterior", "estado", "origen", "evidencia", "fecha",
        "registrado_en",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description=_("teléfono"), ordering="telefono")
    def telefono_enmascarado(self, obj: CambioConsentimiento) -> str:
        return _telefono_enmascarado(obj)


@admin.register(EstadoCuenta)
class EstadoCuentaAdmin(SoloLecturaMixin, admin.ModelAdmin):
    list_display = (
        "cuenta",
        "pausada",
        "pausada_en",
        "error",
        "alertado_en",
        "comprobado_en",
        "reanudada_en",
    )
    list_filter = ("pausada",)
    readonly_fields = (*list_display, "error_codigo", "error_detalle")
    fields = readonly_fields
    actions = ("reanudar",)

    @admin.display(description=_("error"), ordering="error_codigo", empty_value="—")
    def error(self, obj: EstadoCuenta) -> str | None:
        """Why it paused, in the reader's language, short; more on hover."""
        return _error_corto(obj.error_legible())

    @admin.action(description=_("Reanudar"), permissions=["reanudar"])
    def reanudar(self, request: HttpRequest, queryset: QuerySet[EstadoCuenta]) -> None:
        reanudadas = actions.reanudar(queryset.values_list("cuenta", flat=True))
        if reanudadas:
            mensaje = ngettext(
                "Cuenta reanudada: %(cuentas)s. Sus envíos en espera se despachan ahora.",
                "Cuentas reanudadas: %(cuentas)s. Sus envíos en espera se despachan ahora.",
                len(reanudadas),
            ) % {"cuentas": ", ".join(reanudadas)}
            self.message_user(request, mensaje, messages.SUCCESS)
        else:
            self.message_user(request, gettext("Ninguna cuenta estaba en pausa."), messages.INFO)

    def has_reanudar_permission(self, request: HttpRequest) -> bool:
        return self.tiene_permiso_de_operar(request)


@admin.register(MediaSubido)
class MediaSubidoAdmin(SoloLecturaMixin, admin.ModelAdmin):
    list_display = ("cuenta", "sha256_corto", "media_id", "subido_en", "expira_en")
    list_filter = ("cuenta",)
    search_fields = ("sha256", "media_id")
    readonly_fields = ("cuenta", "sha256", "media_id", "subido_en", "expira_en")
    fields = readonly_fields

    @admin.display(description=_("SHA-256"), ordering="sha256")
    def sha256_corto(self, obj: MediaSubido) -> str:
        return obj.sha256[:12]


class ProcesamientoFilter(admin.SimpleListFilter):
    title = _("procesamiento")
    parameter_name = "procesamiento"

    def lookups(self, request: HttpRequest, model_admin) -> tuple[tuple[str, str], ...]:
        return (
            ("pendiente", _("Sin procesar")),
            ("con_error", _("Con error")),
            ("correcto", _("Procesado sin error")),
        )

    def queryset(self, request: HttpRequest, queryset: QuerySet[EventoWebhook]):
        procesados = queryset.filter(procesado_en__isnull=False)
        filtros = {
            "pendiente": queryset.filter(procesado_en__isnull=True),
            "con_error": procesados.exclude(error=""),
            "correcto": procesados.filter(error=""),
        }
        return filtros.get(self.value(), queryset)


@admin.register(EventoWebhook)
class EventoWebhookAdmin(SoloLecturaMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "cuenta",
        "recibido_en",
        "procesado_en",
        "eventos",
        "desconocidos",
        "error_corto",
    )
    list_filter = ("cuenta", ProcesamientoFilter, "recibido_en")
    # The body holds the wamids and phones an operator looks for.
    search_fields = ("=sha256", "cuerpo")
    date_hierarchy = "recibido_en"
    show_full_result_count = False
    readonly_fields = (
        "cuenta",
        "recibido_en",
        "procesado_en",
        "eventos",
        "desconocidos",
        "error",
        "sha256",
        "cuerpo_legible",
    )
    fields = readonly_fields
    actions = ("reprocesar",)

    @admin.display(description=_("error"))
    def error_corto(self, obj: EventoWebhook) -> str:
        return Truncator(obj.error).chars(80) or "—"

    @admin.display(description=_("cuerpo"))
    def cuerpo_legible(self, obj: EventoWebhook) -> str:
        try:
            cuerpo = json.dumps(json.loads(obj.cuerpo), indent=2, ensure_ascii=False)
        except ValueError:
            cuerpo = obj.cuerpo
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', cuerpo)

    @admin.action(description=_("Reprocesar"), permissions=["reprocesar"])
    def reprocesar(self, request: HttpRequest, queryset: QuerySet[EventoWebhook]) -> None:
        resultado = store.reprocesar(queryset.values_list("pk", flat=True))
        mensaje = ngettext(
            "%(n)d evento de webhook procesado de nuevo.",
            "%(n)d eventos de webhook procesados de nuevo.",
            resultado.procesados,
        ) % {"n": resultado.procesados}
        self.message_user(request, mensaje, messages.SUCCESS)
        if resultado.con_error:
            self.message_user(request, _mensaje_con_error(resultado.con_error), messages.WARNING)

    def has_reprocesar_permission(self, request: HttpRequest) -> bool:
        return self.tiene_permiso_de_operar(request)


def _mensaje_con_error(cuantos: int) -> str:
    return ngettext(
        "%(n)d evento sigue con error; revisa su detalle.",
        "%(n)d eventos siguen con error; revisa su detalle.",
        cuantos,
    ) % {"n": cuantos}


@admin.register(Plantilla)
class PlantillaAdmin(SoloLecturaMixin, admin.ModelAdmin):
    """The template catalog, as synced from Meta (whatsapp_sync_plantillas and webhooks)."""

    list_display = (
        "nombre",
        "idioma",
        "cuenta",
        "categoria",
        "estado",
        "formato_encabezado",
        "parametros",
        "sincronizada_en",
    )
    list_filter = ("estado", "categoria", "idioma")
    search_fields = ("nombre", "=meta_id")
    readonly_fields = (
        "cuenta",
        "nombre",
        "idioma",
        "meta_id",
        "categoria",
        "estado",
        "motivo",
        "formato_encabezado",
        "formato_parametros",
        "parametros_cuerpo",
        "nombres_parametros",
        "cuerpo",
        "componentes",
        "sincronizada_en",
    )
    fields = readonly_fields

    @admin.display(description=_("parámetros del cuerpo"))
    def parametros(self, obj: Plantilla) -> str:
        if not obj.componentes:
            return "—"  # known from a status webhook only: not synced yet
        if obj.formato_parametros == "NAMED" and obj.nombres_parametros:
            return ", ".join(obj.nombres_parametros)
        return str(obj.parametros_cuerpo)
