"""Prometheus metrics of the edge process."""

from prometheus_client import Counter, Gauge, Histogram

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
CAMERA_STATE = Gauge(
    "wangge_edge_camera_state", "1 for the camera's current state (online, degraded, offline)", ["camera", "state"]
)
CAMERA_INPUT_FPS = Gauge("wangge_edge_camera_input_fps", "Frames per second decoded from the camera", ["camera"])
CAMERA_PROCESSED_FPS = Gauge("wangge_edge_camera_processed_fps", "Frames per second analysed", ["camera"])
CAMERA_SKIPPED = Gauge(
    "wangge_edge_camera_skipped_frames", "Frames due for analysis that a newer one replaced", ["camera"]
)
CAMERA_RECONNECTS = Gauge("wangge_edge_camera_reconnects", "Times the camera's stream was opened again", ["camera"])
CAMERA_FRAME_AGE = Gauge(
    "wangge_edge_camera_last_frame_age_seconds", "Seconds since the camera's last frame", ["camera"]
)
INFERENCE_SECONDS = Histogram(
    "wangge_edge_inference_seconds",
    "Time of one detector call",
    buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56),
)
DETECTOR_FAILURES = Counter("wangge_edge_detector_failures", "Detector calls that failed (camera on motion only)")
SNAPSHOTS = Counter("wangge_edge_snapshots", "Alert snapshots made")
LEARNT_STATES = Gauge("wangge_edge_learnt_states", "Anomaly detector states in the outbox after the last save")
LEARNT_DROPPED = Counter(
    "wangge_edge_learnt_states_dropped",
    "Saved detector states not taken up at start, by reason (version, damaged, unknown_rule, unreadable)",
    ["reason"],
)
LEARNT_SAVE_FAILURES = Counter("wangge_edge_learnt_state_save_failures", "Saves of detector states that failed")
RECORDER_UP = Gauge("wangge_edge_recorder_up", "1 while the camera's recorder (ffmpeg -c copy) runs", ["camera"])
RECORDER_RESTARTS = Counter(
    "wangge_edge_recorder_restarts", "Times a camera's recorder exited and was started again", ["camera"]
)
RECORDING_BYTES = Gauge("wangge_edge_recording_bytes", "Bytes of recorded segments kept for a camera", ["camera"])
RECORDING_SECONDS = Gauge("wangge_edge_recording_seconds", "Seconds of video kept for a camera", ["camera"])
RECORDING_DELETED = Counter(
    "wangge_edge_recording_deleted",
    "Segments deleted from the rolling buffer, by reason (age, bytes, disk_floor)",
    ["camera", "reason"],
)
CLIPS = Counter(
    "wangge_edge_clips",
    "Event clip parts, by outcome (cut, missing, sent, refused, dropped)",
    ["outcome"],
)
UPLOAD_SPOOL_BYTES = Gauge(
    "wangge_edge_upload_spool_bytes", "Bytes waiting in an upload spool, by kind (snapshot, clip)", ["kind"]
)
LIVE_SESSIONS = Gauge("wangge_edge_live_sessions", "Live-view streams this edge pushes now")
LIVE_REFUSED = Counter(
    "wangge_edge_live_refused", "Live-view requests refused, by reason (busy, unknown_camera, invalid)", ["reason"]
)
