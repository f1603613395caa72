"""Access and portability (rule G5, GDPR arts. 15 and 20): the person's data as one JSON
document (complete, machine-readable) and a readable PDF of the same content."""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from fpdf import FPDF

from piazza.privacy import registry

FORMAT = "piazza.data-export/1"


def build_document(person: Any) -> dict[str, Any]:
    """Every registered handler's section for the person, with a short header."""
    return {
        "format": FORMAT,
        "generated_at": timezone.now().isoformat(),
        "person_id": person.pk,
        "sections": registry.collect(person),
    }


def to_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False, default=str).encode("utf-8")


def _latin(text: str) -> str:
    """fpdf2's core fonts are Latin-1: keep Italian accents, replace what they cannot draw."""
    return text.encode("latin-1", "replace").decode("latin-1")


def _plain(value: Any) -> str:
    if isinstance(value, dict) and "label" in value:
        return str(value["label"])
    if isinstance(value, bool):
        return _("sì") if value else _("no")
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


SECTION_TITLES = {
    "people": gettext_lazy("Dati anagrafici, recapiti, consensi e cronologia"),
    "membership": gettext_lazy("Iscrizioni, tessere e Albo"),
    "funding": gettext_lazy("Donazioni e pagine di raccolta"),
    "payments": gettext_lazy("Pagamenti, metodi salvati e donazioni periodiche"),
    "bank": gettext_lazy("Mandati SEPA e bonifici"),
    "compliance": gettext_lazy("Adempimenti di legge"),
    "privacy": gettext_lazy("Richieste sui tuoi dati"),
    "audit": gettext_lazy("Registro delle attività che ti riguardano"),
}


def to_pdf(document: dict[str, Any]) -> bytes:
    """A readable copy: one heading per section, one block per row, every field with its value."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_margin(15)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.multi_cell(0, 8, _latin(_("I tuoi dati presso il partito")), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 9)
    pdf.multi_cell(
        0,
        5,
        _latin(
            _(
                "Copia prodotta il %(at)s. Lo stesso contenuto, completo e leggibile da un "
                "programma, è nel file JSON allegato."
            )
            % {"at": document["generated_at"][:16]}
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    for section, tables in document["sections"].items():
        pdf.ln(4)
        pdf.set_font("helvetica", "B", 13)
        pdf.multi_cell(0, 7, _latin(str(SECTION_TITLES.get(section, section))), new_x="LMARGIN", new_y="NEXT")
        for label, table in tables.items():
            pdf.set_font("helvetica", "B", 10)
            pdf.multi_cell(0, 6, _latin(f"{label} ({len(table)})"), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("helvetica", "", 8)
            if not table:
                pdf.multi_cell(0, 4, _latin(_("Nessun dato.")), new_x="LMARGIN", new_y="NEXT")
            for row in table:
                text = "; ".join(f"{key}: {_plain(value)}" for key, value in row.items())
                pdf.multi_cell(0, 4, _latin(text[:4000]), new_x="LMARGIN", new_y="NEXT")
                pdf.ln(1)
    return bytes(pdf.output())
