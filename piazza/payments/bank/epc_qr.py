"""The EPC payment QR code ("GiroCode", EPC069-12): a phone's banking app scans it and fills
in beneficiary, IBAN, amount and the RF reference, so the donor types nothing and the
statement line comes back with a reference we can match.
"""

from __future__ import annotations

from dataclasses import dataclass

import qrcode
import qrcode.constants
import qrcode.image.svg
from django.utils.html import escape
from django.utils.translation import gettext

from piazza.payments.bank.references import is_valid_reference

MAX_PAYLOAD_BYTES = 331  # EPC069-12 section 3
MAX_AMOUNT_CENTS = 99_999_999_999


class EpcQrError(ValueError):
    """The data cannot be put in an EPC QR code (too long, wrong currency, bad amount)."""


@dataclass(frozen=True)
class TransferRequest:
    """What a donor needs to make a SEPA credit transfer to us."""

    beneficiary: str
    iban: str
    amount_cents: int | None = None
    currency: str = "EUR"
    reference: str = ""  # ISO 11649 RF reference (structured)
    text: str = ""  # free remittance text, used only when there is no reference
    bic: str = ""


def epc_payload(request: TransferRequest) -> str:
    """The text encoded in the QR code, version 002 (BIC optional), UTF-8."""
    if request.currency != "EUR":
        raise EpcQrError("EPC QR codes carry euro amounts only")
    name = " ".join(request.beneficiary.split())[:70]
    if not name:
        raise EpcQrError("a beneficiary name is required")
    amount = ""
    if request.amount_cents is not None:
        if not 1 <= request.amount_cents <= MAX_AMOUNT_CENTS:
            raise EpcQrError("amount out of range for an EPC QR code")
        whole, cents = divmod(request.amount_cents, 100)
        amount = f"EUR{whole}.{cents:02d}"
    if request.reference and not is_valid_reference(request.reference):
        raise EpcQrError(f"{request.reference!r} is not a valid ISO 11649 reference")
    lines = [
        "BCD",
        "002",
        "1",
        "SCT",
        request.bic,
        name,
        "".join(request.iban.split()),
        amount,
        "",
        request.reference,
        "" if request.reference else request.text[:140],
    ]
    payload = "\n".join(lines).rstrip("\n")
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise EpcQrError("payload longer than 331 bytes")
    return payload


def epc_qr_svg(request: TransferRequest) -> str:
    """An inline SVG (no script, no style attribute: CSP-safe) of the payment QR code."""
    image = qrcode.make(
        epc_payload(request),
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,  # EPC069-12 requires level M
        box_size=10,
    )
    svg: str = image.to_string(encoding="unicode")
    label = escape(gettext("QR code per il bonifico"))
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
