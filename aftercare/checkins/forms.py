"""The check-in form: one radio group per item (a fieldset and its legend), the "call me" box.

Every item must be answered: an unanswered one is named in the message, and the form is shown
again with the other answers kept. Nothing is stored until every answer is valid."""

from __future__ import annotations

from typing import Any

from django import forms

from aftercare.checkins.instrument import ITEMS, MOOD_ITEMS, TEXT, Answers


def _label(name: str, strings: dict[str, str]) -> str:
    # The mood items share a lead-in; each legend is still a whole question for a screen reader.
    return f"{strings['mood']} {strings[name]}" if name in MOOD_ITEMS else strings[name]


class CheckInForm(forms.Form):
    def __init__(self, *args: Any, language: str, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "item-%s")
        super().__init__(*args, **kwargs)
        strings = TEXT[language]
        for item in ITEMS:
            label = _label(item.name, strings)
            if item.kind == "days":
                choices = [(str(days), str(days)) for days in range(item.top + 1)]
            else:
                choices = [(str(level), f"{level} · {strings[f'scale_{level}']}") for level in range(item.top + 1)]
            message = strings["required"].format(question=label)
            self.fields[item.name] = forms.TypedChoiceField(
                label=label,
                choices=choices,
                coerce=int,
                widget=forms.RadioSelect,
                error_messages={"required": message, "invalid_choice": message},
            )
            self.fields[item.name].kind = item.kind  # type: ignore[attr-defined]
        self.fields["wants_call"] = forms.BooleanField(label=strings["wants_call"], required=False)

    def answers(self) -> Answers:
        """The valid answers (call only once `is_valid()` is true)."""
        data = self.cleaned_data
        return Answers(**{item.name: data[item.name] for item in ITEMS}, wants_call=bool(data["wants_call"]))
