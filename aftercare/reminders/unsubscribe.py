"""The unsubscribe link in every reminder: a signed token in the URL, a page, and the opt-out.

The token is the only credential: patients never sign in. It can do exactly one thing, stop
reminders for one patient, so leaking one costs at most a patient's reminders, never their data.
The page shows the clinic's public name and nothing about the patient.

Neither the token nor the patient id is ever logged: a token carries the patient id (signed, not
encrypted), and a request log must not tie a clinic to a person.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from aftercare.services.reminders import reminders_sync_patient
from clinic.models import Patient

# Its own salt, so a signature made for any other purpose never validates as an unsubscribe token.
_SALT = "aftercare.reminders.unsubscribe"
# "." rather than ":" keeps the URL free of characters some mail clients refuse to link.
_SEPARATOR = "."
# Real tokens are about 76 characters: anything much longer is not worth verifying.
_MAX_TOKEN_LENGTH = 200
UNSUBSCRIBE_PATH = "/r/unsubscribe/"


def _signer() -> signing.Signer:
    # No expiry: a patient may open a months-old reminder, and mail providers expect a
    # List-Unsubscribe link to keep working for as long as the message exists. An expired link
    # would make withdrawing consent harder, while an old token can still only opt out.
    # Rotating SECRET_KEY (with SECRET_KEY_FALLBACKS) keeps old links valid until the fallback goes.
    return signing.Signer(salt=_SALT, sep=_SEPARATOR)


def unsubscribe_token(patient_id: uuid.UUID) -> str:
    return _signer().sign(patient_id.hex)


def patient_id_from_token(token: str) -> uuid.UUID | None:
    """The patient a token was made for, or None when it was not made by `unsubscribe_token`."""
    if len(token) > _MAX_TOKEN_LENGTH:
        return None
    try:
        return uuid.UUID(hex=_signer().unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def unsubscribe_url(patient_id: uuid.UUID) -> str:
    """The absolute link for reminders and their List-Unsubscribe header: on the deployment's public
    address (the settings require one outside debug), never on the host a request named."""
    base = str(settings.AFTERCARE_PUBLIC_URL).rstrip("/")
    return f"{base}{UNSUBSCRIBE_PATH}{unsubscribe_token(patient_id)}/"


@transaction.atomic
def patient_reminders_opt_out(*, patient: Patient) -> bool:
    """Stop reminders for `patient`. Returns True if this changed anything, False if already out."""
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    patient.reminders_opt_in = False
    if not locked.reminders_opt_in:
        return False
    locked.reminders_opt_in = False
    locked.save(update_fields=["reminders_opt_in", "updated_at"])
    reminders_sync_patient(patient=locked)  # the pending rows are cancelled, not left to dispatch
    patient.updated_at = locked.updated_at
    return True


# What the page says, per language. Only the clinic's public name is filled in.
_PAGES: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "confirm": {
            "title": "Unsubscribe from reminders",
            "text": "Do you want to stop receiving appointment reminders from {clinic}?",
            "button": "Unsubscribe",
        },
        "done": {
            "title": "You are unsubscribed",
            "text": "You will not receive more reminders from {clinic}.",
            "more": "If you change your mind, please contact {clinic}.",
        },
        "already": {
            "title": "Already unsubscribed",
            "text": "You are already unsubscribed: you will not receive more reminders from {clinic}.",
            "more": "If you change your mind, please contact {clinic}.",
        },
    },
    "es": {
        "confirm": {
            "title": "Dejar de recibir recordatorios",
            "text": "¿Desea dejar de recibir los recordatorios de citas de {clinic}?",
            "button": "Darme de baja",
        },
        "done": {
            "title": "Se ha dado de baja",
            "text": "No recibirá más recordatorios de {clinic}.",
            "more": "Si cambia de opinión, comuníquese con {clinic}.",
        },
        "already": {
            "title": "Ya se había dado de baja",
            "text": "Ya se había dado de baja: no recibirá más recordatorios de {clinic}.",
            "more": "Si cambia de opinión, comuníquese con {clinic}.",
        },
    },
}

# When the token is bad we do not know the patient, so we do not know their language: say it twice.
_INVALID = {
    "title": "This link is not valid · Este enlace no es válido",
    "paragraphs": [
        "This link is not valid. To stop receiving reminders, please contact your clinic.",
        "Este enlace no es válido. Para dejar de recibir recordatorios, comuníquese con su clínica.",
    ],
}


def _page(request: HttpRequest, patient: Patient, state: str) -> HttpResponse:
    language = patient.preferred_language if patient.preferred_language in _PAGES else "en"
    strings = _PAGES[language][state]
    clinic = patient.clinic.public_name
    context = {
        "language": language,
        "title": strings["title"],
        "paragraphs": [strings[key].format(clinic=clinic) for key in ("text", "more") if key in strings],
        "button": strings.get("button", ""),
    }
    return _private(render(request, "aftercare/reminders/unsubscribe.html", context))


def _private(response: HttpResponse) -> HttpResponse:
    # The URL holds the token: no Referer may carry it elsewhere, and no search engine may keep it.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _unlogged(response: HttpResponse) -> HttpResponse:
    # Django logs every 4xx with the request path, and here the path is the token (which carries
    # the patient id). The flag is Django's own "already logged" marker, so it skips that line.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return _private(response)


# CSRF-exempt: the signed token in the URL is the credential, there is no session or cookie for a
# forged request to ride on, and RFC 8058 one-click POSTs come from mail providers, which cannot
# send a CSRF token. The worst a cross-site POST can do is what the link itself does.
@csrf_exempt
@never_cache
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation form and changes nothing (mail scanners follow links); POST opts out."""
    if request.method not in {"GET", "HEAD", "POST"}:
        return _unlogged(HttpResponseNotAllowed(["GET", "HEAD", "POST"]))
    patient_id = patient_id_from_token(token)
    patient = None
    if patient_id is not None:
        patient = Patient.objects.select_related("clinic").filter(pk=patient_id).first()
    if patient is None:
        return _unlogged(
            render(request, "aftercare/reminders/unsubscribe.html", {**_INVALID, "language": "en"}, status=400)
        )
    if request.method == "POST":
        # The body is ignored: the form and an RFC 8058 "List-Unsubscribe=One-Click" mean the same.
        changed = patient_reminders_opt_out(patient=patient)
        return _page(request, patient, "done" if changed else "already")
    return _page(request, patient, "confirm" if patient.reminders_opt_in else "already")


urlpatterns = [
    path("<str:token>/", unsubscribe, name="reminders-unsubscribe"),
]
