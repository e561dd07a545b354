"""Database metadata, engine and unit of work."""
