"""The edge box: I/O at the estate (sensor MQTT, outbox, uplink, health)."""
