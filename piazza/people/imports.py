"""Reading spreadsheets as circoli really have them: CSV (UTF-8 with or without BOM, Latin-1 /
Windows-1252, comma, semicolon or tab) and XLSX (Excel dates, no formulas), Italian headers.

Nothing here writes: `read_upload` turns a file into headers and raw rows or raises ValueError
with a message that says what is wrong and what to do; `row_to_data` maps one raw row through
a column mapping into the input of `clean_person_data`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from piazza.core.exports import unescape_cell

DEFAULT_MAX_BYTES = 50 * 1024 * 1024  # the limit; PEOPLE_IMPORT_MAX_BYTES overrides it


def max_bytes() -> int:
    return int(getattr(settings, "PEOPLE_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


# Target fields of a mapping and the header names circoli use for them.
FIELDS: dict[str, Any] = {
    "first_name": gettext_lazy("Nome"),
    "last_name": gettext_lazy("Cognome"),
    "codice_fiscale": gettext_lazy("Codice fiscale"),
    "sex": gettext_lazy("Sesso"),
    "birth_date": gettext_lazy("Data di nascita"),
    "birth_comune": gettext_lazy("Comune di nascita"),
    "birth_country": gettext_lazy("Stato di nascita"),
    "citizenship": gettext_lazy("Cittadinanza"),
    "residence_street": gettext_lazy("Indirizzo di residenza"),
    "residence_cap": gettext_lazy("CAP"),
    "residence_comune": gettext_lazy("Comune di residenza"),
    "emails": gettext_lazy("Email"),
    "phones": gettext_lazy("Telefono"),
    "tags": gettext_lazy("Etichette"),
    "notes": gettext_lazy("Note"),
}
SYNONYMS: dict[str, list[str]] = {
    "first_name": ["nome", "first name", "firstname", "nome proprio"],
    "last_name": ["cognome", "last name", "lastname", "surname"],
    "codice_fiscale": ["codice fiscale", "cf", "c f", "cod fiscale", "codicefiscale", "cod fisc"],
    "sex": ["sesso", "genere", "sex", "m f"],
    "birth_date": ["data di nascita", "data nascita", "nato il", "nata il", "nato a il", "nascita", "birth date"],
    "birth_comune": ["comune di nascita", "luogo di nascita", "nato a", "nata a", "comune nascita"],
    "birth_country": ["stato di nascita", "paese di nascita", "nazione di nascita"],
    "citizenship": ["cittadinanza", "nazionalita"],
    "residence_street": ["indirizzo", "via", "indirizzo di residenza", "residenza", "via e numero"],
    "residence_cap": ["cap", "c a p", "codice postale"],
    "residence_comune": ["comune", "citta", "comune di residenza", "localita", "comune residenza"],
    "emails": ["email", "e mail", "mail", "posta elettronica", "indirizzo email"],
    "phones": ["telefono", "cellulare", "tel", "cell", "numero di telefono", "recapito telefonico", "mobile"],
    "tags": ["etichette", "tag", "tags", "gruppo"],
    "notes": ["note", "annotazioni", "osservazioni"],
}


def header_key(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text).strip().lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


_LOOKUP = {syn: name for name, syns in SYNONYMS.items() for syn in syns}


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """Column index (as string) → field, for the headers we recognise."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for index, header in enumerate(headers):
        name = _LOOKUP.get(header_key(header))
        if name and name not in used:
            mapping[str(index)] = name
            used.add(name)
    return mapping


@dataclass
class ParsedFile:
    file_format: str
    headers: list[str]
    rows: list[list[Any]]  # data rows, as read (line numbers start at 2)
    encoding: str = ""
    delimiter: str = ""
    mapping: dict[str, str] = field(default_factory=dict)


