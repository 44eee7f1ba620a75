"""The central gateway: alert ingest, the case system, the HTTP API and the console."""
