"""Intake from people and other systems: the public resident report channel (rate limits, phone verification)
and Open311 GeoReport v2 with its api keys. Cases themselves, and duplicates, belong to the case system."""
