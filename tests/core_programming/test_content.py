"""Content items: creation, edits, listing filters and keyset pages."""

from __future__ import annotations

import uuid

import pytest

from core.bootstrap import Services
from core.content.models import ContentFilter
from core.content.queries import content_query, get_content
from core.content.service import create_content, update_content
from core.db.enums import ContentType
from core.db.tables import content
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.kernel.actor import Actor
from tests.core_programming.helpers import audit_rows


async def test_create_normalises_and_audits(services: Services, admin: Actor) -> None:
    created = await create_content(
        services, admin, name="  Spring promo ", content_type="VIDEO", tags=["Promo", "promo", "x"]
    )
    assert created.name == "Spring promo"
    assert created.type is ContentType.VIDEO
    assert created.tags == ["promo", "x"]
    [row] = await audit_rows(services, "content.create")
    assert row.actor_user_id == admin.user_id
    assert row.target_type == "content"
    assert row.target_id == str(created.id)
    assert row.details_json["after"]["name"] == "Spring promo"


async def test_create_reports_every_bad_field(services: Services, admin: Actor) -> None:
    with pytest.raises(ValidationFailed) as info:
        await create_content(
            services, admin, name=" ", content_type="audio", tags=["ok", "", "x" * 51]
        )
    fields = {(e["field"], e["code"]) for e in info.value.errors}
    assert fields == {
        ("name", "required"),
        ("type", "invalid_choice"),
        ("tags[1]", "required"),
        ("tags[2]", "too_long"),
    }
    assert await audit_rows(services) == []


async def test_update_changes_only_given_fields(services: Services, admin: Actor) -> None:
    created = await create_content(
        services, admin, name="Menu", content_type="image", tags=["food"]
    )
    renamed = await update_content(services, admin, created.id, name="Menu board")
    assert (renamed.name, renamed.tags) == ("Menu board", ["food"])
    retagged = await update_content(services, admin, created.id, tags=["Lunch"])
    assert (retagged.name, retagged.tags) == ("Menu board", ["lunch"])
    [first, second] = await audit_rows(services, "content.update")
    assert first.details_json["before"]["name"] == "Menu"
    assert first.details_json["after"]["name"] == "Menu board"
    assert second.details_json["after"]["tags"] == ["lunch"]


async def test_update_unknown_content_is_not_found(services: Services, admin: Actor) -> None:
    with pytest.raises(NotFound) as info:
        await update_content(services, admin, uuid.uuid4(), name="x")
    assert info.value.field == "id"


async def test_viewer_cannot_write(services: Services, admin: Actor, viewer: Actor) -> None:
    with pytest.raises(PermissionDenied):
        await create_content(services, viewer, name="x", content_type="web")
    created = await create_content(services, admin, name="x", content_type="web")
    with pytest.raises(PermissionDenied):
        await update_content(services, viewer, created.id, name="y")


async def test_query_filters(services: Services, operator: Actor) -> None:
    specs = [
        ("Alpha 50% off", "video", ["sale"]),
        ("Beta", "image", ["sale", "summer"]),
        ("Gamma", "image", []),
        ("Delta_promo", "web", ["summer"]),
    ]
    for name, kind, tags in specs:
        await create_content(services, operator, name=name, content_type=kind, tags=tags)
    async with services.engine.connect() as conn:

        async def names(flt: ContentFilter) -> list[str]:
            query = content_query(flt).order_by(content.c.name)
            return [row.name for row in await conn.execute(query)]

        assert await names(ContentFilter()) == ["Alpha 50% off", "Beta", "Delta_promo", "Gamma"]
        assert await names(ContentFilter(type=ContentType.IMAGE)) == ["Beta", "Gamma"]
        assert await names(ContentFilter(tag="SUMMER")) == ["Beta", "Delta_promo"]
        assert await names(ContentFilter(search="50%")) == ["Alpha 50% off"]
        assert await names(ContentFilter(search="a_p")) == ["Delta_promo"]  # `_` is literal
        assert await names(ContentFilter(type=ContentType.IMAGE, tag="sale")) == ["Beta"]
        with pytest.raises(NotFound):
            await get_content(conn, uuid.uuid4())
