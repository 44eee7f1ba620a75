-- People report too (gateway/intake/, gateway/cases/duplicates.py): residents through the public page, other
-- systems through Open311, grid workers through the console. Each report is a row of its own, so one case can
-- have several reporters (a duplicate attaches instead of opening another case), each with their own progress
-- link, and a report merged by mistake can be split out again with its photos and its link.

-- The channel a ticket came in by: for people the report's channel, for alerts the kind of device.
ALTER TABLE tickets ADD COLUMN channel text
    CHECK (channel IN ('resident', 'open311', 'grid_worker', 'camera', 'sensor', 'edge', 'rootcause'));
ALTER TABLE tickets ADD COLUMN reporters integer NOT NULL DEFAULT 0;      -- people who reported it
ALTER TABLE tickets ADD COLUMN last_reported_at timestamptz;             -- the newest of their reports
ALTER TABLE tickets ADD COLUMN merged_into bigint REFERENCES tickets (id);
CREATE INDEX tickets_merged_into ON tickets (merged_into) WHERE merged_into IS NOT NULL;
-- The duplicate search: open cases of a category near a point (a box on lat, then lon, read from the index).
CREATE INDEX tickets_open_place ON tickets (category, lat, lon) WHERE closed_at IS NULL AND lat IS NOT NULL;

-- An integrating system (12345 platform, WeChat back end, a city app) and its Open311 api_key, kept hashed.
CREATE TABLE open311_keys (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    key_sha256   bytea NOT NULL UNIQUE,
    region_path  text NOT NULL,              -- what the key may post into and read
    per_minute   integer NOT NULL CHECK (per_minute > 0),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE TABLE ticket_reports (
    id               bigserial PRIMARY KEY,
    ticket_id        bigint NOT NULL REFERENCES tickets (id),
    opened_ticket_id bigint NOT NULL REFERENCES tickets (id),  -- the ticket it opened or first attached to
    channel          text NOT NULL CHECK (channel IN ('resident', 'open311', 'grid_worker')),
    at               timestamptz NOT NULL,
    category         text NOT NULL,
    description      text NOT NULL,
    lat              double precision NOT NULL,
    lon              double precision NOT NULL,
    address          text,
    reporter         text,                    -- the grid worker's name or the Open311 system's; residents: none
    phone            text,                    -- a call-back number the resident gave (operators see it)
    token_sha256     bytea NOT NULL UNIQUE,   -- the reporter's progress link
    open311_key_id   bigint REFERENCES open311_keys (id),
    attributes       jsonb,                   -- Open311 service attributes as sent
    media_url        text,                    -- an Open311 client's photo link
    event_id         bigint REFERENCES ticket_events (id),  -- the history entry it made (its photos hang on it)
    split_at         timestamptz,            -- when it was split out of the ticket it was merged into
    CHECK (lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180)
);
CREATE INDEX ticket_reports_ticket ON ticket_reports (ticket_id, id);
CREATE INDEX ticket_reports_key ON ticket_reports (open311_key_id, at) WHERE open311_key_id IS NOT NULL;

-- Phone verification codes (short-lived; hashed like every other secret).
CREATE TABLE phone_codes (
    phone_sha256 bytea PRIMARY KEY,
    code_sha256  bytea NOT NULL,
    sent_at      timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0
);

-- Earlier reports keep their links: each report ticket gets its report row.
INSERT INTO ticket_reports (ticket_id, opened_ticket_id, channel, at, category, description, lat, lon, reporter,
                            token_sha256)
SELECT t.id, t.id, 'grid_worker', t.opened_at, t.category, coalesce(t.description, t.title), t.lat, t.lon,
       t.reported_by, t.resident_token_sha256
FROM tickets t
WHERE t.source = 'report' AND t.resident_token_sha256 IS NOT NULL AND t.lat IS NOT NULL AND t.lon IS NOT NULL;

UPDATE tickets t SET reporters = 1, last_reported_at = t.opened_at, channel = 'grid_worker' WHERE t.source = 'report';
UPDATE tickets t SET channel = 'rootcause' WHERE t.source = 'rootcause';
UPDATE tickets t SET channel = coalesce(
        (SELECT a.payload->'source'->>'kind' FROM alerts a WHERE a.ticket_id = t.id ORDER BY a.started_at LIMIT 1),
        (SELECT d.kind FROM devices d WHERE d.device_id = t.device_id), 'sensor')
WHERE t.source = 'alert';

-- A ticket merged into another is not a case of its own: its facts say so (source 'merged'), and the indicators
-- count the case it joined, once.
CREATE OR REPLACE FUNCTION wangge_facts_follow_ticket() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ticket_facts SET opened_at = NEW.opened_at, region_path = NEW.region_path, department = NEW.department,
           category = NEW.category, rule_id = NEW.rule_id, device_id = NEW.device_id,
           source = CASE WHEN NEW.merged_into IS NULL THEN NEW.source ELSE 'merged' END
    WHERE ticket_id = NEW.id;
    RETURN NULL;
END;
$$;
DROP TRIGGER tickets_facts_follow ON tickets;
CREATE TRIGGER tickets_facts_follow AFTER UPDATE OF opened_at, region_path, department, category, source, rule_id,
    device_id, merged_into ON tickets FOR EACH ROW
    WHEN ((OLD.opened_at, OLD.region_path, OLD.department, OLD.category, OLD.source, OLD.rule_id, OLD.device_id,
           OLD.merged_into)
          IS DISTINCT FROM
          (NEW.opened_at, NEW.region_path, NEW.department, NEW.category, NEW.source, NEW.rule_id, NEW.device_id,
           NEW.merged_into))
    EXECUTE FUNCTION wangge_facts_follow_ticket();
