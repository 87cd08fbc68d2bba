"""The check-in's questions and how the answers are scored.

Adapted from the Brief Addiction Monitor (BAM; Cacciola et al. 2013, J Subst Abuse Treat 44:256),
which the US Department of Veterans Affairs published for public use. The BAM asks about the past
30 days; a weekly check-in asks about the past 7, so its "how many days" items count 0-7 days.
Its 0-4 items keep the BAM's scale: 0 not at all, 1 slightly, 2 moderately, 3 considerably,
4 extremely.

Items kept (BAM item in brackets): days of drinking or using [4, 6]; craving [8]; nights of
trouble sleeping [2]; mood [3]; confidence in not drinking or using [9]; support from family and
friends [16, as a 0-4 rating]; days of self-help or support meetings [10]; and a request to be
called, which the BAM does not have and a clinic acts on.

Mood is asked as days (0-7) for each of feeling low or depressed, anxious, and angry: the BAM's
own mood item counts days, a day is something a patient can recall rather than a severity they
must judge, and counting days puts mood, sleep and use on one unit in the trend staff read.

The wording is neutral on purpose: it never names a substance, a treatment or a diagnosis
(`clinic.privacy.FORBIDDEN_WORDS`), since anyone looking over the patient's shoulder reads it too.
"drink or use" is understood by the people who are asked it.

Scores, in the BAM's manner (its risk and protective factor scores sum items on a 0-4 scale;
a days item is first banded onto that scale):
- days → 0-4: 0 days → 0, 1 → 1, 2-3 → 2, 4-5 → 3, 6-7 → 4 (the BAM's 30-day bands,
  0 / 1-3 / 4-8 / 9-15 / 16-30, scaled to a week);
- `risk_score` (0-12) = band(sleep_trouble_days) + band(max(low_mood_days, anxious_days,
  angry_days)) + craving: the BAM risk factors this check-in asks (sleep, mood, craving; the BAM's
  single mood item is the worst of the three);
- `protective_score` (0-12) = confidence + band(meeting_days) + support: the BAM protective
  factors it asks (confidence, self-help, supportive family and friends);
- `use_days` (0-7), `craving` (0-4) and `confidence` (0-4) are read as answered: the BAM reports
  use on its own, not inside either score.
"""

from __future__ import annotations

from dataclasses import dataclass

from aftercare.models.checkins import DAYS_MAX, SCALE_MAX

VERSION = "bam-adapted-1"


@dataclass(frozen=True)
class Item:
    name: str  # the CheckInResponse column
    kind: str  # "days" (0-7) or "scale" (0-4)

    @property
    def top(self) -> int:
        return DAYS_MAX if self.kind == "days" else SCALE_MAX


ITEMS: tuple[Item, ...] = (
    Item("use_days", "days"),
    Item("craving", "scale"),
    Item("sleep_trouble_days", "days"),
    Item("low_mood_days", "days"),
    Item("anxious_days", "days"),
    Item("angry_days", "days"),
    Item("confidence", "scale"),
    Item("support", "scale"),
    Item("meeting_days", "days"),
)
ITEM_NAMES = tuple(item.name for item in ITEMS)
# The mood items are asked together, under one heading.
MOOD_ITEMS = ("low_mood_days", "anxious_days", "angry_days")

# What the patient reads, per language. Each question names its period; scale labels are the BAM's.
TEXT: dict[str, dict[str, str]] = {
    "en": {
        "use_days": "On how many of the past 7 days did you drink or use?",
        "craving": "In the past 7 days, how much were you bothered by urges to drink or use?",
        "sleep_trouble_days": "On how many of the past 7 nights did you have trouble falling or staying asleep?",
        "mood": "On how many of the past 7 days did you feel…",
        "low_mood_days": "low or depressed?",
        "anxious_days": "anxious or worried?",
        "angry_days": "angry or irritable?",
        "confidence": "How confident are you that you will not drink or use in the next 7 days?",
        "support": "In the past 7 days, how much support did you get from family or friends?",
        "meeting_days": "On how many of the past 7 days did you go to a self-help or support meeting?",
        "wants_call": "I would like someone from the clinic to call me",
        "days_unit": "days",
        "scale_0": "Not at all",
        "scale_1": "Slightly",
        "scale_2": "Moderately",
        "scale_3": "Considerably",
        "scale_4": "Extremely",
        "required": "Please answer: {question}",
    },
    "es": {
        "use_days": "¿Cuántos de los últimos 7 días bebió o consumió?",
        "craving": "En los últimos 7 días, ¿cuánto le molestaron las ganas de beber o consumir?",
        "sleep_trouble_days": "¿Cuántas de las últimas 7 noches tuvo problemas para dormirse o seguir dormido?",
        "mood": "¿Cuántos de los últimos 7 días se sintió…",
        "low_mood_days": "decaído o deprimido?",
        "anxious_days": "ansioso o preocupado?",
        "angry_days": "enojado o irritable?",
        "confidence": "¿Qué tan seguro está de que no beberá ni consumirá en los próximos 7 días?",
        "support": "En los últimos 7 días, ¿cuánto apoyo recibió de su familia o amigos?",
        "meeting_days": "¿Cuántos de los últimos 7 días fue a una reunión de autoayuda o de apoyo?",
        "wants_call": "Me gustaría que alguien de la clínica me llamara",
        "days_unit": "días",
        "scale_0": "Nada",
        "scale_1": "Un poco",
        "scale_2": "Moderadamente",
        "scale_3": "Bastante",
        "scale_4": "Muchísimo",
        "required": "Responda, por favor: {question}",
    },
}


def band(days: int) -> int:
    """A count of days in the past week on the BAM's 0-4 scale."""
    if days <= 0:
        return 0
    if days == 1:
        return 1
    if days <= 3:
        return 2
    if days <= 5:
        return 3
    return 4


@dataclass(frozen=True)
class Answers:
    """One complete, in-range set of answers (the form refuses anything else)."""

    use_days: int
    craving: int
    sleep_trouble_days: int
    low_mood_days: int
    anxious_days: int
    angry_days: int
    confidence: int
    support: int
    meeting_days: int
    wants_call: bool

    def __post_init__(self) -> None:
        for item in ITEMS:
            value = getattr(self, item.name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= item.top:
                raise ValueError(f"{item.name} must be a whole number from 0 to {item.top}")

    @property
    def risk_score(self) -> int:
        worst_mood = max(self.low_mood_days, self.anxious_days, self.angry_days)
        return band(self.sleep_trouble_days) + band(worst_mood) + self.craving

    @property
    def protective_score(self) -> int:
        return self.confidence + band(self.meeting_days) + self.support