def read_upload(name: str, content: bytes) -> ParsedFile:
    """Parse an uploaded CSV or XLSX. ValueError carries the message for the person uploading."""
    if len(content) > max_bytes():
        raise ValueError(
            _(
                "Il file pesa %(size)d MB, oltre il limite di %(limit)d MB: dividilo in più file (per esempio "
                "uno per circolo) e caricali uno alla volta."
            )
            % {"size": len(content) // (1024 * 1024), "limit": max_bytes() // (1024 * 1024)}
        )
    if not content.strip():
        raise ValueError(_("Il file è vuoto."))
    lower = name.lower()
    if lower.endswith(".xlsx") or content[:2] == b"PK":
        parsed = _read_xlsx(content)
    elif lower.endswith((".csv", ".txt")):
        parsed = _read_csv(content)
    else:
        raise ValueError(_("Formato non riconosciuto: carica un file .csv o .xlsx (da Excel: «Salva con nome»)."))
    # Drop fully empty trailing rows, common in spreadsheets.
    parsed.rows = [r for r in parsed.rows if any(str(c).strip() for c in r if c is not None)]
    parsed.mapping = guess_mapping(parsed.headers)
    if not parsed.mapping:
        shown = ", ".join(str(h) for h in parsed.headers[:6])
        raise ValueError(
            _(
                "La prima riga del file non contiene intestazioni riconoscibili (trovato: %(found)s). Aggiungi una "
                "riga di intestazione con nomi come Nome, Cognome, Codice fiscale, Email, Telefono."
            )
            % {"found": shown or "—"}
        )
    if not parsed.rows:
        raise ValueError(_("Il file contiene solo l'intestazione, nessuna riga di dati."))
    return parsed


def _decode(content: bytes) -> tuple[str, str]:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in content[:4096]:
        raise ValueError(
            _(
                "Il file è in codifica UTF-16, che non leggiamo: da Excel salva come «CSV UTF-8 (delimitato da "
                "virgole)»."
            )
        )
    try:
        return content.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = content.decode("cp1252")
        encoding = "cp1252"
    except UnicodeDecodeError:
        text = content.decode("latin-1")
        encoding = "latin-1"
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", text):
        raise ValueError(
            _("Il file non è un testo in una codifica che conosciamo (UTF-8 o Latin-1): salvalo come «CSV UTF-8».")
        )
    return text, encoding


def _read_csv(content: bytes) -> ParsedFile:
    text, encoding = _decode(content)
    first_lines = "\n".join(text.splitlines()[:20])
    try:
        dialect = csv.Sniffer().sniff(first_lines, delimiters=";,\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        header = text.splitlines()[0] if text else ""
        counts = {d: header.count(d) for d in ";,\t|"}
        delimiter = max(counts, key=lambda d: counts[d])
        if counts[delimiter] == 0:
            raise ValueError(
                _(
                    "Non troviamo il separatore delle colonne (punto e virgola, virgola o tabulazione) nella prima "
                    "riga: controlla che il file sia un CSV con una colonna per dato."
                )
            ) from None
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = list(reader)
    headers = [h.strip() for h in rows[0]] if rows else []
    return ParsedFile("csv", headers, rows[1:], encoding=encoding, delimiter=delimiter)


def _read_xlsx(content: bytes) -> ParsedFile:
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except Exception as exc:
        raise ValueError(_("Il file Excel non si apre (%(why)s): salvalo di nuovo come .xlsx.") % {"why": exc}) from exc
    sheet = workbook.worksheets[0]
    rows: list[list[Any]] = []
    for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        values = list(row)
        for col, value in enumerate(values, start=1):
            if isinstance(value, str) and value.startswith("="):
                raise ValueError(
                    _(
                        "Riga %(row)d, colonna %(col)s: la cella contiene una formula (%(formula)s). Copia il foglio e "
                        "incollalo con «Incolla valori», poi carica di nuovo il file."
                    )
                    % {"row": number, "col": get_column_letter(col), "formula": value[:40]}
                )
        rows.append(values)
    workbook.close()
    while rows and rows[-1] and all(v is None for v in rows[-1]):
        rows.pop()
    headers = [str(h).strip() if h is not None else "" for h in (rows[0] if rows else [])]
    while headers and not headers[-1]:
        headers.pop()
    data = [r[: max(len(headers), len(r))] for r in rows[1:]]
    return ParsedFile("xlsx", headers, data)


def cell_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    # A value escaped by the export writer (the rejected rows file, corrected) comes back as it was.
    return unescape_cell(str(value).strip())


def row_to_data(raw: list[Any], mapping: dict[str, str], header_count: int) -> tuple[dict[str, Any], str]:
    """Map one raw row; the second value is a row-level problem (wrong number of columns)."""
    problem = ""
    trimmed = list(raw)
    while len(trimmed) > header_count and (trimmed[-1] is None or str(trimmed[-1]).strip() == ""):
        trimmed.pop()
    if len(trimmed) != header_count:
        problem = _(
            "La riga ha %(found)d colonne invece di %(expected)d: probabilmente un separatore (; o ,) dentro un "
            "valore o una cella spostata. Correggi la riga e reimportala."
        ) % {"found": len(trimmed), "expected": header_count}
    data: dict[str, Any] = {}
    for index, name in mapping.items():
        i = int(index)
        if name and i < len(trimmed):
            value = cell_text(trimmed[i])
            if value != "":
                data[name] = value
    return data, problem
