"""The operator console: its static files (served by the gateway), its settings, and the live feed it reads."""
