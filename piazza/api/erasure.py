"""Rule G5 declarations for the API (piazza.core.erasure): a key holds no data subject's data.

The API sits above privacy, so it may only declare what is not personal (privacy.erasure reads
this module by app name)."""

from __future__ import annotations

from piazza.api.models import ApiKey
from piazza.core.erasure import Declaration

NOT_PERSONAL: Declaration = {
    ApiKey: {"name": "the label an official gives a key (e.g. “sito del circolo”), not a person"},
}
