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


# --- What a log may show of a request -----------------------------------------------------------
# Paths carry what people typed or were sent (a name in a 404, an unsubscribe token, which carries
# the patient's id) and query strings carry searches and `external_id`s. Every log the product
# writes (Django's handlers, gunicorn's access and error logs: clinic.gunicorn_conf) shows a
# request through the functions below: the route's own words kept, every id and everything typed
# masked, the query string dropped.

ID_MASK = "<id>"
TYPED_MASK = "…"
_MASKS = frozenset({ID_MASK, TYPED_MASK})
_ID = re.compile(r"[0-9]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}", re.IGNORECASE)
_ORIGIN = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?:[^/?#@\s]*@)?(?P<host>[^/?#\s]*)", re.IGNORECASE)
# "GET /r/unsubscribe/… HTTP/1.1", as servers log a request line (the target may hold spaces when
# a client sent a malformed line).
_REQUEST_LINE = re.compile(
    r"\b(?P<method>[A-Z]{3,10}) (?P<target>(?:/|\*|[a-z][a-z0-9+.-]*://).*?) (?P<version>HTTP/\d(?:\.\d)?)\b",
    re.IGNORECASE,
)
# A path or URL in free text: it starts a word (or follows a quote, "=", ":", a bracket or a comma).
_TARGET_IN_TEXT = re.compile(
    r"(?<![^\s\"'(\[<=:,])(?:[a-z][a-z0-9+.-]*://[^\s/?#\"']*(?:[/?#][^\s\"']*)?|/[^\s\"']*)", re.IGNORECASE
)


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


def _known_words() -> frozenset[str]:
    from django.apps import apps

    # Before Django is set up (a server's own start-up lines) no word is known: everything is masked.
    return _route_words() if apps.ready else frozenset()


def _mask(segment: str, words: frozenset[str]) -> str:
    if not segment or segment in words or segment in _MASKS:
        return segment
    return ID_MASK if _ID.fullmatch(segment) else TYPED_MASK


def redact_path(path: str) -> str:
    """A path as logs may show it: route words kept, ids and anything a caller typed masked
    (`/api/v1/patients/Jane/` → `/api/v1/patients/…/`, `/api/v1/patients/<uuid>/` →
    `/api/v1/patients/<id>/`, an unsubscribe link → `/r/unsubscribe/…/`). A query string, if the
    caller left one on, is dropped."""
    path = re.split(r"[?#]", path, maxsplit=1)[0]
    if path == "*":  # `OPTIONS *`
        return path
    words = _known_words()
    return "/".join(_mask(segment, words) for segment in path.split("/"))


def redact_target(target: str) -> str:
    """A request target or a URL (a Referer, a Location) as logs may show it: the scheme and host
    kept (credentials in it dropped), the path redacted, the query string and fragment dropped."""
    origin = _ORIGIN.match(target)
    if origin is None:
        return redact_path(target)
    return f"{origin['scheme']}{origin['host']}{redact_path(target[origin.end() :])}"


def redact_text(text: str) -> str:
    """A log message with every request line, URL and path in it redacted (`redact_target`)."""

    def request_line(match: re.Match[str]) -> str:
        return f"{match['method']} {redact_target(match['target'])} {match['version']}"

    text = _REQUEST_LINE.sub(request_line, text)
    return _TARGET_IN_TEXT.sub(lambda match: redact_target(match.group()), text)


# The loggers whose messages are about requests: Django's (django.request's "Not Found: <path>",
# django.security's, runserver's request lines) and gunicorn's.
_REQUEST_LOGGERS = ("django.request", "django.server", "django.security", "gunicorn.")


class DropRequestDetails(logging.Filter):
    """On every log handler of the product. Django attaches the request to its log records
    (`record.request`, whose repr carries the query string) and puts the raw path in their
    messages; servers log request lines. A record leaves with the method and the redacted path
    only (`redact_path`, `redact_text`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        path = None
        if request is not None and not isinstance(request, str):
            path = getattr(request, "path", None)
            if isinstance(path, str):
                record.request = f"<{getattr(request, 'method', '')} {redact_path(path)}>"
            else:  # runserver attaches its socket
                record.request = f"<{type(request).__name__}>"
        if path is None and not record.name.startswith(_REQUEST_LOGGERS):
            return True
        if isinstance(path, str) and isinstance(record.args, tuple):
            # The path as an argument ("Not Found: %s") is redacted whole: it may hold spaces.
            record.args = tuple(redact_path(path) if arg == path else arg for arg in record.args)
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):  # a malformed record: its bare format string
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = ()
        return True
