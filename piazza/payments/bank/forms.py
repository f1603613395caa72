"""Back-office forms of the bank rails. Validation of substance lives in the actions; the forms
only parse what people type and show the actions' refusals on the right field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from piazza.core.forms import preselect_only_choice
from piazza.core.money import MoneyFormField
from piazza.ledger.models import Account
from piazza.payments.bank.models import BankAccount, MandateChannel, Payee
from piazza.payments.bank.statement_files import max_statement_mb, too_large_message
from piazza.territory.models import Territory


class DateInput(forms.DateInput):
    input_type = "date"


class BankAccountForm(forms.Form):
    territory = forms.ModelChoiceField(label=_("Struttura titolare"), queryset=Territory.objects.none())
    name = forms.CharField(label=_("Intestazione del conto"), max_length=140)
    iban = forms.CharField(label=_("IBAN"), max_length=42, help_text=_("27 caratteri per un conto italiano."))
    creditor_id = forms.CharField(
        label=_("Identificativo creditore SEPA"),
        max_length=40,
        required=False,
        help_text=_("Serve solo per incassare con addebito diretto (es. IT66ZZZ…). Lo rilascia la banca."),
    )
    prenotification_days = forms.IntegerField(
        label=_("Giorni di preavviso degli addebiti"), min_value=1, max_value=60, initial=14
    )

    def __init__(self, *args: Any, territories: QuerySet[Territory], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories  # type: ignore[attr-defined]
        preselect_only_choice(self)


class PayeeForm(forms.Form):
    territory = BankAccountForm.base_fields["territory"]
    name = forms.CharField(label=_("Beneficiario"), max_length=140)
    iban = forms.CharField(label=_("IBAN"), max_length=42)

    def __init__(self, *args: Any, territories: QuerySet[Territory], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories  # type: ignore[attr-defined]
        preselect_only_choice(self)


class MandateForm(forms.Form):
    creditor = forms.ModelChoiceField(label=_("Conto che incassa"), queryset=BankAccount.objects.none())
    debtor_name = forms.CharField(label=_("Intestatario del conto da addebitare"), max_length=140)
    debtor_email = forms.EmailField(
        label=_("Email del debitore"), required=False, help_text=_("Per gli avvisi prima di ogni addebito.")
    )
    debtor_iban = forms.CharField(label=_("IBAN del debitore"), max_length=42)
    signed_on = forms.DateField(label=_("Data di firma"), widget=DateInput)
    channel = forms.ChoiceField(label=_("Canale"), choices=MandateChannel.choices, initial=MandateChannel.PAPER)
    consent_text = forms.CharField(
        label=_("Testo del consenso sottoscritto"), widget=forms.Textarea(attrs={"rows": 4}), required=False
    )
    paper_scan = forms.FileField(label=_("Scansione del modulo firmato"), required=False)

    def __init__(self, *args: Any, creditors: QuerySet[BankAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["creditor"].queryset = creditors  # type: ignore[attr-defined]
        preselect_only_choice(self)


class AmendMandateForm(forms.Form):
    debtor_name = forms.CharField(label=_("Nuovo intestatario"), max_length=140, required=False)
    debtor_iban = forms.CharField(label=_("Nuovo IBAN"), max_length=42, required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Motivo"), max_length=300, required=False)


class OneOffDebitForm(forms.Form):
    amount = MoneyFormField(label=_("Importo"))
    due_date = forms.DateField(label=_("Data di addebito"), widget=DateInput)
    description = forms.CharField(label=_("Causale"), max_length=140)


class BatchForm(forms.Form):
    creditor = forms.ModelChoiceField(label=_("Conto che incassa"), queryset=BankAccount.objects.none())
    due_date = forms.DateField(label=_("Data di addebito"), widget=DateInput)

    def __init__(self, *args: Any, creditors: QuerySet[BankAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["creditor"].queryset = creditors  # type: ignore[attr-defined]
        preselect_only_choice(self)


class StatementUploadForm(forms.Form):
    file = forms.FileField(
        label=_("File dell'estratto conto"),
        help_text=_("CAMT.053 o CAMT.054 (XML) scaricato dall'home banking; MT940 se la banca non offre altro."),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > max_statement_mb() * 2**20:  # the parser checks the same setting
            raise forms.ValidationError(too_large_message(upload.size), code="too_large")
        return upload


class LineSearchForm(forms.Form):
    q = forms.CharField(label=_("Cerca per nome o riferimento"), required=False, max_length=100)
    amount = MoneyFormField(label=_("Importo"), required=False)


class PayoutForm(forms.Form):
    bank_account = forms.ModelChoiceField(label=_("Dal conto bancario"), queryset=BankAccount.objects.none())
    source_account: forms.ModelChoiceField[Account] = forms.ModelChoiceField(
        label=_("Fondi da cui prelevare"), queryset=Account.objects.none()
    )
    payee = forms.ModelChoiceField(label=_("Beneficiario registrato"), queryset=Payee.objects.none())
    amount = MoneyFormField(label=_("Importo"))
    description = forms.CharField(label=_("Causale"), max_length=140)

    def __init__(
        self, *args: Any, bank_accounts: QuerySet[BankAccount], sources: Any, payees: QuerySet[Payee], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["bank_account"].queryset = bank_accounts  # type: ignore[attr-defined]
        self.fields["source_account"].queryset = sources  # type: ignore[attr-defined]
        self.fields["payee"].queryset = payees  # type: ignore[attr-defined]
        preselect_only_choice(self)


class ExportPayoutsForm(forms.Form):
    bank_account = BatchForm.base_fields["creditor"]
    execution_date = forms.DateField(label=_("Data di esecuzione"), widget=DateInput)

    def __init__(self, *args: Any, creditors: QuerySet[BankAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["bank_account"].queryset = creditors  # type: ignore[attr-defined]
        preselect_only_choice(self)
