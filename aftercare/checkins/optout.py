"""The one-click opt-out in every check-in email: stops check-ins for one patient, nothing else
(reminders are a choice of their own). GET asks (mail scanners follow links), POST opts out; an
RFC 8058 one-click POST from a mail provider means the same. The page shows the clinic's public
name and nothing about the patient; the token is kept out of logs as the check-in link's is."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from aftercare.checkins.http import private, unlogged
from aftercare.checkins.links import patient_id_from_opt_out_token
from aftercare.services.checkins import patient_checkins_opt_out
from clinic.models import Patient

_TEMPLATE = "aftercare/reminders/unsubscribe.html"  # the same plain page as the reminders' opt-out

_PAGES: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "confirm": {
            "title": "Stop check-ins",
            "text": "Do you want to stop receiving check-ins from {clinic}? Reminders are not affected.",
            "button": "Stop check-ins",
        },
        "done": {
            "title": "Check-ins stopped",
            "text": "You will not receive more check-ins from {clinic}.",
            "more": "If you change your mind, please contact {clinic}.",
        },
        "already": {
            "title": "Check-ins already stopped",
            "text": "You already stopped check-ins: you will not receive more from {clinic}.",
            "more": "If you change your mind, please contact {clinic}.",
        },
    },
    "es": {
        "confirm": {
            "title": "Dejar de recibir seguimientos",
            "text": "¿Desea dejar de recibir los seguimientos de {clinic}? Los recordatorios no cambian.",
            "button": "Dejar de recibirlos",
        },
        "done": {
            "title": "Ya no recibirá seguimientos",
            "text": "No recibirá más seguimientos de {clinic}.",
            "more": "Si cambia de opinión, comuníquese con {clinic}.",
        },
        "already": {
            "title": "Ya había dejado de recibirlos",
            "text": "Ya había dejado de recibir los seguimientos: no recibirá más de {clinic}.",
            "more": "Si cambia de opinión, comuníquese con {clinic}.",
        },
    },
}

_INVALID = {
    "title": "This link is not valid · Este enlace no es válido",
    "paragraphs": [
        "This link is not valid. To stop receiving check-ins, please contact your clinic.",
        "Este enlace no es válido. Para dejar de recibir seguimientos, comuníquese con su clínica.",
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
    return private(render(request, _TEMPLATE, context))


# CSRF-exempt for the reasons the reminders' unsubscribe link is (aftercare/reminders/unsubscribe.py).
@csrf_exempt
@never_cache
def checkins_opt_out(request: HttpRequest, token: str) -> HttpResponse:
    if request.method not in {"GET", "HEAD", "POST"}:
        return unlogged(HttpResponseNotAllowed(["GET", "HEAD", "POST"]))
    patient_id = patient_id_from_opt_out_token(token)
    patient = None
    if patient_id is not None:
        patient = Patient.objects.select_related("clinic").filter(pk=patient_id).first()
    if patient is None:
        return unlogged(render(request, _TEMPLATE, {**_INVALID, "language": "en"}, status=404))
    if request.method == "POST":
        changed = patient_checkins_opt_out(patient=patient)
        return _page(request, patient, "done" if changed else "already")
    return _page(request, patient, "confirm" if patient.checkins_opt_in else "already")
