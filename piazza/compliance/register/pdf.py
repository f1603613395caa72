"""The register as a PDF for the Chamber of Deputies and the annual accounts (rule F5), signed
with the party's certificate (PAdES/CMS, pyHanko; ADR 0019).

`register_pdf(publication)` renders one published version (immutable, so the same rows every
time) and signs it when a certificate is configured (`settings.REGISTER_SIGNING_CERT` / `_KEY`);
without one it is produced unsigned and says so on the page. In development `seed_demo` makes a
self-signed demo certificate in `var/register-signing/` (`make_self_signed`), used only there.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.utils import timezone
from fpdf import FPDF
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from piazza.compliance.models import RegisterPublication
from piazza.compliance.register.queries import channel_label, kind_label
from piazza.core.money import format_eur

SIGNATURE_FIELD = "FirmaRegistro"
DEMO_CERT = "demo-cert.pem"
DEMO_KEY = "demo-key.pem"


def _latin(text: str) -> str:
    """fpdf2's core fonts are Latin-1: keep Italian accents, write the euro sign as EUR."""
    return text.replace("€", "EUR").encode("latin-1", "replace").decode("latin-1")


@dataclass(frozen=True)
class Credentials:
    cert: Path
    key: Path
    password: bytes | None


def signing_credentials() -> Credentials | None:
    """The configured certificate, the demo one in development, or None (unsigned)."""
    cert, key = settings.REGISTER_SIGNING_CERT, settings.REGISTER_SIGNING_KEY
    password = settings.REGISTER_SIGNING_KEY_PASSWORD.encode() or None
    if cert and key:
        return Credentials(Path(cert), Path(key), password)
    demo = Path(settings.REGISTER_DEMO_SIGNING_DIR)
    if settings.PIAZZA_ENV == "development" and (demo / DEMO_CERT).exists() and (demo / DEMO_KEY).exists():
        return Credentials(demo / DEMO_CERT, demo / DEMO_KEY, None)
    return None


def make_self_signed(directory: Path, common_name: str, *, days: int = 3650) -> Credentials:
    """A self-signed RSA certificate and key (PEM) in `directory`: for the demo and the tests only."""
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "piazza"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / DEMO_CERT, directory / DEMO_KEY
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return Credentials(cert_path, key_path, None)


def _unsigned_pdf(publication: RegisterPublication, signed: bool) -> bytes:
    entity = publication.entity
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 13)
    pdf.multi_cell(
        0,
        7,
        _latin(f"Registro dei contributi ricevuti nel {publication.year} - {entity.name}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("helvetica", "", 9)
    published = timezone.localtime(publication.published_at)
    for line in (
        "Contributi oltre la soglia di legge per donatore e anno (L. 3/2019, art. 1 c. 11; "
        "trasmissione alla Camera dei deputati).",
        f"Versione {publication.version} pubblicata il {published:%d/%m/%Y %H:%M}"
        + (f" - {publication.note}" if publication.note else ""),
        f"Totale: {format_eur(publication.total_cents)}",
        "Documento firmato digitalmente (PAdES) con il certificato del partito."
        if signed
        else "Documento NON firmato: nessun certificato di firma configurato.",
    ):
        pdf.multi_cell(0, 5, _latin(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    widths = [62, 28, 26, 34, 40]
    pdf.set_font("helvetica", "B", 9)
    for width, title in zip(widths, ["Donatore", "Data", "Importo", "Canale", "Tipo"], strict=True):
        pdf.cell(width, 6, title, border=1)
    pdf.ln()
    pdf.set_font("helvetica", "", 9)
    for row in publication.rows.order_by("position"):
        first = True
        for item in row.items:
            values = [
                row.donor_name if first else "",
                dt.date.fromisoformat(item["received_on"]).strftime("%d/%m/%Y"),
                format_eur(int(item["amount_cents"])),
                str(channel_label(item["method"])),
                str(kind_label(item["kind"]))
                + (  # rule F13: each gift of a legal person with its board resolution
                    f" (delibera {dt.date.fromisoformat(item['resolution_on']):%d/%m/%Y})"
                    if item.get("resolution_on")
                    else ""
                ),
            ]
            for width, value in zip(widths, values, strict=True):
                pdf.cell(width, 6, _latin(value[:34]), border=1)
            pdf.ln()
            first = False
        pdf.set_font("helvetica", "B", 9)
        code = f" - P.IVA {row.entity_code}" if row.entity_code else ""
        pdf.cell(widths[0] + widths[1], 6, _latin(f"Totale {row.donor_name}"[: 48 - len(code)] + code), border=1)
        pdf.cell(widths[2], 6, _latin(format_eur(row.total_cents)), border=1)
        pdf.cell(widths[3] + widths[4], 6, "", border=1)
        pdf.ln()
        pdf.set_font("helvetica", "", 9)
    if not publication.rows.exists():
        pdf.multi_cell(0, 6, _latin("Nessun contributo oltre la soglia."), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def sign_pdf(content: bytes, credentials: Credentials, *, reason: str) -> bytes:
    """A PAdES signature (CMS, detached, in a signature field) over the whole document."""
    signer = signers.SimpleSigner.load(str(credentials.key), str(credentials.cert), key_passphrase=credentials.password)
    if signer is None:
        raise ValueError("the register's signing certificate or key could not be read")
    writer = IncrementalPdfFileWriter(io.BytesIO(content))
    meta = signers.PdfSignatureMetadata(field_name=SIGNATURE_FIELD, reason=reason, location="Italia")
    out = signers.sign_pdf(writer, meta, signer=signer)
    return out.getvalue()


@dataclass(frozen=True)
class RegisterPdf:
    content: bytes
    signed: bool


def register_pdf(publication: RegisterPublication) -> RegisterPdf:
    credentials = signing_credentials()
    content = _unsigned_pdf(publication, signed=credentials is not None)
    if credentials is None:
        return RegisterPdf(content, False)
    reason = f"Registro dei contributi {publication.year}, versione {publication.version}"
    return RegisterPdf(sign_pdf(content, credentials, reason=reason), True)
