-- Media moves to an S3 object store: an attachment row keeps the object's key and metadata; `data` only holds
-- bytes still waiting to go there (a photo taken while the store was down, or a row from before this migration,
-- which `wangge media migrate` moves out). Event clips are attachments too, one per (alert, camera, part).
ALTER TABLE attachments ALTER COLUMN data DROP NOT NULL;
ALTER TABLE attachments ADD COLUMN object_key text UNIQUE;
ALTER TABLE attachments ADD COLUMN device_id text;
ALTER TABLE attachments ADD COLUMN part integer;
ALTER TABLE attachments ADD COLUMN covers_from timestamptz;
ALTER TABLE attachments ADD COLUMN covers_to timestamptz;
ALTER TABLE attachments ADD COLUMN duration_s real;
ALTER TABLE attachments DROP CONSTRAINT attachments_kind_check;
ALTER TABLE attachments ADD CONSTRAINT attachments_kind_check CHECK (kind IN ('photo', 'snapshot', 'clip'));
ALTER TABLE attachments ADD CONSTRAINT attachments_bytes_somewhere CHECK (data IS NOT NULL OR object_key IS NOT NULL);
ALTER TABLE attachments ADD CONSTRAINT attachments_clip_fields
    CHECK (kind <> 'clip' OR (alert_id IS NOT NULL AND device_id IS NOT NULL AND part IS NOT NULL));
CREATE UNIQUE INDEX attachments_alert_clip ON attachments (alert_id, device_id, part) WHERE kind = 'clip';
CREATE INDEX attachments_clip_age ON attachments (created_at) WHERE kind = 'clip';
CREATE INDEX attachments_staged ON attachments (id) WHERE data IS NOT NULL;

-- Objects whose rows are gone (retention, a replaced snapshot): deleted from the store after the commit, and
-- retried until the store says so, so a row and its object always go together.
CREATE TABLE media_garbage (
    object_key  text PRIMARY KEY,
    since       timestamptz NOT NULL DEFAULT now(),
    tries       integer NOT NULL DEFAULT 0
);

-- Live view: one row per viewer's session, shared by every replica (the edge may push to any of them).
CREATE TABLE live_sessions (
    id              uuid PRIMARY KEY,
    edge_id         text NOT NULL,
    camera_id       text NOT NULL,
    username        text NOT NULL,
    remote          text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    first_segment_at timestamptz,
    last_viewed_at  timestamptz NOT NULL DEFAULT now(),
    last_pushed_at  timestamptz,
    ended_at        timestamptz,
    end_reason      text,
    pushed_bytes    bigint NOT NULL DEFAULT 0
);
CREATE INDEX live_sessions_running ON live_sessions (edge_id) WHERE ended_at IS NULL;
