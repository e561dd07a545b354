"""HTTP routes of the embedded (local-directory) storage; with S3 neither route is mounted.

- `upload_routes(storage, clock)` -> `PUT /v1/admin/uploads/{key}`, for the admin API (port 8000):
  the local stand-in for an S3 presigned PUT. The URL's HMAC signature (see
  `core.storage.signing`) is the only credential, like a presigned URL; the signed size is the
  hard body limit and the signed sha256 is checked while streaming to disk.
- `content_routes(storage)` -> `GET /v1/device/content/{key}`, for the device edge (port 8001):
  serves stored files to players, with Range support from Starlette's FileResponse. The type
  comes from the key's extension (chosen by the server from the validated mime), and anything
  a browser could execute is sandboxed and sent as an attachment (`core.storage.serving`).

The routes are closures over the storage and clock passed in, so they need nothing on
`app.state` and can be mounted on either app.
"""

from __future__ import annotations

import mimetypes
from stat import S_ISREG

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from core.clock import Clock
from core.errors import DomainError, NotFound, PayloadTooLarge
from core.storage.local import LocalStorage
from core.storage.serving import served_headers
from core.storage.signing import UploadSigner
from http_common.error_envelope import domain_error_response, error_response

UPLOAD_PATH = "/v1/admin/uploads/{key:path}"
CONTENT_PATH = "/v1/device/content/{key:path}"
UNKNOWN_MEDIA_TYPE = "application/octet-stream"
# Media may be embedded by a browser-based player on another origin (<img>, <video>).
CONTENT_CORP = {"Cross-Origin-Resource-Policy": "cross-origin"}


def upload_routes(storage: LocalStorage, clock: Clock) -> list[Route]:
    async def put_upload(request: Request) -> Response:
        key: str = request.path_params["key"]
        try:
            signed = UploadSigner.parse(key, dict(request.query_params))
            storage.signer.check(signed, now=clock.now())
        except DomainError as exc:
            return domain_error_response(exc)

        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > signed.size:
            return error_response(
                413, PayloadTooLarge.code, f"body exceeds the signed size of {signed.size} bytes"
            )
        try:
            stored = await storage.put_stream(
                key,
                request.stream(),
                sha256=signed.sha256,
                size=signed.size,
                content_type=request.headers.get("content-type"),
                max_bytes=signed.size,
            )
        except ClientDisconnect:
            return error_response(400, "client_disconnected", "the client disconnected mid-upload")
        except DomainError as exc:  # 413 too large, 422 integrity_mismatch / validation_error
            return domain_error_response(exc)
        return JSONResponse(
            {"key": stored.key, "size": stored.size, "sha256": stored.sha256}, status_code=201
        )

    return [Route(UPLOAD_PATH, put_upload, methods=["PUT"])]


def content_routes(storage: LocalStorage) -> list[Route]:
    async def get_content(request: Request) -> Response:
        key: str = request.path_params["key"]
        try:
            path = storage.path_of(key)
            stat = path.stat()
        except (DomainError, OSError):
            stat = None
        if stat is None or not S_ISREG(stat.st_mode):
            return error_response(404, NotFound.code, f"no content under {key!r}")
        media_type = mimetypes.guess_type(path.name)[0] or UNKNOWN_MEDIA_TYPE
        return FileResponse(
            path,
            stat_result=stat,
            media_type=media_type,
            headers={**served_headers(media_type), **CONTENT_CORP},
        )

    return [Route(CONTENT_PATH, get_content, methods=["GET", "HEAD"])]
