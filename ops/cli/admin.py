"""`signage create-admin`: the first console account, before anyone can log in to create one.

Only the reading of the password is the command line's own; the account is validated, hashed,
inserted and audited by `core.identity.users`, exactly as a `createUser` mutation is."""

from __future__ import annotations

import asyncio
import getpass
import sys
import uuid
from dataclasses import dataclass
from typing import TextIO

from core.clock import Clock, SystemClock
from core.db.engine import create_engine
from core.db.enums import Role
from core.errors import ValidationFailed
from core.identity.passwords import MIN_PASSWORD_LENGTH
from core.identity.users import insert_user, prepare_new_user
from core.kernel.actor import Actor


class UserInputError(ValueError):
    """Bad email, password or role: the CLI prints it and exits non-zero."""


class UserExists(RuntimeError):
    pass


def read_password(*, given: str | None, from_stdin: bool, stdin: TextIO = sys.stdin) -> str:
    """The password from --password, from stdin, or typed twice at a terminal prompt."""
    if given is not None and from_stdin:
        raise UserInputError("use either --password or --password-stdin, not both")
    if given is not None:
        password = given
    elif from_stdin:
        password = stdin.readline().rstrip("\r\n")
    elif stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise UserInputError("the passwords do not match")
    else:
        raise UserInputError("no password: pass --password-stdin, or run at a terminal")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserInputError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


@dataclass(frozen=True)
class CreatedUser:
    id: uuid.UUID
    email: str  # as stored: normalized by core


def _explain(exc: ValidationFailed) -> str:
    reasons = [f"{item.get('field')}: {item.get('message')}" for item in exc.errors]
    return f"{exc}: {'; '.join(reasons)}" if reasons else str(exc)


async def create_user(
    database_url: str, *, email: str, password: str, role: Role, clock: Clock | None = None
) -> CreatedUser:
    """Create the account through core's user service (`core.identity.users`): the API's
    validation, email normalization, hashing and audit. UserExists if the email is taken."""
    try:
        new_user = await prepare_new_user(email, password)
    except ValidationFailed as exc:
        raise UserInputError(_explain(exc)) from None
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            row = await insert_user(
                conn,
                Actor.system(),
                new_user,
                role=role,
                now=(clock or SystemClock()).now(),
                details={"via": "signage create-admin"},
            )
    finally:
        await engine.dispose()
    if row is None:
        raise UserExists(f"a user with email {new_user.email} already exists")
    return CreatedUser(uuid.UUID(str(row.id)), new_user.email)


def run_create_admin(database_url: str, *, email: str, password: str, role: Role) -> CreatedUser:
    return asyncio.run(create_user(database_url, email=email, password=password, role=role))
