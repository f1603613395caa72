from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class OTPCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Codice di verifica"),
        max_length=16,
        help_text=_("Le 6 cifre dell'app di autenticazione, oppure un codice di riserva."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )

    def clean_code(self) -> str:
        return str(self.cleaned_data["code"]).replace(" ", "").strip()
