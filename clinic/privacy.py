"""What a patient's email may say. Anyone may read it: a housemate, a family member, an
employer's shared computer. So text that reaches a patient (the clinic's display and sender names,
a session's place and link) must not name the kind of care, a medication or a diagnosis."""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

# Lowercase. Entries of three letters or fewer match whole words only ("na" must not flag
# "Nashville"); longer ones also match as the start of a word ("counsel" flags "counselling");
# entries of several words match as a phrase. Accents are ignored when matching.
FORBIDDEN_WORDS: tuple[str, ...] = (
    # English
    "addiction",
    "addict",
    "substance",
    "recovery",
    "smart recovery",
    "relapse",
    "rehab",
    "detox",
    "treatment",
    "therapy",
    "therap",
    "methadone",
    "buprenorphine",
    "suboxone",
    "sublocade",
    "naltrexone",
    "vivitrol",
    "opioid",
    "opiate",
    "narcotic",
    "overdose",
    "withdrawal",
    "abstinence",
    "sober",
    "sobriety",
    "alcohol",
    "drug",
    "sud",
    "aa",
    "na",
    "psychiatr",
    "psycholog",
    "counsel",
    "medicat",
    "diagnos",
    "mental health",
    # Spanish
    "adicción",
    "adicciones",
    "adicto",
    "sustancia",
    "recuperación",
    "recaída",
    "rehabilitación",
    "desintoxicación",
    "tratamiento",
    "terapia",
    "terapeut",
    "metadona",
    "buprenorfina",
    "naltrexona",
    "opioide",
    "opiáceo",
    "narcótico",
    "sobredosis",
    "abstinencia",
    "sobriedad",
    "sobrio",
    "droga",
    "psiquiatr",
    "psicólog",
    "consejer",
    "medicación",
    "medicament",
    "diagnóstic",
    "salud mental",
)


def _fold(text: str) -> str:
    """Lowercase without accents, so "adicción" and "ADICCION" are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


_FORBIDDEN_PARTS = tuple((word, tuple(_fold(word).split())) for word in FORBIDDEN_WORDS)
_WORD = re.compile(r"[^\W_]+")


def _part_matches(token: str, part: str) -> bool:
    return token == part if len(part) <= 3 else token.startswith(part)


def forbidden_words_in(text: str) -> list[str]:
    """The entries of `FORBIDDEN_WORDS` that occur in `text` (empty when it is safe to send)."""
    return list(_forbidden_words_in(text))


@functools.lru_cache(maxsize=4096)  # every reminder checks its clinic's names: the same few strings
def _forbidden_words_in(text: str) -> tuple[str, ...]:
    tokens = _WORD.findall(_fold(text))
    found = []
    for word, parts in _FORBIDDEN_PARTS:
        width = len(parts)
        for start in range(len(tokens) - width + 1):
            if all(
                _part_matches(token, part) for token, part in zip(tokens[start : start + width], parts, strict=True)
            ):
                found.append(word)
                break
    return tuple(found)


@deconstructible
class PatientVisibleValidator:
    """For fields that reminder emails show to patients. A class rather than a function so the
    OpenAPI schema can list its error code on every field that uses it."""

    code = "not_neutral"

    def __call__(self, value: str) -> None:
        found = forbidden_words_in(value)
        if found:
            raise ValidationError(
                "Patients see this in reminder emails, which others may read; it must not say %(words)s.",
                code=self.code,
                params={"words": ", ".join(f'"{word}"' for word in found)},
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PatientVisibleValidator)

    def __hash__(self) -> int:
        return hash(self.code)


validate_patient_visible = PatientVisibleValidator()


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


@functools.cache
def _route_words() -> frozenset[str]:
    """Every literal word of the URL configuration ("api", "patients", "attendance", …)."""
    from django.urls import URLResolver, get_resolver

    words: set[str] = set()

    def walk(patterns: list[Any]) -> None:
        for pattern in patterns:
            words.update(re.findall(r"[A-Za-z][A-Za-z0-9_-]*", str(pattern.pattern)))
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)

    walk(get_resolver().url_patterns)
    return frozenset(words)


def redact_path(path: str) -> str:
    """A path as logs may show it: route words and ids kept, anything a caller typed in replaced
    (`/api/v1/patients/Jane/` → `/api/v1/patients/…/`)."""
    words = _route_words()
    return "/".join(
        segment if not segment or segment in words or _UUID.match(segment) else "…" for segment in path.split("/")
    )


class DropRequestDetails(logging.Filter):
    """Django attaches the request to its log records (`record.request`), and its repr carries the
    query string: an `external_id`, a name typed into a search. No handler of ours needs it, so
    every handler gets this filter: a record leaves with the method and the redacted path only."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if request is not None and not isinstance(request, str):
            record.request = f"<{request.method} {redact_path(request.path)}>"
            # django.request's own message ("Not Found: %s") is the path: redacted the same way.
            if isinstance(record.args, tuple) and request.path in record.args:
                record.args = tuple(redact_path(str(arg)) if arg == request.path else arg for arg in record.args)
        return True
