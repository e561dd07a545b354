"""The operator's entrypoints: the `signage` command line and the local stack.

Argument parsing, process supervision, the embedded PostgreSQL/Redis servers, the demo seed
and the proof-of-play aggregate rebuild live here, outside `core`: they drive the domain
through the same core services the API uses, and core imports nothing from this package.
"""
