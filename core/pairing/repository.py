"""Claim rows: inserting with fresh codes and locking one claim by its code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.tables import device_claims
from core.pairing.codes import generate_claim_code

MAX_CODE_ROUNDS = 8


class CodeSpaceExhausted(RuntimeError):
    """Collisions kept happening: practically impossible with 20^8 codes, so a bug."""


async def insert_claims(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[Row[Any]]:
    """Insert claims, each with a new random code; codes that collide are drawn again.

    Set-based: one INSERT ... ON CONFLICT DO NOTHING per round, so an installer's batch of
    hundreds of claims is one statement (a second round only on a collision). Returns the
    inserted rows in the order of `rows`.
    """
    pending = list(range(len(rows)))
    inserted: dict[int, Row[Any]] = {}
    for _ in range(MAX_CODE_ROUNDS):
        if not pending:
            break
        codes: dict[str, int] = {}
        while len(codes) < len(pending):
            code = generate_claim_code()
            if code not in codes:
                codes[code] = pending[len(codes)]
        values = [{**rows[index], "claim_code": code} for code, index in codes.items()]
        result = await conn.execute(
            pg_insert(device_claims)
            .values(values)
            .on_conflict_do_nothing(index_elements=[device_claims.c.claim_code])
            .returning(*device_claims.c)
        )
        for row in result:
            inserted[codes[row.claim_code]] = row
        pending = [index for index in pending if index not in inserted]
    if pending:
        raise CodeSpaceExhausted("could not draw unused claim codes")
    return [inserted[index] for index in range(len(rows))]


async def lock_claim(conn: AsyncConnection, claim_code: str) -> Row[Any] | None:
    """The claim row, locked until the transaction ends.

    Concurrent exchanges of one code queue on this lock; under READ COMMITTED each waiter
    then re-reads the row as the winner left it (used), so exactly one of them succeeds.
    """
    return (
        await conn.execute(
            select(*device_claims.c)
            .where(device_claims.c.claim_code == claim_code)
            .with_for_update()
        )
    ).one_or_none()
