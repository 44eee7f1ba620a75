"""Prometheus metrics of the gateway process."""

from prometheus_client import Counter, Gauge, Histogram

ALERTS_RECEIVED = Counter(
    "wangge_gateway_alert_events",
    "Alert events taken in, by outcome (opened, attached, event, duplicate)",
    ["outcome"],
)
ALERTS_REJECTED = Counter(
    "wangge_gateway_alerts_rejected", "Alert messages rejected into the dead-letter table, by reason", ["reason"]
)
INTAKE = Counter(
    "wangge_gateway_intake_cases",
    "Cases opened, by channel (resident, open311, grid_worker, camera, sensor, edge, rootcause)",
    ["channel"],
)
INTAKE_DUPLICATES = Counter(
    "wangge_gateway_intake_duplicates", "Reports that joined an open case nearby instead of opening one", ["channel"]
)
INTAKE_REFUSED = Counter(
    "wangge_gateway_intake_refused",
    "Public and Open311 reports refused, by reason (rate_limited, invalid, outside_regions, photo, phone, api_key)",
    ["reason"],
)
INTAKE_REGISTER = Histogram(
    "wangge_gateway_intake_register_seconds",
    "Time from a case's report to its 立案 (registration), by channel",
    ["channel"],
    buckets=(1, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400),
)
TICKETS_OPENED = Counter("wangge_gateway_tickets_opened", "Tickets opened from alerts")
TICKETS_REOPENED = Counter("wangge_gateway_tickets_reopened", "Closed tickets reopened by an alert in the window")
ESCALATIONS = Counter("wangge_gateway_sla_escalations", "Tickets touched by the SLA job (overdue or escalated)")
WEEKLY_REPORTS = Counter(
    "wangge_gateway_weekly_reports_sent", "周报 handed to the webhook outbox, one per area and week"
)
CLUSTER_ANSWERS = Counter(
    "wangge_gateway_cluster_answers",
    "类案 cluster lists handed out, by source (snapshot: a rolling window's; computed: scanned for the request)",
    ["source"],
)
CLUSTER_REFRESH = Histogram(
    "wangge_gateway_cluster_refresh_seconds",
    "Time to recompute one rolling window's 类案 snapshot in the background",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
INGEST_BATCH = Histogram(
    "wangge_gateway_ingest_batch_seconds",
    "Time to store one batch of alert messages",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
INGEST_LOCK_WAIT = Histogram(
    "wangge_gateway_ingest_lock_wait_seconds",
    "Time one batch spent taking the locks on its alerts and tickets, waiting for other replicas included",
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
INGEST_RETRIES = Counter("wangge_gateway_ingest_retries", "Batches retried after a database error")
INGEST_CRASHES = Counter("wangge_gateway_ingest_crashes", "Times the ingest loop failed and was restarted")
INGEST_QUEUE = Gauge("wangge_gateway_ingest_queue", "Messages waiting between the broker connection and the writer")
RETENTION_REMOVED = Counter(
    "wangge_gateway_retention_removed",
    "Rows removed by the retention job, by kind (snapshots, dead_letters, webhook_deliveries, ...)",
    ["kind"],
)
PARTITIONS = Gauge("wangge_gateway_partitions", "Month partitions of a partitioned table", ["table"])
PARTITION_ROWS = Gauge(
    "wangge_gateway_partition_rows", "Approximate rows in a table's partitions (planner estimate)", ["table"]
)
MQTT_CONNECTED = Gauge("wangge_gateway_mqtt_connected", "1 while connected to the broker")
EDGE_ONLINE = Gauge("wangge_gateway_edge_online", "1 when the edge's last status said online", ["edge_id"])
EDGE_OUTBOX_DEPTH = Gauge("wangge_gateway_edge_outbox_depth", "Outbox depth the edge last reported", ["edge_id"])
EDGE_READINGS = Gauge(
    "wangge_gateway_edge_readings",
    "Readings accepted by the edge since it started, as it last reported",
    ["edge_id"],
)
EDGE_ALERTS_SENT = Gauge(
    "wangge_gateway_edge_alerts_sent",
    "Alert events the edge has had acknowledged since it started",
    ["edge_id"],
)
WEBHOOK_ATTEMPTS = Counter(
    "wangge_gateway_webhook_attempts",
    "Webhook requests, by format and result (delivered, retry, dead, gone)",
    ["format", "result"],
)
WEBHOOK_LEASES_LOST = Counter(
    "wangge_gateway_webhook_leases_lost",
    "Claimed webhook deliveries this replica could no longer renew: taken over by another after a stall",
)
WEBHOOK_LATENCY = Histogram(
    "wangge_gateway_webhook_seconds",
    "Webhook request time",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LIVE_STREAMS = Gauge("wangge_gateway_live_streams", "Open console live-feed streams (Server-Sent Events)")
LIVE_EVENTS_SENT = Counter("wangge_gateway_live_events_sent", "Events written to console live-feed streams")
SNAPSHOTS_STORED = Counter("wangge_gateway_snapshots_stored", "Alert snapshots stored (a resend replaces the first)")
BROKER_REFUSALS = Counter(
    "wangge_gateway_broker_refusals",
    "Broker logins and topics the gateway refused when EMQX asked (login, publish, subscribe)",
    ["kind"],
)
LOGINS_THROTTLED = Counter(
    "wangge_gateway_logins_throttled", "Sign-in attempts turned away with 429 (throttle or busy)"
)
MEDIA_REQUESTS = Counter(
    "wangge_gateway_media_requests",
    "Object store requests, by operation (put, get, delete) and outcome (ok, unavailable, missing)",
    ["op", "outcome"],
)
MEDIA_SECONDS = Histogram(
    "wangge_gateway_media_seconds",
    "Object store request time, by operation",
    ["op"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
MEDIA_STORED = Counter(
    "wangge_gateway_media_stored", "Media objects stored, by kind (snapshot, clip, photo, live)", ["kind"]
)
MEDIA_REFUSED = Counter(
    "wangge_gateway_media_refused",
    "Media uploads refused, by kind and reason (too_big, not_video, too_long, store_down)",
    ["kind", "reason"],
)
MEDIA_STAGED = Gauge(
    "wangge_gateway_media_staged", "Attachments whose bytes still wait in PostgreSQL for the object store"
)
LIVE_SESSIONS = Gauge("wangge_gateway_live_sessions", "Live-view sessions running, on every edge")
LIVE_STARTED = Counter(
    "wangge_gateway_live_started",
    "Live-view sessions asked for, by outcome (started, busy, offline, failed)",
    ["outcome"],
)
