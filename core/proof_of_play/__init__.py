"""Proof-of-play: idempotent batch ingestion, store-local daily aggregates, partition
maintenance, aggregate rebuild/verification and reports. See docs/proof_of_play.md."""

from core.proof_of_play.ingest import ingest_events, load_device_context
from core.proof_of_play.models import (
    NO_CAMPAIGN,
    NO_STORE,
    DeviceContext,
    EventError,
    IngestPolicy,
    IngestResult,
    RejectCode,
)

__all__ = [
    "NO_CAMPAIGN",
    "NO_STORE",
    "DeviceContext",
    "EventError",
    "IngestPolicy",
    "IngestResult",
    "RejectCode",
    "ingest_events",
    "load_device_context",
]
