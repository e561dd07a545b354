"""`signage create-admin`: the first console account, before anyone can log in to create one."""

from __future__ import annotations

import asyncio
import getpass
import re
import sys
import uuid
from typing import TextIO

from sqlalchemy.dialects.postgresql import insert as pg_insert

from core.audit.service import record
from core.db.engine import create_engine
from core.db.enums import Role
from core.db.tables import users
from core.identity.actor import Actor
from core.identity.passwords import MIN_PASSWORD_LENGTH, hash_password

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class UserInputError(ValueError):
    """Bad email, password or role: the CLI prints it and exits non-zero."""


class UserExists(RuntimeError):
    pass


def normalize_email(email: str) -> str:
    cleaned = email.strip().lower()
    if not _EMAIL.fullmatch(cleaned):
        raise UserInputError(f"{email!r} is not an email address")
    return cleaned


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


async def create_user(database_url: str, *, email: str, password: str, role: Role) -> uuid.UUID:
    """Insert the user with an argon2 hash; UserExists if the email is taken."""
    email = normalize_email(email)
    password_hash = hash_password(password)
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            user_id = await conn.scalar(
                pg_insert(users)
                .values(email=email, password_hash=password_hash, role=role.value)
                .on_conflict_do_nothing(index_elements=[users.c.email])
                .returning(users.c.id)
            )
            if user_id is None:
                raise UserExists(f"a user with email {email} already exists")
            await record(
                conn,
                Actor.system(),
                action="user.create",
                target_type="user",
                target_id=user_id,
                after={"email": email, "role": role.value, "via": "signage create-admin"},
            )
    finally:
        await engine.dispose()
    return uuid.UUID(str(user_id))


def run_create_admin(database_url: str, *, email: str, password: str, role: Role) -> uuid.UUID:
    return asyncio.run(create_user(database_url, email=email, password=password, role=role))
