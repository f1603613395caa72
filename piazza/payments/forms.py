"""Forms of the payment pages. The card fields of the sandbox live with its provider."""

from __future__ import annotations

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _


class IdempotencyForm(forms.Form):
    """Every pay form carries a one-time key: a double click or a replayed POST pays once."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if not self.is_bound:
            self.initial["idempotency_key"] = uuid.uuid4().hex

    def clean_idempotency_key(self) -> str:
        value = str(self.cleaned_data["idempotency_key"])
        if not value.isalnum():
            raise forms.ValidationError("invalid key")
        return value


def pay_form_class(provider_form: type[forms.Form] | None) -> type[forms.Form]:
    if provider_form is None:
        return IdempotencyForm
    return type("PayForm", (IdempotencyForm, provider_form), {})


class PayerLinkForm(forms.Form):
    """ "Ricevi via email il link ai tuoi pagamenti": the only way to the payer page (convention 16)."""

    email = forms.EmailField(label=_("La tua email"), max_length=254)


class MethodForm(IdempotencyForm):
    """The method step: one radio per method offered for this payment (`payments.methods`)."""

    method = forms.ChoiceField(
        label=_("Come vuoi pagare?"),
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Scegli come vuoi pagare."),
            "invalid_choice": _("Questo metodo non è disponibile: scegline uno dell'elenco."),
        },
    )

    def __init__(self, *args: object, methods: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["method"].choices = methods  # type: ignore[attr-defined]
