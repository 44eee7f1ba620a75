-- The case system: regions, registry, users, SLA fields, workflow fields, attachments, event outbox.

CREATE TABLE regions (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    level       text NOT NULL CHECK (level IN ('district', 'street', 'community', 'grid')),
    parent_id   bigint REFERENCES regions (id),
    path        text NOT NULL,
    geometry    jsonb,
    min_lon     double precision, min_lat double precision, max_lon double precision, max_lat double precision,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((level = 'district') = (parent_id IS NULL))
);
CREATE INDEX regions_path ON regions (path text_pattern_ops);

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    display_name  text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'supervisor', 'operator', 'grid_worker')),
    region_id     bigint REFERENCES regions (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);

ALTER TABLE api_tokens
    ADD COLUMN user_id bigint REFERENCES users (id),
    ADD COLUMN edge_id text,
    ADD COLUMN last_used_at timestamptz;

CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor     text NOT NULL,
    kind      text NOT NULL,
    subject   text,
    remote    text,
    data      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_kind_at ON audit_log (kind, at);

ALTER TABLE edges ADD COLUMN region_id bigint REFERENCES regions (id);

CREATE TABLE sites (
    code       text PRIMARY KEY,
    name       text NOT NULL,
    region_id  bigint NOT NULL REFERENCES regions (id)
);

