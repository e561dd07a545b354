"""Who is acting: defined in the shared kernel (`core.kernel.actor`), which the audit log and
every domain service import without importing identity; re-exported here for the callers that
think of it as identity's."""

from core.kernel.actor import ROLE_PERMISSIONS, Actor, Permission

__all__ = ["ROLE_PERMISSIONS", "Actor", "Permission"]
