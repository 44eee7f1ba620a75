-- Snapshots are evidence for one alert: link the attachment to the alert that carried it, so the console can
-- draw that alert's rule geometry on it and an edge can send a snapshot again without making a second one.
ALTER TABLE attachments ADD COLUMN alert_id uuid;
CREATE UNIQUE INDEX attachments_alert_snapshot ON attachments (alert_id) WHERE kind = 'snapshot';
