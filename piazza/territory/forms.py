from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from piazza.territory.models import Kind, Role


class TerritoryForm(forms.Form):
    name = forms.CharField(label=_("Nome"), max_length=150)
    kind = forms.ChoiceField(label=_("Tipo"), choices=Kind.choices)
    comuni = forms.CharField(
        label=_("Comuni coperti (codici ISTAT)"),
        required=False,
        help_text=_(
            "Solo per i circoli territoriali: codici ISTAT a 6 cifre separati da virgola, ad es. 037006 per Bologna."
        ),
    )

    def __init__(self, *args: object, kinds: list[str] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if kinds is not None:
            self.fields["kind"].choices = [(k, v) for k, v in Kind.choices if k in kinds]  # type: ignore[attr-defined]

    def comuni_codes(self) -> list[str]:
        return [c.strip() for c in self.cleaned_data.get("comuni", "").split(",") if c.strip()]


class AreaForm(forms.Form):
    comuni = TerritoryForm.base_fields["comuni"]


class RoleForm(forms.Form):
    username = forms.CharField(label=_("Nome utente dell'incaricato"), max_length=150)
    role = forms.ChoiceField(label=_("Ruolo"), choices=Role.choices)

    def clean_username(self) -> object:
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(
                _("Nessun utente attivo si chiama «%(username)s». Controlla il nome o crea prima l'utente.")
                % {"username": username}
            )
        return user
