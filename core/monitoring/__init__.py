"""Monitoring: offline detection, incidents and the fleet's live status (docs/monitoring.md)."""