CREATE TABLE devices (
    device_id  text PRIMARY KEY,
    edge_id    text,
    kind       text NOT NULL CHECK (kind IN ('camera', 'sensor')),
    name       text NOT NULL DEFAULT '',
    site_code  text REFERENCES sites (code),
    region_id  bigint REFERENCES regions (id),
    lat        double precision,
    lon        double precision,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_edge ON devices (edge_id);

ALTER TABLE tickets
    ADD COLUMN source             text NOT NULL DEFAULT 'alert' CHECK (source IN ('alert', 'report')),
    ADD COLUMN description        text,
    ADD COLUMN region_id          bigint REFERENCES regions (id),
    ADD COLUMN region_path        text NOT NULL DEFAULT '/',
    ADD COLUMN handling_region_id bigint REFERENCES regions (id),
    ADD COLUMN lat                double precision,
    ADD COLUMN lon                double precision,
    ADD COLUMN department         text,
    ADD COLUMN matter             text CHECK (matter IN ('big', 'small', 'private')),
    ADD COLUMN stage              text,
    ADD COLUMN stage_started_at   timestamptz,
    ADD COLUMN due_at             timestamptz,
    ADD COLUMN yellow_at          timestamptz,
    ADD COLUMN overdue_notified   boolean NOT NULL DEFAULT false,
    ADD COLUMN was_overdue        boolean NOT NULL DEFAULT false,
    ADD COLUMN escalation_level   integer NOT NULL DEFAULT 0,
    ADD COLUMN supervised         boolean NOT NULL DEFAULT false,
    ADD COLUMN false_alarm_reason text,
    ADD COLUMN recurring_of       bigint REFERENCES tickets (id),
    ADD COLUMN reported_by        text,
    ADD COLUMN resident_token_sha256 bytea UNIQUE,
    ADD COLUMN rating             text CHECK (rating IN ('satisfied', 'basically', 'not_satisfied')),
    ADD COLUMN rating_comment     text,
    ADD COLUMN rated_at           timestamptz,
    ADD COLUMN reopen_count       integer NOT NULL DEFAULT 0;

-- The operator queue: open tickets of a region subtree by deadline.
CREATE INDEX tickets_queue ON tickets (region_path text_pattern_ops, due_at) WHERE closed_at IS NULL;
-- The escalation job: open tickets past their deadline.
CREATE INDEX tickets_due ON tickets (due_at) WHERE closed_at IS NULL;
CREATE INDEX tickets_opened_path ON tickets (opened_at, region_path text_pattern_ops);
CREATE INDEX tickets_recurring ON tickets (category, region_id, opened_at);
CREATE INDEX tickets_correlation_closed ON tickets (correlation_key, closed_at DESC) WHERE closed_at IS NOT NULL;

CREATE TABLE attachments (
    id            bigserial PRIMARY KEY,
    ticket_id     bigint NOT NULL REFERENCES tickets (id),
    event_id      bigint REFERENCES ticket_events (id),
    content_type  text NOT NULL,
    sha256        bytea NOT NULL,
    size          integer NOT NULL,
    data          bytea NOT NULL,
    uploaded_by   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_ticket ON attachments (ticket_id);

-- Events for other systems, written in the same transaction as the change that caused them.
CREATE TABLE outbox_events (
    id          bigserial PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    event_type  text NOT NULL,
    ticket_id   bigint REFERENCES tickets (id),
    region_path text NOT NULL DEFAULT '/',
    category    text,
    severity    text,
    payload     jsonb NOT NULL
);

-- Ingest now places tickets (device's region, else its edge's) and reopens a ticket closed within the
-- reopen window; it returns the ticket id so the caller can set deadlines, routing and recurrence.
DROP FUNCTION wangge_ingest_alerts(jsonb[], text[]);
DROP FUNCTION wangge_ingest_alert(jsonb, text);

CREATE FUNCTION wangge_ingest_alert(p jsonb, p_key text, p_reopen interval, OUT outcome text, OUT ticket bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_alert   uuid := (p->>'alert_id')::uuid;
    v_seq     integer := (p->>'seq')::integer;
    v_event   text := p->>'event';
    v_ended   timestamptz := (p->>'ended_at')::timestamptz;
    v_device  text := p->'source'->>'device_id';
    v_last    integer;
    v_created boolean;
    v_ended_before timestamptz;
    v_region  bigint;
    v_path    text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(v_alert::text, 0));
    INSERT INTO alert_events (alert_id, seq, event, at, emitted_at, payload)
    VALUES (v_alert, v_seq, v_event, (p->>'at')::timestamptz, (p->>'emitted_at')::timestamptz, p)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        outcome := 'duplicate';
        RETURN;
    END IF;

    SELECT a.ticket_id, a.last_seq, a.ended_at INTO ticket, v_last, v_ended_before
    FROM alerts a WHERE a.alert_id = v_alert;
    IF FOUND THEN
        UPDATE alerts SET
            last_seq = greatest(last_seq, v_seq),
            severity = CASE WHEN v_seq > last_seq THEN p->>'severity' ELSE severity END,
            title    = CASE WHEN v_seq > last_seq THEN p->>'title' ELSE title END,
            ended_at = coalesce(ended_at, v_ended)
        WHERE alert_id = v_alert;
        IF v_ended IS NOT NULL AND v_ended_before IS NULL THEN
            UPDATE tickets SET active_alerts = greatest(active_alerts - 1, 0), updated_at = now() WHERE id = ticket;
        END IF;
        INSERT INTO ticket_events (ticket_id, actor, kind, data)
        VALUES (ticket, 'edge:' || (p->>'edge_id'), 'alert.' || v_event,
                jsonb_build_object('alert_id', v_alert, 'seq', v_seq, 'at', p->>'at', 'severity', p->>'severity'));
        outcome := 'event';
        RETURN;
    END IF;

    SELECT coalesce(d.region_id, e.region_id) INTO v_region
    FROM (SELECT 1) one
    LEFT JOIN devices d ON d.device_id = v_device
    LEFT JOIN edges e ON e.edge_id = p->>'edge_id';
    SELECT r.path INTO v_path FROM regions r WHERE r.id = v_region;

    -- A ticket of the same source closed within the reopen window is reopened rather than duplicated.
    UPDATE tickets t SET state = 'reopened', closed_at = NULL, reopen_count = t.reopen_count + 1,
           alert_count = t.alert_count + 1, active_alerts = t.active_alerts + CASE WHEN v_ended IS NULL THEN 1 ELSE 0 END,
           last_alert_at = greatest(t.last_alert_at, (p->>'started_at')::timestamptz), updated_at = now()
    WHERE t.id = (SELECT c.id FROM tickets c WHERE c.correlation_key = p_key AND c.state = 'closed'
                  AND c.closed_at > now() - p_reopen ORDER BY c.closed_at DESC LIMIT 1)
      AND NOT EXISTS (SELECT 1 FROM tickets o WHERE o.correlation_key = p_key AND o.closed_at IS NULL)
    RETURNING t.id INTO ticket;
    IF FOUND THEN
        outcome := 'reopened';
        INSERT INTO ticket_events (ticket_id, actor, kind, from_state, to_state, data)
        VALUES (ticket, 'edge:' || (p->>'edge_id'), 'ticket.reopened', 'closed', 'reopened',
                jsonb_build_object('alert_id', v_alert, 'reason', 'alert within the reopen window'));
    ELSE
        INSERT INTO tickets AS t (correlation_key, category, severity, title, edge_id, device_id, rule_id,
                                  alert_count, active_alerts, first_alert_at, last_alert_at, region_id, region_path)
        VALUES (p_key, p->>'category', p->>'severity', p->>'title', p->>'edge_id', v_device,
                p->>'rule_id', 1, CASE WHEN v_ended IS NULL THEN 1 ELSE 0 END,
                (p->>'started_at')::timestamptz, (p->>'started_at')::timestamptz, v_region, coalesce(v_path, '/'))
        ON CONFLICT (correlation_key) WHERE closed_at IS NULL DO UPDATE SET
            alert_count    = t.alert_count + 1,
            active_alerts  = t.active_alerts + EXCLUDED.active_alerts,
            last_alert_at  = greatest(t.last_alert_at, EXCLUDED.last_alert_at),
            severity       = CASE WHEN array_position(ARRAY['info','minor','major','critical'], EXCLUDED.severity)
                                     > array_position(ARRAY['info','minor','major','critical'], t.severity)
                                  THEN EXCLUDED.severity ELSE t.severity END,
            updated_at     = now()
        RETURNING t.id, (xmax = 0) INTO ticket, v_created;
        outcome := CASE WHEN v_created THEN 'opened' ELSE 'attached' END;
        IF v_created THEN
            INSERT INTO ticket_events (ticket_id, actor, kind, to_state, data)
            VALUES (ticket, 'edge:' || (p->>'edge_id'), 'ticket.opened', 'reported',
                    jsonb_build_object('alert_id', v_alert, 'correlation_key', p_key));
        END IF;
    END IF;

    INSERT INTO alerts (alert_id, ticket_id, edge_id, device_id, rule_id, category, severity, title,
                        started_at, ended_at, last_seq, emitted_at, payload)
    VALUES (v_alert, ticket, p->>'edge_id', v_device, p->>'rule_id', p->>'category',
            p->>'severity', p->>'title', (p->>'started_at')::timestamptz, v_ended, v_seq,
            (p->>'emitted_at')::timestamptz, p);
    INSERT INTO ticket_events (ticket_id, actor, kind, data)
    VALUES (ticket, 'edge:' || (p->>'edge_id'), 'alert.' || v_event,
            jsonb_build_object('alert_id', v_alert, 'seq', v_seq, 'at', p->>'at', 'severity', p->>'severity'));
END;
$$;

CREATE FUNCTION wangge_ingest_alerts(ps jsonb[], keys text[], p_reopen interval)
RETURNS TABLE (outcome text, ticket bigint)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(ps, 1), 0) LOOP
        SELECT r.outcome, r.ticket INTO outcome, ticket FROM wangge_ingest_alert(ps[i], keys[i], p_reopen) r;
        RETURN NEXT;
    END LOOP;
END;
$$;
