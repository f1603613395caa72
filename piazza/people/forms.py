"""Forms of the people back office; validation messages come from `validation.py` via the actions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from piazza.people.imports import FIELDS
from piazza.people.models import Citizenship, Purpose
from piazza.people.queries import RELATIONS
from piazza.territory.models import Level, Territory


def territories_in_scope(paths: list[str], level: str | None = None) -> Any:
    from django.db.models import Q

    condition = Q(pk__in=[])
    for path in paths:
        condition |= Q(path__startswith=path)
    qs = Territory.objects.open().filter(condition)
    return qs.filter(level=level) if level else qs


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Cerca (nome, codice fiscale, email, telefono)"), required=False)
    territory = forms.ModelChoiceField(label=_("Territorio"), queryset=Territory.objects.none(), required=False)
    tags = forms.CharField(label=_("Etichette (separate da virgola)"), required=False)
    consent = forms.ChoiceField(label=_("Con consenso per"), required=False, choices=[("", "—"), *Purpose.choices])
    age_min = forms.IntegerField(label=_("Età minima"), required=False, min_value=0, max_value=120)
    age_max = forms.IntegerField(label=_("Età massima"), required=False, min_value=0, max_value=120)
    relation = forms.ChoiceField(label=_("Relazione"), required=False)

    def __init__(self, *args: Any, paths: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories_in_scope(paths).exclude(level=Level.NATIONAL)  # type: ignore[attr-defined]
        self.fields["relation"].choices = [("", "—"), *[(r.name, r.label) for r in RELATIONS.values()]]  # type: ignore[attr-defined]

    def definition(self) -> dict[str, Any]:
        from piazza.people.queries import clean_definition

        if not self.is_valid():
            return {}
        data = dict(self.cleaned_data)
        data["territory"] = data["territory"].pk if data.get("territory") else None
        return clean_definition(data)


class PersonForm(forms.Form):
    first_name = forms.CharField(label=_("Nome"), max_length=100)
    last_name = forms.CharField(label=_("Cognome"), max_length=100)
    sex = forms.ChoiceField(label=_("Sesso"), required=False, choices=[("", "—"), ("M", _("M")), ("F", _("F"))])
    birth_date = forms.CharField(label=_("Data di nascita (gg/mm/aaaa)"), required=False)
    birth_comune = forms.CharField(label=_("Comune di nascita (nome o codice ISTAT)"), required=False)
    birth_country = forms.CharField(label=_("Stato di nascita, se estero"), required=False)
    codice_fiscale = forms.CharField(label=_("Codice fiscale"), required=False, max_length=20)
    residence_street = forms.CharField(label=_("Indirizzo di residenza"), required=False)
    residence_cap = forms.CharField(label=_("CAP"), required=False, max_length=5)
    residence_comune = forms.CharField(label=_("Comune di residenza"), required=False)
    domicile_street = forms.CharField(label=_("Indirizzo di domicilio, se diverso"), required=False)
    domicile_cap = forms.CharField(label=_("CAP di domicilio"), required=False, max_length=5)
    domicile_comune = forms.CharField(label=_("Comune di domicilio (nome o codice ISTAT)"), required=False)
    citizenship = forms.ChoiceField(
        label=_("Cittadinanza"), choices=Citizenship.choices, required=False, initial=Citizenship.ITALIAN
    )
    emails = forms.CharField(label=_("Email (una o più, separate da virgola)"), required=False)
    phones = forms.CharField(label=_("Telefoni (separati da virgola)"), required=False)
    tags = forms.CharField(label=_("Etichette (separate da virgola)"), required=False)
    notes = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    circolo = forms.ModelChoiceField(label=_("Circolo"), queryset=Territory.objects.none(), required=False)
    voting_circolo = forms.ModelChoiceField(
        label=_("Circolo di voto"),
        queryset=Territory.objects.none(),
        required=False,
        help_text=_("L'unico circolo dove la persona esercita i diritti di iscritta o elettrice."),
    )
    # Issue 12, rule G5: only a new, explicit consent brings back a person who asked to be erased.
    new_consent_after_erasure = forms.BooleanField(
        label=_("La persona aveva chiesto la cancellazione dei suoi dati e ha dato un nuovo consenso scritto"),
        required=False,
    )

    def __init__(self, *args: Any, paths: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        circoli = territories_in_scope(paths, Level.CIRCOLO)
        self.fields["circolo"].queryset = circoli  # type: ignore[attr-defined]
        self.fields["voting_circolo"].queryset = circoli  # type: ignore[attr-defined]

    def tag_names(self) -> list[str]:
        return sorted({t.strip() for t in self.cleaned_data.get("tags", "").split(",") if t.strip()})

    def data_for_action(self) -> dict[str, Any]:
        data = {
            k: v
            for k, v in self.cleaned_data.items()
            if k not in ("circolo", "voting_circolo", "tags", "new_consent_after_erasure")
        }
        return data


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File CSV o XLSX (al massimo 50 MB)"))
    territory = forms.ModelChoiceField(label=_("Importa nel territorio"), queryset=Territory.objects.none())

    def __init__(self, *args: Any, paths: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories_in_scope(paths)  # type: ignore[attr-defined]


class MappingForm(forms.Form):
    save_as = forms.CharField(label=_("Salva questa associazione con il nome"), required=False, max_length=120)

    def __init__(self, *args: Any, headers: list[str], initial_mapping: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", _("— non importare —")), *[(k, str(v)) for k, v in FIELDS.items()]]
        for index, header in enumerate(headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=_("Colonna «%(h)s»") % {"h": header or index + 1},
                choices=choices,
                required=False,
                initial=initial_mapping.get(str(index), ""),
            )
        self.order_fields([f"col_{i}" for i in range(len(headers))] + ["save_as"])

    def mapping(self) -> dict[str, str]:
        return {k[4:]: v for k, v in self.cleaned_data.items() if k.startswith("col_") and v}


class TargetForm(forms.Form):
    """Step 3 of the import wizard (issue 11, item 13): people only, or a registered target."""

    target = forms.ChoiceField(label=_("Cosa importare"), widget=forms.RadioSelect, required=False)

    def __init__(self, *args: Any, targets: list[tuple[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [("", _("Solo persone")), *targets]  # type: ignore[attr-defined]
        self.fields["target"].initial = ""


class ConfirmRunForm(forms.Form):
    confirm_repeat = forms.BooleanField(label=_("Sì, importa di nuovo questo file"), required=False)


class ResolveCodeDateForm(forms.Form):
    resolution = forms.ChoiceField(
        label=_("Soluzione"),
        widget=forms.RadioSelect,
        choices=[
            ("code_right", _("Il codice è giusto: correggi la data di nascita da quella del codice")),
            ("date_right", _("La data è giusta: tieni la data e segna il codice come da verificare")),
            ("edited", _("Ho corretto la scheda a mano (codice e data ora coincidono)")),
        ],
    )
    note = forms.CharField(label=_("Nota (facoltativa)"), required=False, max_length=500)


class ExportForm(forms.Form):
    scope = forms.ModelChoiceField(
        label=_("Esporta per l'ambito"), queryset=Territory.objects.none(), required=False, empty_label=None
    )
    purpose = forms.CharField(
        label=_("Per cosa ti serve l'esportazione"),
        max_length=300,
        help_text=_("Resta nel registro attività insieme a chi ha esportato e quante righe."),
    )
    file_format = forms.ChoiceField(label=_("Formato"), choices=[("csv", "CSV"), ("xlsx", "Excel (XLSX)")])

    def __init__(self, *args: Any, paths: list[str] | None = None, **kwargs: Any) -> None:
        """An official with several scope nodes chooses one; with a single node there is no choice."""
        super().__init__(*args, **kwargs)
        nodes = Territory.objects.filter(path__in=paths or []).order_by("path")
        if len(paths or []) > 1:
            self.fields["scope"].queryset = nodes  # type: ignore[attr-defined]
            self.fields["scope"].required = True
        else:
            del self.fields["scope"]


class ConsentForm(forms.Form):
    purpose = forms.ChoiceField(label=_("Finalità"), choices=Purpose.choices)
    granted = forms.TypedChoiceField(
        label=_("Azione"),
        coerce=lambda v: v == "1",
        choices=[("1", _("Registra consenso")), ("0", _("Registra revoca"))],
    )
    channel = forms.ChoiceField(label=_("Canale"), choices=[])
    text_version = forms.CharField(label=_("Versione dell'informativa"), max_length=60, required=False)
    evidence = forms.CharField(label=_("Prova (es. numero del modulo)"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from piazza.people.models import Channel

        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = Channel.choices  # type: ignore[attr-defined]


class SegmentForm(forms.Form):
    name = forms.CharField(label=_("Nome del segmento"), max_length=120)


class SegmentBuilderForm(SearchForm):
    """The segment builder: a name, the scope node it is filed under, and the list filters."""

    name = forms.CharField(label=_("Nome del segmento"), max_length=120)
    owner = forms.ModelChoiceField(label=_("Salvalo per l'ambito"), queryset=Territory.objects.none(), empty_label=None)

    field_order = ["name", "owner", "q", "territory", "tags", "consent", "age_min", "age_max", "relation"]

    def __init__(self, *args: Any, paths: list[str], **kwargs: Any) -> None:
        super().__init__(*args, paths=paths, **kwargs)
        self.fields["owner"].queryset = Territory.objects.filter(path__in=paths).order_by("path")  # type: ignore[attr-defined]
        if len(paths) <= 1:
            self.fields["owner"].widget = forms.HiddenInput()
        self.fields["q"].label = _("Nome, codice fiscale, email o telefono")

    @staticmethod
    def initial_for(segment: Any) -> dict[str, Any]:
        d = dict(segment.definition)
        if isinstance(d.get("tags"), list):
            d["tags"] = ", ".join(d["tags"])
        return {**d, "name": segment.name, "owner": segment.territory_id}

    def definition(self) -> dict[str, Any]:
        from piazza.people.queries import clean_definition

        data = dict(self.cleaned_data)
        data["territory"] = data["territory"].pk if data.get("territory") else None
        return clean_definition(data)


class CloseRequestForm(forms.Form):
    """Closing a request from another territory (issue 10): the outcome and one line why."""

    outcome = forms.ChoiceField(label=_("Esito"), choices=[("done", _("Gestita")), ("dismissed", _("Respinta"))])
    note = forms.CharField(label=_("Nota"), max_length=500, widget=forms.TextInput())
