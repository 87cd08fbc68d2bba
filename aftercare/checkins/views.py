"""The check-in page a patient opens from the email: no sign-in, the signed token is the key.

GET shows the questions (and changes nothing: mail scanners follow links); POST stores the
answers and shows a thank-you page. A link that is not ours, or names no check-in, is 404; one
that has expired, was already answered, was cancelled or belongs to a patient who opted out is
410 (gone, so a crawler stops asking). Those pages are the same for everyone, in both languages:
they reveal neither the patient nor the clinic.

The path holds the token: it is never logged (`clinic.privacy.redact_path` masks it, and a
refusal is marked as already logged so Django's request logger skips it), never cached, and never
sent on as a Referer.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from aftercare.checkins.forms import CheckInForm
from aftercare.checkins.http import private, unlogged
from aftercare.checkins.instrument import MOOD_ITEMS, TEXT
from aftercare.checkins.links import LinkExpired, checkin_id_from_token
from aftercare.models import CheckIn
from aftercare.services.checkins import CheckInClosed, checkin_answer, checkin_open_or_raise

_PAGE = "aftercare/checkins/page.html"
_MESSAGE = "aftercare/checkins/message.html"

_STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "A quick check-in from {clinic}",
        "intro": "These questions are about the past 7 days. Your answers go only to {clinic}.",
        "mood": TEXT["en"]["mood"],
        "submit": "Send my answers",
        "errors": "Some answers are missing:",
        "done_title": "Thank you",
        "done_text": "Your answers were sent to {clinic}.",
        "done_call": "Someone from {clinic} will call you.",
    },
    "es": {
        "title": "Un breve seguimiento de {clinic}",
        "intro": "Estas preguntas son sobre los últimos 7 días. Sus respuestas solo llegan a {clinic}.",
        "mood": TEXT["es"]["mood"],
        "submit": "Enviar mis respuestas",
        "errors": "Faltan algunas respuestas:",
        "done_title": "Gracias",
        "done_text": "Sus respuestas se enviaron a {clinic}.",
        "done_call": "Alguien de {clinic} le llamará.",
    },
}

# We may not know whose link it is (or may not say): both languages, no clinic, no patient.
_REFUSALS = {
    "invalid": {
        "title": "This link is not valid · Este enlace no es válido",
        "paragraphs": [
            "This link is not valid. If you need anything, please contact your clinic.",
            "Este enlace no es válido. Si necesita algo, comuníquese con su clínica.",
        ],
    },
    "closed": {
        "title": "This check-in is closed · Este seguimiento está cerrado",
        "paragraphs": [
            "This check-in is closed: it has already been answered, or it is no longer open. "
            "If you need anything, please contact your clinic.",
            "Este seguimiento está cerrado: ya se respondió o ya no está abierto. "
            "Si necesita algo, comuníquese con su clínica.",
        ],
    },
}


def _refused(request: HttpRequest, kind: str) -> HttpResponse:
    status = 404 if kind == "invalid" else 410
    return unlogged(render(request, _MESSAGE, {**_REFUSALS[kind], "language": "en"}, status=status))


def _language(checkin: CheckIn) -> str:
    language = checkin.patient.preferred_language
    return language if language in _STRINGS else "en"


def _form_page(request: HttpRequest, checkin: CheckIn, form: CheckInForm) -> HttpResponse:
    language = _language(checkin)
    strings = _STRINGS[language]
    clinic = checkin.clinic.public_name
    fields = list(form)
    context: dict[str, Any] = {
        "language": language,
        "title": strings["title"].format(clinic=clinic),
        "intro": strings["intro"].format(clinic=clinic),
        "mood_heading": strings["mood"],
        "before_mood": [field for field in fields if field.name in {"use_days", "craving", "sleep_trouble_days"}],
        "mood": [field for field in fields if field.name in MOOD_ITEMS],
        "after_mood": [field for field in fields if field.name in {"confidence", "support", "meeting_days"}],
        "wants_call": form["wants_call"],
        "errors_heading": strings["errors"],
        "form": form,
        "submit": strings["submit"],
    }
    return private(render(request, _PAGE, context))


def _done(request: HttpRequest, checkin: CheckIn, wants_call: bool) -> HttpResponse:
    language = _language(checkin)
    strings = _STRINGS[language]
    clinic = checkin.clinic.public_name
    paragraphs = [strings["done_text"].format(clinic=clinic)]
    if wants_call:
        paragraphs.append(strings["done_call"].format(clinic=clinic))
    context = {"language": language, "title": strings["done_title"], "paragraphs": paragraphs}
    return private(render(request, _MESSAGE, context))


def _checkin(token: str, now: datetime.datetime) -> CheckIn | str:
    """The open check-in the token names, or why there is none ("invalid" or "closed")."""
    try:
        checkin_id = checkin_id_from_token(token)
    except LinkExpired:
        return "closed"
    if checkin_id is None:
        return "invalid"
    found = CheckIn.objects.select_related("patient", "clinic").filter(pk=checkin_id).first()
    if found is None:
        return "invalid"
    try:
        return checkin_open_or_raise(found, now=now)
    except CheckInClosed:
        return "closed"


# CSRF-exempt, as the unsubscribe link: the signed token in the URL is the credential, there is no
# session or cookie a forged request could ride on, and a forged POST needs the token itself.
@csrf_exempt
@never_cache
def checkin_page(request: HttpRequest, token: str) -> HttpResponse:
    if request.method not in {"GET", "HEAD", "POST"}:
        return unlogged(HttpResponseNotAllowed(["GET", "HEAD", "POST"]))
    now = timezone.now()
    found = _checkin(token, now)
    if isinstance(found, str):
        return _refused(request, found)
    language = _language(found)
    if request.method != "POST":
        return _form_page(request, found, CheckInForm(language=language))
    form = CheckInForm(request.POST, language=language)
    if not form.is_valid():
        # Shown again with 200, as every form of the product is: the browser is the patient's, and
        # an error status on the page they must correct only makes it log an error of its own.
        return _form_page(request, found, form)
    try:
        # The row the token names, and only it, locked while it is answered.
        checkin_answer(checkin_id=found.pk, answers=form.answers(), now=now)
    except CheckInClosed:
        return _refused(request, "closed")
    return _done(request, found, form.cleaned_data["wants_call"])
