"""Lengths of time picked by name: forms offer "4 hours", the database keeps 14400."""

from typing import Any

from django import forms

from core import humanize


class DurationField(forms.TypedChoiceField):
    """A length of time picked from `presets` ("15 minutes" … "12 hours"), cleaned to
    seconds. `zero_label` names 0 ("Never"); `blank_label` offers an empty choice."""

    def __init__(
        self,
        *,
        presets: list[int],
        zero_label: str = "",
        blank_label: str = "",
        **kwargs: Any,
    ) -> None:
        self.presets, self.zero_label, self.blank_label = list(presets), zero_label, blank_label
        kwargs.setdefault("empty_value", None)
        super().__init__(choices=self._named(self.presets), coerce=int, **kwargs)

    def _named(self, values: list[int]) -> list[tuple[Any, str]]:
        choices: list[tuple[Any, str]] = [
            (
                seconds,
                self.zero_label if seconds == 0 and self.zero_label else humanize.duration(seconds),
            )
            for seconds in sorted(set(values))
        ]
        return [("", self.blank_label), *choices] if self.blank_label else choices

    def offer(self, value: Any) -> None:
        """Offer `value` too when it is no preset (saved earlier, or set from the command
        line), so opening a page and saving it changes nothing."""
        try:
            seconds = int(value)
        except (TypeError, ValueError):
            return
        if seconds not in self.presets:
            self.choices = self._named([*self.presets, seconds])


def offer_saved_durations(form: forms.BaseForm) -> None:
    """Offer each duration field's saved value among its choices."""
    for name, field in form.fields.items():
        if isinstance(field, DurationField):
            field.offer(form.initial.get(name))
