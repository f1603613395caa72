"""Benchmark P9's bulk path: the message bytes written by `Compiled` say exactly what Django's email
classes (the reference, `build_message`) say, for varied recipients — HTML-special characters in
names, accents, long lines, both A/B subjects."""

from __future__ import annotations

from email import message_from_bytes
from email import policy as email_policy

import pytest

from piazza.outreach.actions import broadcasts as actions
from piazza.outreach.models import Delivery, Variant
from piazza.outreach.render import Compiled, build_message, prepare

pytestmark = pytest.mark.django_db

BODY = (
    "Ciao {{ nome }},\r\n\r\nil circolo **{{ circolo }}** ti aspetta. Hai donato {{ totale_donato }}.\r\n\r\n"
    + "Una riga lunghissima senza a capo, perché gli editor fanno così. " * 30
    + "\n\n- un punto\n- un altro <b>punto</b> & basta"
)
NAMES = [
    "Anna",
    "Zoë <script>alert('x')</script>",
    'Marco "il Grande" & figli',
    "Niccolò D'Àlessandro",
    "Ελένη",
    "",
]
HEADERS = ["Subject", "From", "To", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "X-Piazza-Delivery"]


def _parts(raw: bytes) -> dict[str, object]:
    message = message_from_bytes(raw, policy=email_policy.default)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return {
        # Folding whitespace aside (Django folds long headers, the bulk path need not).
        **{name: " ".join(str(message[name]).split()) for name in HEADERS},
        "content_type": message.get_content_type(),
        "text": text.get_content(),
        "html": html.get_content(),
        "text_cte": text["Content-Transfer-Encoding"],
        "html_cte": html["Content-Transfer-Encoding"],
    }


@pytest.mark.parametrize("variant", ["", Variant.B])
def test_bulk_bytes_say_what_the_reference_message_says(tree, officer, segment, settings, variant):
    settings.SITE_URL = "https://piazza.example.org"
    broadcast = actions.save_broadcast(
        actor=officer,
        territory=tree.bologna,
        segment=segment,
        subject="{{ nome }}, ci vediamo sabato — è importante",
        subject_b="Per {{ nome }} & {{ circolo }}: una storia lunga abbastanza da andare a capo nell'intestazione",
        ab_sample_percent=10,
        body=BODY,
        preheader="Sabato <alle> 18",
    )
    prepared = prepare(broadcast, variant)
    compiled = Compiled(prepared, broadcast_id=broadcast.pk)
    for i, name in enumerate(NAMES):
        values = {"nome": name, "circolo": f"Circolo <{name}>", "totale_donato": "1.234,50 €"}
        delivery = Delivery(
            pk=1000 + i, broadcast=broadcast, person_id=500 + i, email=f"p{i}@example.org", variant=variant
        )
        delivery.message_id = f"<m{i}@piazza.example.org>"
        reference = build_message(delivery, prepared, values).message().as_bytes(linesep="\r\n")
        fast, message_id = compiled.message_bytes(
            delivery_id=delivery.pk,
            person_id=delivery.person_id,
            email=delivery.email,
            values=values,
            message_id=delivery.message_id,
        )
        assert message_id == delivery.message_id
        expected, got = _parts(reference), _parts(fast)
        assert got == expected
        # The long line is sent quoted-printable, the rest as it is (both encodings are covered).
        assert {expected["text_cte"], expected["html_cte"]} & {"quoted-printable"}
        # The escaping really happened (and the test would notice if it stopped).
        if "<script>" in name:
            assert "<script>" not in str(got["html"]) and "&lt;script&gt;" in str(got["html"])
            assert "<script>" in str(got["text"]) and "<script>" in str(got["Subject"])
        assert b"\r\n" in fast and b"\n" not in fast.replace(b"\r\n", b"")
