-- The walking skeleton: edges, alerts, their events, tickets, the ticket history, dead letters, API tokens.

CREATE TABLE edges (
    edge_id      text PRIMARY KEY,
    state        text NOT NULL,
    last_seen    timestamptz NOT NULL,
    status       jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE tickets (
    id               bigserial PRIMARY KEY,
    correlation_key  text NOT NULL,
    state            text NOT NULL DEFAULT 'reported',
    category         text NOT NULL,
    severity         text NOT NULL,
    title            text NOT NULL,
    edge_id          text,
    device_id        text,
    rule_id          text,
    opened_at        timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz,
    alert_count      integer NOT NULL DEFAULT 0,
    active_alerts    integer NOT NULL DEFAULT 0,
    first_alert_at   timestamptz,
    last_alert_at    timestamptz,
    CONSTRAINT tickets_closed_state CHECK ((closed_at IS NULL) = (state NOT IN ('closed', 'cancelled')))
);
-- At most one open ticket per correlation key, enforced here so that concurrent gateways cannot race.
CREATE UNIQUE INDEX tickets_open_correlation ON tickets (correlation_key) WHERE closed_at IS NULL;
CREATE INDEX tickets_open_recent ON tickets (opened_at DESC, id DESC) WHERE closed_at IS NULL;
CREATE INDEX tickets_recent ON tickets (opened_at DESC, id DESC);

CREATE TABLE alerts (
    alert_id     uuid PRIMARY KEY,
    ticket_id    bigint NOT NULL REFERENCES tickets (id),
    edge_id      text NOT NULL,
    device_id    text NOT NULL,
    rule_id      text NOT NULL,
    category     text NOT NULL,
    severity     text NOT NULL,
    title        text NOT NULL,
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    last_seq     integer NOT NULL,
    emitted_at   timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload      jsonb NOT NULL
);
CREATE INDEX alerts_ticket ON alerts (ticket_id, started_at);

CREATE TABLE alert_events (
    alert_id     uuid NOT NULL,
    seq          integer NOT NULL,
    event        text NOT NULL,
    at           timestamptz NOT NULL,
    emitted_at   timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload      jsonb NOT NULL,
    PRIMARY KEY (alert_id, seq)
);

CREATE TABLE ticket_events (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    kind        text NOT NULL,
    from_state  text,
    to_state    text,
    note        text,
    data        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);

CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    source       text NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL,
    payload      bytea NOT NULL
);

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    token_sha256 bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz
);

-- One alert event in, in one call: dedupe by (alert_id, seq), then create or update the alert and
-- open or attach its ticket. Any event can come first (a start may be redelivered after its end),
-- and every event carries the whole alert, so whichever arrives first creates the alert row.
CREATE FUNCTION wangge_ingest_alert(p jsonb, p_key text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_alert   uuid := (p->>'alert_id')::uuid;
    v_seq     integer := (p->>'seq')::integer;
    v_event   text := p->>'event';
    v_at      timestamptz := (p->>'at')::timestamptz;
    v_ended   timestamptz := (p->>'ended_at')::timestamptz;
    v_ticket  bigint;
    v_last    integer;
    v_created boolean;
    v_ended_before timestamptz;
BEGIN
    -- Events of one alert are serialised; different alerts proceed in parallel.
    PERFORM pg_advisory_xact_lock(hashtextextended(v_alert::text, 0));
    INSERT INTO alert_events (alert_id, seq, event, at, emitted_at, payload)
    VALUES (v_alert, v_seq, v_event, v_at, (p->>'emitted_at')::timestamptz, p)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'duplicate';
    END IF;

    SELECT ticket_id, last_seq, ended_at INTO v_ticket, v_last, v_ended_before
    FROM alerts WHERE alert_id = v_alert;
    IF FOUND THEN
        UPDATE alerts SET
            last_seq = greatest(last_seq, v_seq),
            severity = CASE WHEN v_seq > last_seq THEN p->>'severity' ELSE severity END,
            title    = CASE WHEN v_seq > last_seq THEN p->>'title' ELSE title END,
            ended_at = coalesce(ended_at, v_ended)
        WHERE alert_id = v_alert;
        IF v_ended IS NOT NULL AND v_ended_before IS NULL THEN
            UPDATE tickets SET active_alerts = greatest(active_alerts - 1, 0), updated_at = now()
            WHERE id = v_ticket;
        END IF;
        INSERT INTO ticket_events (ticket_id, actor, kind, data)
        VALUES (v_ticket, 'edge:' || (p->>'edge_id'), 'alert.' || v_event,
                jsonb_build_object('alert_id', v_alert, 'seq', v_seq, 'at', p->>'at', 'severity', p->>'severity'));
        RETURN 'event';
    END IF;

    INSERT INTO tickets AS t (correlation_key, category, severity, title, edge_id, device_id, rule_id,
                              alert_count, active_alerts, first_alert_at, last_alert_at)
    VALUES (p_key, p->>'category', p->>'severity', p->>'title', p->>'edge_id', p->'source'->>'device_id',
            p->>'rule_id', 1, CASE WHEN v_ended IS NULL THEN 1 ELSE 0 END,
            (p->>'started_at')::timestamptz, (p->>'started_at')::timestamptz)
    ON CONFLICT (correlation_key) WHERE closed_at IS NULL DO UPDATE SET
        alert_count    = t.alert_count + 1,
        active_alerts  = t.active_alerts + EXCLUDED.active_alerts,
        last_alert_at  = greatest(t.last_alert_at, EXCLUDED.last_alert_at),
        severity       = CASE WHEN array_position(ARRAY['info','minor','major','critical'], EXCLUDED.severity)
                                 > array_position(ARRAY['info','minor','major','critical'], t.severity)
                              THEN EXCLUDED.severity ELSE t.severity END,
        updated_at     = now()
    RETURNING id, (xmax = 0) INTO v_ticket, v_created;

    INSERT INTO alerts (alert_id, ticket_id, edge_id, device_id, rule_id, category, severity, title,
                        started_at, ended_at, last_seq, emitted_at, payload)
    VALUES (v_alert, v_ticket, p->>'edge_id', p->'source'->>'device_id', p->>'rule_id', p->>'category',
            p->>'severity', p->>'title', (p->>'started_at')::timestamptz, v_ended, v_seq,
            (p->>'emitted_at')::timestamptz, p);

    IF v_created THEN
        INSERT INTO ticket_events (ticket_id, actor, kind, to_state, data)
        VALUES (v_ticket, 'edge:' || (p->>'edge_id'), 'ticket.opened', 'reported',
                jsonb_build_object('alert_id', v_alert, 'correlation_key', p_key));
    END IF;
    INSERT INTO ticket_events (ticket_id, actor, kind, data)
    VALUES (v_ticket, 'edge:' || (p->>'edge_id'), 'alert.' || v_event,
            jsonb_build_object('alert_id', v_alert, 'seq', v_seq, 'at', p->>'at', 'severity', p->>'severity'));
    RETURN CASE WHEN v_created THEN 'opened' ELSE 'attached' END;
END;
$$;

-- A batch in arrival order, in one round trip; returns one outcome per element.
CREATE FUNCTION wangge_ingest_alerts(ps jsonb[], keys text[]) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    out text[] := ARRAY[]::text[];
BEGIN
    FOR i IN 1 .. coalesce(array_length(ps, 1), 0) LOOP
        out := out || wangge_ingest_alert(ps[i], keys[i]);
    END LOOP;
    RETURN out;
END;
$$;
