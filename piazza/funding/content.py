"""Campaign content that comes from people: Markdown made safe, images made small.

Stories and updates are written by officials and supporters and shown to the public, so the
HTML rendered from Markdown is cleaned with nh3 (an allow-list sanitiser) before it is stored.
Images are decoded and re-encoded with Pillow: oversized photos shrink, metadata (GPS
positions in phone photos) is dropped, and anything that is not a real image is refused.
"""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from piazza.core.markdown import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, render_markdown

__all__ = ["ALLOWED_ATTRIBUTES", "ALLOWED_TAGS", "ImageRefused", "render_markdown", "resize_image"]

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_SIDE = 1600
MAX_SOURCE_PIXELS = 40_000_000  # refuse decompression bombs before decoding


class ImageRefused(ValueError):
    """The upload is not an image we can show; the message says what to do."""


def resize_image(upload: UploadedFile) -> tuple[ContentFile, int, int]:
    """Decode, orient, shrink to at most MAX_IMAGE_SIDE and re-encode as JPEG (metadata dropped)."""
    if upload.size and upload.size > MAX_IMAGE_BYTES:
        raise ImageRefused(_("L'immagine supera 10 MB: riducila o scegline un'altra."))
    try:
        upload.seek(0)
        with Image.open(upload) as probe:
            probe.verify()
        upload.seek(0)
        image: Image.Image = Image.open(upload)
        if image.width * image.height > MAX_SOURCE_PIXELS:
            raise ImageRefused(_("L'immagine è troppo grande (oltre 40 megapixel)."))
        image = ImageOps.exif_transpose(image)
        image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
        image = image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageRefused(_("Il file non è un'immagine leggibile: carica una foto JPEG, PNG o WebP.")) from exc
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85, optimize=True)
    return ContentFile(buffer.getvalue()), image.width, image.height
