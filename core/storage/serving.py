"""How stored content must be served so that a browser never runs it as part of our origins.

Why: content URLs are public (players fetch them by URL, no credentials), and the web content
type is HTML on purpose. Opened in a browser, HTML, SVG, XML or a PDF would run script with the
edge's (or the bucket's) origin. So everything that is not passive media is served with:

- `Content-Security-Policy: sandbox`: scripts, forms and plugins off, a unique opaque origin;
- `Content-Disposition: attachment`: a browser downloads it instead of rendering it;
- `X-Content-Type-Options: nosniff` (on every object): the declared type is the only type, so
  HTML uploaded as `image/png` is never sniffed into a page.

Passive media is image, video and audio, except anything XML-based (`image/svg+xml` and any
other `+xml` type): SVG is a document that can carry script. Players download objects with an
HTTP client, to which none of these headers make a difference.

One rule for both backends: the local content route sends `served_headers(mime)`; S3 cannot
send arbitrary headers, so uploads store `stored_disposition(mime)` as the object's
Content-Disposition and a CDN in front of the bucket adds the CSP and nosniff (README).
"""

from __future__ import annotations

PASSIVE_MEDIA_PREFIXES = ("image/", "video/", "audio/")
ATTACHMENT = "attachment"
SANDBOX_CSP = "sandbox"


def mime_essence(mime: str | None) -> str:
    """`type/subtype` in lower case, parameters dropped ("" when unknown)."""
    return (mime or "").split(";", 1)[0].strip().lower()


def is_passive_media(mime: str | None) -> bool:
    """True for image/video/audio types a browser only displays; XML-based types are active."""
    essence = mime_essence(mime)
    return essence.startswith(PASSIVE_MEDIA_PREFIXES) and not essence.endswith("+xml")


def stored_disposition(mime: str | None) -> str | None:
    """The Content-Disposition an object of this type is stored and served with (None: inline)."""
    return None if is_passive_media(mime) else ATTACHMENT


def served_headers(mime: str | None) -> dict[str, str]:
    """The response headers a content download of this type must carry."""
    headers = {"X-Content-Type-Options": "nosniff"}
    if not is_passive_media(mime):
        headers["Content-Security-Policy"] = SANDBOX_CSP
        headers["Content-Disposition"] = ATTACHMENT
    return headers
