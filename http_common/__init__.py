"""Starlette pieces shared by the two HTTP edges (admin API and device edge)."""
