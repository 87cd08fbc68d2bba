"""`/patients/<id>/plan/print/`: the relapse-prevention plan the patient takes home, in their language.

Patient-facing words are translated here with plain dicts (as the reminder emails do,
aftercare/reminders/email.py): no gettext catalogue to compile. What the plan says is the
patient's own words, as staff typed them; only the headings are translated.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse

from aftercare.dashboard.pages import CARE_ROLES, show, staff_page
from aftercare.dashboard.patients.common import patient_of
from aftercare.selectors.patients import plan_current
from clinic.auth.caller import Caller

LANGUAGES = ("en", "es")

# The national lines, in every copy of the plan (US: 988 Suicide & Crisis Lifeline; SAMHSA's
# National Helpline for substance use, free and confidential, 24/7, English and Spanish).
CRISIS_LINE = "988"
SAMHSA_LINE = "1-800-662-4357"

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "My relapse-prevention plan",
        "for": "Plan for {name}",
        "warning_signs": "My warning signs",
        "warning_signs_hint": "When I notice these, I act on my plan.",
        "triggers": "My triggers",
        "coping": "What helps me cope",
        "routine": "My daily routine",
        "support": "My support people",
        "sponsor": "My sponsor",
        "emergency": "In an emergency",
        "who_to_call": "Who to call",
        "where_to_go": "Where to go",
        "what_to_do": "What to do",
        "crisis": "Crisis lines (free, 24 hours)",
        "crisis_988": "988 Suicide & Crisis Lifeline: call or text {crisis}",
        "samhsa": "SAMHSA National Helpline: {samhsa}",
        "clinic_phone": "{clinic}: {phone}",
        "emergency_911": "If you are in danger right now, call 911.",
        "none": "—",
        "print": "Print",
        "updated": "Updated {date}",
    },
    "es": {
        "title": "Mi plan de prevención de recaídas",
        "for": "Plan de {name}",
        "warning_signs": "Mis señales de alerta",
        "warning_signs_hint": "Cuando las noto, sigo mi plan.",
        "triggers": "Mis desencadenantes",
        "coping": "Lo que me ayuda a sobrellevarlo",
        "routine": "Mi rutina diaria",
        "support": "Mis personas de apoyo",
        "sponsor": "Mi padrino o madrina",
        "emergency": "En una emergencia",
        "who_to_call": "A quién llamar",
        "where_to_go": "Adónde ir",
        "what_to_do": "Qué hacer",
        "crisis": "Líneas de crisis (gratuitas, 24 horas)",
        "crisis_988": "988 Línea de Prevención del Suicidio y Crisis: llame o envíe un texto al {crisis}",
        "samhsa": "Línea Nacional de Ayuda de SAMHSA: {samhsa}",
        "clinic_phone": "{clinic}: {phone}",
        "emergency_911": "Si está en peligro ahora mismo, llame al 911.",
        "none": "—",
        "print": "Imprimir",
        "updated": "Actualizado el {date}",
    },
}

TRIGGER_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "stress": "Stress",
        "negative_emotions": "Negative emotions",
        "social_pressure": "Social pressure",
        "celebrations": "Celebrations",
        "pain_or_illness": "Physical pain or illness",
        "people_and_places": "People and places",
        "other": "",
    },
    "es": {
        "stress": "Estrés",
        "negative_emotions": "Emociones negativas",
        "social_pressure": "Presión social",
        "celebrations": "Celebraciones",
        "pain_or_illness": "Dolor físico o enfermedad",
        "people_and_places": "Personas y lugares",
        "other": "",
    },
}

_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
}  # fmt: skip


def sheet_strings(language: str, **values: str) -> dict[str, str]:
    """The headings in `language` (English for any other), placeholders filled from `values`."""
    strings = STRINGS[language if language in LANGUAGES else "en"]
    return {key: text.format(**values) if "{" in text else text for key, text in strings.items()}


def long_date(day: datetime.date | None, language: str) -> str:
    if day is None:
        return ""
    month = _MONTHS[language if language in LANGUAGES else "en"][day.month - 1]
    return f"{day.day} de {month} de {day.year}" if language == "es" else f"{day.day} {month} {day.year}"


def triggers_in(triggers: list[dict[str, Any]], language: str) -> list[str]:
    """Each trigger as a line: its kind in the patient's language, then the patient's words."""
    labels = TRIGGER_LABELS[language if language in LANGUAGES else "en"]
    result = []
    for trigger in triggers:
        label, description = labels.get(trigger.get("category", ""), ""), trigger.get("description", "")
        result.append(f"{label}: {description}" if label and description else label or description)
    return [line for line in result if line]


@staff_page(scopes=["patients:read", "plans:read"], roles=CARE_ROLES, object_type="dashboard.plan_sheet")
def plan_sheet(request: HttpRequest, caller: Caller, patient_id: uuid.UUID) -> HttpResponse:
    patient = patient_of(caller, patient_id)
    plan = plan_current(patient=patient)
    language = patient.preferred_language if patient.preferred_language in LANGUAGES else "en"
    clinic = caller.clinic
    updated = plan.updated_at.astimezone(clinic.zone).date() if plan else None
    text = sheet_strings(
        language,
        name=f"{patient.given_name} {patient.family_name}",
        crisis=CRISIS_LINE,
        samhsa=SAMHSA_LINE,
        clinic=clinic.display_name or clinic.name,
        phone=clinic.phone,
        date=long_date(updated, language),
    )
    context = {
        "patient": patient,
        "plan": plan,
        "language": language,
        "t": text,
        "triggers": triggers_in(plan.triggers if plan else [], language),
        "routine": [line.strip() for line in (plan.daily_routine if plan else "").splitlines() if line.strip()],
        "clinic_phone": clinic.phone,
    }
    return show(
        request,
        "dashboard/patients/plan_sheet.html",
        context,
        object_type="dashboard.plan_sheet",
        object_ids=[plan.pk if plan else patient.pk],
        patient_ids=[patient.pk],
    )
