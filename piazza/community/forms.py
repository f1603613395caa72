from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class SignInForm(forms.Form):
    email = forms.EmailField(
        label=_("Il tuo indirizzo email"),
        max_length=254,
        # "webauthn": the browser may offer the person's passkeys right in this field (conditional UI).
        widget=forms.EmailInput(attrs={"autocomplete": "email webauthn", "inputmode": "email"}),
        error_messages={
            "required": _("Scrivi il tuo indirizzo email."),
            "invalid": _("Scrivi un indirizzo email valido, come nome@esempio.it."),
        },
    )


class EmailChangeForm(forms.Form):
    email = forms.CharField(
        label=_("Nuovo indirizzo email"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label=_("Numero di telefono"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
        help_text=_("Lascia vuoto per toglierlo."),
    )


class RectificationForm(forms.Form):
    first_name = forms.CharField(label=_("Nome corretto"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Cognome corretto"), max_length=100, required=False)
    codice_fiscale = forms.CharField(label=_("Codice fiscale corretto"), max_length=16, required=False)
    birth_date = forms.CharField(
        label=_("Data di nascita corretta"), max_length=20, required=False, help_text=_("Per esempio 31/12/1990.")
    )
    birth_place = forms.CharField(label=_("Luogo di nascita corretto"), max_length=100, required=False)
    note = forms.CharField(
        label=_("Vuoi aggiungere qualcosa?"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class PasskeyNameForm(forms.Form):
    """The name of a passkey being added (the ceremony itself is the page's script)."""

    name = forms.CharField(
        label=_("Nome della passkey"),
        max_length=60,
        help_text=_("Per riconoscerla in questo elenco, per esempio «Telefono» o «Computer di casa»."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
