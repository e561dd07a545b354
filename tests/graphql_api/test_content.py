"""The content library over real HTTP: content CRUD, the three-step upload with a real PUT,
typed errors, and versions that never change."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import audit_log, content_uploads, content_versions
from tests.graphql_api.helpers import ConsoleUser, create_user_and_token, gql, gql_data

CREATE = """
mutation($input: CreateContentInput!) {
  createContent(input: $input) {
    __typename
    ... on ContentSuccess { content { id name type tags latestVersion { id } versions { id } } }
    ... on ValidationError { code field errors { field code message } }
  }
}
"""
UPDATE = """
mutation($id: UUID!, $input: UpdateContentInput!) {
  updateContent(id: $id, input: $input) {
    __typename
    ... on ContentSuccess { content { id name tags } }
    ... on ValidationError { errors { field code } }
    ... on NotFoundError { code field }
  }
}
"""
REQUEST = """
mutation($contentId: UUID!, $mime: String!, $bytes: BigInt!, $sha256: String!, $durationMs: Int) {
  requestContentUpload(
    contentId: $contentId, mime: $mime, bytes: $bytes, sha256: $sha256, durationMs: $durationMs
  ) {
    __typename
    ... on ContentUploadTicket {
      url method expiresAt headers { name value }
      upload { id status bytes sha256 mime durationMs contentId }
    }
    ... on ValidationError { errors { field code message } }
    ... on Error { code field message }
  }
}
"""
FINALIZE = """
mutation($uploadId: UUID!) {
  finalizeContentUpload(uploadId: $uploadId) {
    __typename
    ... on ContentVersionSuccess {
      version { id contentId versionNumber versionHash url sha256 bytes mime durationMs }
      content { id latestVersion { versionNumber } }
    }
    ... on Error { code field message }
  }
}
"""
LIST = """
query($filter: ContentFilter, $first: Int, $after: String) {
  contents(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { name type tags versions { versionNumber bytes } }
  }
}
"""


async def create(client: httpx.AsyncClient, user: ConsoleUser, **input: Any) -> dict[str, Any]:
    data = await gql_data(client, CREATE, {"input": input}, token=user.token)
    result: dict[str, Any] = data["createContent"]
    return result


async def upload(
    client: httpx.AsyncClient,
    user: ConsoleUser,
    content_id: str,
    data: bytes,
    mime: str,
    duration_ms: int | None = None,
) -> dict[str, Any]:
    """Request, PUT for real to the returned URL, finalize; returns the finalize result."""
    digest = hashlib.sha256(data).hexdigest()
    variables = {
        "contentId": content_id,
        "mime": mime,
        "bytes": len(data),
        "sha256": digest,
        "durationMs": duration_ms,
    }
    ticket = (await gql_data(client, REQUEST, variables, token=user.token))["requestContentUpload"]
    assert ticket["__typename"] == "ContentUploadTicket", ticket
    url = urlsplit(ticket["url"])
    put = await client.request(
        ticket["method"],
        f"{url.path}?{url.query}",
        content=data,
        headers={h["name"]: h["value"] for h in ticket["headers"]},
    )
    assert put.status_code == 201, put.text
    finalized = (
        await gql_data(client, FINALIZE, {"uploadId": ticket["upload"]["id"]}, token=user.token)
    )["finalizeContentUpload"]
    assert isinstance(finalized, dict)
    return finalized


async def test_upload_end_to_end_creates_listed_versions(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    created = await create(api_client, user, name="Menu", type="IMAGE", tags=["Food"])
    content = created["content"]
    assert (content["type"], content["tags"], content["latestVersion"]) == ("IMAGE", ["food"], None)

    png = b"\x89PNG\r\n\x1a\n" + b"pixels" * 1000
    first = await upload(api_client, user, content["id"], png, "image/png", 10_000)
    assert first["__typename"] == "ContentVersionSuccess", first
    version = first["version"]
    assert version["versionNumber"] == 1
    assert (version["bytes"], version["mime"], version["durationMs"]) == (
        len(png),
        "image/png",
        10_000,
    )
    assert version["sha256"] == hashlib.sha256(png).hexdigest()
    assert urlsplit(version["url"]).path.startswith("/v1/device/content/content/")
    assert first["content"]["latestVersion"]["versionNumber"] == 1

    second = await upload(api_client, user, content["id"], png + b"v2", "image/png", 5_000)
    assert second["version"]["versionNumber"] == 2

    listed = (await gql_data(api_client, LIST, {}, token=user.token))["contents"]
    assert listed["totalCount"] == 1
    [node] = listed["nodes"]
    assert [v["versionNumber"] for v in node["versions"]] == [2, 1]
    assert node["versions"][1]["bytes"] == len(png)

    # The stored object is exactly what was declared.
    stored = await services.storage.read_bytes(
        urlsplit(version["url"]).path.removeprefix("/v1/device/content/")
    )
    assert stored == png
    async with services.engine.connect() as conn:
        actions = (
            (await conn.execute(sa.select(audit_log.c.action).order_by(audit_log.c.id)))
            .scalars()
            .all()
        )
    assert actions == [
        "content.create",
        "content.upload_request",
        "content.version_create",
        "content.upload_request",
        "content.version_create",
    ]


async def test_large_video_sizes_and_retried_finalize(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    content = (await create(api_client, user, name="Film", type="VIDEO"))["content"]
    # A 3 GiB declaration only books the upload; it needs BigInt on the wire.
    big = await gql_data(
        api_client,
        REQUEST,
        {"contentId": content["id"], "mime": "video/mp4", "bytes": 3 * 1024**3, "sha256": "a" * 64},
        token=user.token,
    )
    assert big["requestContentUpload"]["upload"]["bytes"] == 3 * 1024**3
    finalized = await upload(api_client, user, content["id"], b"tiny video", "video/mp4")
    assert finalized["version"]["durationMs"] is None
    again = await gql_data(
        api_client,
        FINALIZE,
        {"uploadId": (await _latest_upload_id(services))},
        token=user.token,
    )
    assert again["finalizeContentUpload"]["version"] == finalized["version"]


async def _latest_upload_id(services: Services) -> str:
    async with services.engine.connect() as conn:
        upload_id = (
            await conn.execute(
                sa.select(content_uploads.c.id).where(content_uploads.c.status == "FINALIZED")
            )
        ).scalar_one()
    return str(upload_id)


async def test_typed_errors_never_500(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    bad = await create(api_client, user, name="", type="WEB", tags=["x" * 60])
    assert bad["__typename"] == "ValidationError"
    assert {(e["field"], e["code"]) for e in bad["errors"]} == {
        ("name", "REQUIRED"),
        ("tags[0]", "TOO_LONG"),
    }
    web = (await create(api_client, user, name="Page", type="WEB"))["content"]
    request = (
        await gql_data(
            api_client,
            REQUEST,
            {"contentId": web["id"], "mime": "text/plain", "bytes": 0, "sha256": "nope"},
            token=user.token,
        )
    )["requestContentUpload"]
    assert request["__typename"] == "ValidationError"
    assert {(e["field"], e["code"]) for e in request["errors"]} == {
        ("mime", "INVALID_CHOICE"),
        ("bytes", "OUT_OF_RANGE"),
        ("sha256", "INVALID_FORMAT"),
        ("durationMs", "REQUIRED"),
    }
    missing = (
        await gql_data(
            api_client,
            REQUEST,
            {
                "contentId": "00000000-0000-0000-0000-000000000001",
                "mime": "text/html",
                "bytes": 10,
                "sha256": "a" * 64,
                "durationMs": 1000,
            },
            token=user.token,
        )
    )["requestContentUpload"]
    assert (missing["__typename"], missing["code"], missing["field"]) == (
        "NotFoundError",
        "NOT_FOUND",
        "contentId",
    )
    ticket = (
        await gql_data(
            api_client,
            REQUEST,
            {
                "contentId": web["id"],
                "mime": "text/html",
                "bytes": 10,
                "sha256": "b" * 64,
                "durationMs": 1000,
            },
            token=user.token,
        )
    )["requestContentUpload"]
    early = (
        await gql_data(api_client, FINALIZE, {"uploadId": ticket["upload"]["id"]}, token=user.token)
    )["finalizeContentUpload"]
    assert (early["__typename"], early["code"], early["field"]) == (
        "ConflictError",
        "CONFLICT",
        "uploadId",
    )
    unknown = (
        await gql_data(
            api_client,
            FINALIZE,
            {"uploadId": "00000000-0000-0000-0000-000000000002"},
            token=user.token,
        )
    )["finalizeContentUpload"]
    assert unknown["__typename"] == "NotFoundError"
    not_found = (
        await gql_data(
            api_client,
            UPDATE,
            {"id": "00000000-0000-0000-0000-000000000003", "input": {"name": "x"}},
            token=user.token,
        )
    )["updateContent"]
    assert (not_found["__typename"], not_found["field"]) == ("NotFoundError", "id")
    # A wrong enum value or a non-numeric BigInt is a GraphQL validation error, not a 500.
    body = await gql(
        api_client, CREATE, {"input": {"name": "x", "type": "AUDIO"}}, token=user.token
    )
    assert body["errors"] and body.get("data") is None


async def test_duplicate_bytes_are_a_conflict(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    content = (await create(api_client, user, name="Clip", type="VIDEO"))["content"]
    await upload(api_client, user, content["id"], b"same bytes", "video/webm")
    digest = hashlib.sha256(b"same bytes").hexdigest()
    again = (
        await gql_data(
            api_client,
            REQUEST,
            {"contentId": content["id"], "mime": "video/webm", "bytes": 10, "sha256": digest},
            token=user.token,
        )
    )["requestContentUpload"]
    assert (again["__typename"], again["code"], again["field"]) == (
        "ConflictError",
        "DUPLICATE",
        "sha256",
    )


async def test_update_filters_and_pages(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    ids = {}
    for name, kind, tags in [
        ("beta", "IMAGE", ["sale"]),
        ("Alpha", "VIDEO", ["sale", "summer"]),
        ("gamma", "WEB", []),
    ]:
        ids[name] = (await create(api_client, user, name=name, type=kind, tags=tags))["content"][
            "id"
        ]
    updated = (
        await gql_data(
            api_client,
            UPDATE,
            {"id": ids["gamma"], "input": {"tags": ["Summer"]}},
            token=user.token,
        )
    )["updateContent"]
    assert updated["content"] == {"id": ids["gamma"], "name": "gamma", "tags": ["summer"]}

    async def names(**variables: Any) -> list[str]:
        data = await gql_data(api_client, LIST, variables, token=user.token)
        return [n["name"] for n in data["contents"]["nodes"]]

    assert await names() == ["Alpha", "beta", "gamma"]  # case-insensitive name order
    assert await names(filter={"type": "IMAGE"}) == ["beta"]
    assert await names(filter={"tag": "summer"}) == ["Alpha", "gamma"]
    assert await names(filter={"search": "ET"}) == ["beta"]
    page = (await gql_data(api_client, LIST, {"first": 2}, token=user.token))["contents"]
    assert page["pageInfo"]["hasNextPage"]
    rest = await names(first=2, after=page["pageInfo"]["endCursor"])
    assert rest == ["gamma"]


MUTATIONS = "{ __schema { mutationType { fields { name } } } }"


async def test_versions_never_change(api_client: httpx.AsyncClient, services: Services) -> None:
    """No mutation edits or deletes a version; content edits and later uploads leave an
    existing version row exactly as it was."""
    user = await create_user_and_token(services, Role.ADMIN)
    schema = await gql_data(api_client, MUTATIONS, token=user.token)
    names = {f["name"] for f in schema["__schema"]["mutationType"]["fields"]}
    assert not [n for n in names if "ContentVersion" in n or n.startswith("deleteContent")]

    content = (await create(api_client, user, name="Poster", type="IMAGE"))["content"]
    first = await upload(api_client, user, content["id"], b"poster-v1", "image/jpeg", 4000)
    snapshot = await _version_row(services, first["version"]["id"])
    await gql_data(
        api_client,
        UPDATE,
        {"id": content["id"], "input": {"name": "Poster 2", "tags": ["new"]}},
        token=user.token,
    )
    await upload(api_client, user, content["id"], b"poster-v2", "image/jpeg", 9000)
    assert await _version_row(services, first["version"]["id"]) == snapshot


async def _version_row(services: Services, version_id: str) -> dict[str, Any]:
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(content_versions).where(content_versions.c.id == version_id)
            )
        ).one()
    return dict(row._mapping)
