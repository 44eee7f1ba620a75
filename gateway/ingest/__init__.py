"""Alert ingest: MQTT (and the HTTPS uplink) into PostgreSQL, acknowledged and confirmed only after commit."""
