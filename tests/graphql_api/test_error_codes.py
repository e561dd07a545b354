"""Every error code core can raise is a member of the GraphQL `ErrorCode` enum.

Why: `ErrorCode.from_domain` maps an unknown code to INVALID (or CONFLICT), so a code added
in core without a GraphQL member silently reaches clients as a generic one. The codes are
collected from core's source (AST), not from a hand-kept list, so a new literal fails here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import core
from core import inputs as core_inputs
from core.errors import DomainError
from core.errors import ErrorCode as CoreErrorCode
from core.scheduling import validation as scheduling_validation
from graphql_api.errors import _ALIASES, GRAPHQL_ONLY_CODES, ErrorCode

CORE_ROOT = Path(core.__file__).parent
# Proof-of-play ingestion reports per-event reject reasons (its own `RejectCode` enum in the
# device edge's batch answer), not domain errors.
NOT_DOMAIN_ERRORS = ("proof_of_play",)
CODE_CHARS = set("abcdefghijklmnopqrstuvwxyz_")


def _code(node: ast.expr | None) -> str | None:
    """The literal if `node` is a lower_snake string, which is how core spells codes."""
    value = node.value if isinstance(node, ast.Constant) else None
    if isinstance(value, str) and value and set(value) <= CODE_CHARS:
        return value
    return None


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


def _is_message(node: ast.expr) -> bool:
    """A human sentence (has a space), so tuples of plain names are not taken for errors."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return " " in node.value
    return isinstance(node, ast.JoinedStr)


def _candidates(node: ast.AST) -> Iterator[ast.expr | None]:
    """Expressions core uses as error codes, in the shapes core writes them."""
    if isinstance(node, ast.ClassDef):  # class Foo(DomainError): code = "..."
        for statement in node.body:
            if isinstance(statement, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "code" for target in statement.targets
            ):
                yield statement.value
    elif isinstance(node, ast.Dict):  # {"field": ..., "code": "...", ...} and details
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "code":
                yield value
    elif isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "add" and len(node.args) == 3:
            yield node.args[1]  # errors.add(path, "code", message)
        pydantic = isinstance(func, ast.Name) and func.id == "PydanticCustomError"
        if pydantic and node.args and _code(node.args[0]) != "semantic":
            yield node.args[0]  # the schedule rules' own errors
        yield from (keyword.value for keyword in node.keywords if keyword.arg == "code")
    elif isinstance(node, ast.Tuple) and len(node.elts) == 3:  # (path, "code", message)
        path, code, message = node.elts
        if _is_text(path) and _is_message(message):
            yield code
    elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple):
        names = [getattr(target, "id", None) for target in node.targets[0].elts]
        if names[:1] == ["code"] and isinstance(node.value, ast.Tuple):
            yield node.value.elts[0]  # code, message = "code", "..."


def _codes_in(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        for candidate in _candidates(node):
            code = _code(candidate)
            if code is not None:
                yield code


def _subclasses(cls: type[DomainError]) -> Iterator[type[DomainError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def core_codes() -> dict[str, str]:
    """Every code core can raise, with one place that raises it."""
    found: dict[str, str] = {}
    for path in sorted(CORE_ROOT.rglob("*.py")):
        relative = path.relative_to(CORE_ROOT)
        if relative.parts[0] in NOT_DOMAIN_ERRORS:
            continue
        for code in _codes_in(ast.parse(path.read_text(encoding="utf-8"))):
            found.setdefault(code, str(relative))
    for code in core_inputs.MESSAGES:
        found.setdefault(code, "inputs.py")
    for code in scheduling_validation._CODES.values():
        found.setdefault(code, "scheduling/validation.py")
    for cls in _subclasses(DomainError):  # those imported so far that core defines
        if cls.__module__.split(".")[0] == "core" and "code" in vars(cls):
            found.setdefault(cls.code, cls.__module__)
    return found


def test_the_scan_finds_codes_of_every_shape() -> None:
    codes = core_codes()
    # a DomainError subclass, a Conflict detail, a FieldErrors entry, a pydantic rule error,
    # a core.inputs problem and a mapped pydantic type
    for code in ("playlist_in_use", "claim_used", "too_long", "range_order", "nul_character"):
        assert code in codes, code
    assert "invalid_type" in codes


def test_core_error_code_lists_every_code_core_raises() -> None:
    listed = {member.value for member in CoreErrorCode}
    missing = {code: where for code, where in core_codes().items() if code not in listed}
    assert not missing, f"add these to core.errors.ErrorCode: {missing}"


def test_core_error_code_lists_only_codes_core_raises() -> None:
    stale = {member.value for member in CoreErrorCode} - set(core_codes())
    assert not stale, f"nothing in core raises these any more: {sorted(stale)}"


def test_every_code_core_raises_is_a_graphql_error_code() -> None:
    unknown = {
        code: where
        for code, where in core_codes().items()
        if code.upper() not in ErrorCode.__members__ and code not in _ALIASES
    }
    assert not unknown, f"add these to graphql_api.errors.ErrorCode: {unknown}"


def test_graphql_error_code_mirrors_core() -> None:
    from_core = {m.name for m in CoreErrorCode if m.value not in _ALIASES}
    only_here = {m.name for m in GRAPHQL_ONLY_CODES}
    assert set(ErrorCode.__members__) == from_core | only_here
    assert not from_core & only_here
    for member in CoreErrorCode:
        expected = _ALIASES.get(member.value) or ErrorCode[member.name]
        assert ErrorCode.from_domain(member.value) is expected
