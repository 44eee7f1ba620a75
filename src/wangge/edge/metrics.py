"""Prometheus metrics of the edge process."""

from prometheus_client import Counter, Gauge

READINGS = Counter("wangge_edge_readings", "Sensor readings accepted", ["metric"])
READINGS_REJECTED = Counter("wangge_edge_readings_rejected", "Sensor messages rejected, by reason", ["reason"])
ALERT_EVENTS = Counter("wangge_edge_alert_events", "Alert events written to the outbox", ["event"])
ALERTS_SENT = Counter("wangge_edge_alerts_sent", "Alert events the gateway confirmed it stored")
OUTBOX_DEPTH = Gauge("wangge_edge_outbox_depth", "Alert events in the outbox, not yet acknowledged")
UPLINK_CONNECTED = Gauge("wangge_edge_uplink_connected", "1 while connected to the central broker")
ALERTS_RESENT = Counter(
    "wangge_edge_alerts_resent", "Alert events sent again because the gateway had not confirmed them"
)
ALERTS_REFUSED = Counter("wangge_edge_alerts_refused", "Alert events the gateway refused (dead-lettered there)")
READINGS_ADJUSTED = Counter(
    "wangge_edge_readings_adjusted", "Sensor readings taken with a corrected time, by reason", ["reason"]
)
SPARKPLUG_REBIRTHS = Counter("wangge_edge_sparkplug_rebirths", "Sparkplug rebirth requests sent to edge nodes")
DEVICES_OFFLINE = Gauge("wangge_edge_devices_offline", "Sensor devices currently offline")
DEVICES_KNOWN = Gauge("wangge_edge_devices", "Sensor devices known to the rule engine")
