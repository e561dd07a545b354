"""Sending work to the Dramatiq workers, for processes that only produce messages.

Why a package of its own: the API (and any other producer) must not import `workers`, an
entrypoint whose modules declare actors and build the worker broker at import time. Here a
message is addressed by queue and actor name (`dramatiq.Message`), so sending needs no actor
declaration, and the broker is built when the first message is sent, not at import.
`workers` and the producers share this adapter; it imports nothing above `core`.
"""
