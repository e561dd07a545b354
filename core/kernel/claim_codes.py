"""The alphabet and length of claim codes (RFC 8628 §6.1: no vowels, no look-alikes).

Shared kernel: `core.pairing.codes` makes and checks the codes, and `core.redaction` (which
the configuration and logging import) recognises them to keep them out of logs, without
importing the pairing package."""

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
CODE_LENGTH = 8
