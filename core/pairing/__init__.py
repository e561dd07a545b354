"""Pairing players with the fleet: claim codes (screen and console flows) exchanged for tokens."""
