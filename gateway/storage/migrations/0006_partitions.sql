-- Alerts and their raw events, partitioned by month (UTC) so that retention drops whole partitions
-- instead of deleting rows. The partition key is the edge's own time (alerts.started_at, alert_events.at):
-- it is the same in every redelivery of an event, so the primary keys (which must include it) still
-- deduplicate. Partitions are made ahead by the gateway's lifecycle job and on demand by ingest for an
-- event from an unusual month (an edge that was offline for weeks, a skewed clock); there is no default
-- partition, because rows in one would block creating the partition they belong to.

CREATE FUNCTION wangge_month_bounds(p_at timestamptz, OUT lower_bound timestamptz, OUT upper_bound timestamptz,
                                    OUT suffix text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT date_trunc('month', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           (date_trunc('month', p_at AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC',
           to_char(p_at AT TIME ZONE 'UTC', '"y"YYYY"m"MM')
$$;

-- Creates the month partitions of alerts and alert_events holding these instants; returns how many it made.
-- Created detached and then attached: ATTACH takes a weaker lock on the parent than CREATE ... PARTITION OF,
-- so ingest on other replicas is not blocked.
CREATE FUNCTION wangge_ensure_partitions(p_ats timestamptz[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_made  integer := 0;
    v_month record;
    v_parent text;
    v_name  text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('wangge_partitions'));
    FOR v_month IN SELECT DISTINCT b.* FROM unnest(p_ats) t, wangge_month_bounds(t) b LOOP
        FOREACH v_parent IN ARRAY ARRAY['alerts', 'alert_events'] LOOP
            v_name := v_parent || '_' || v_month.suffix;
            CONTINUE WHEN to_regclass(v_name) IS NOT NULL;
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name, v_parent);
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           v_parent, v_name, v_month.lower_bound, v_month.upper_bound);
            v_made := v_made + 1;
        END LOOP;
    END LOOP;
    RETURN v_made;
END;
$$;

-- The month partitions of a parent, oldest first, with their bounds.
CREATE FUNCTION wangge_partitions(p_parent text)
RETURNS TABLE (name text, lower_bound timestamptz, upper_bound timestamptz, approx_rows bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text, b.lower_bound, b.upper_bound, greatest(c.reltuples, 0)::bigint
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL wangge_month_bounds(
        to_date(substring(c.relname from '_y(\d{4}m\d{2})$'), 'YYYY"m"MM')::timestamp AT TIME ZONE 'UTC') b
    WHERE i.inhparent = p_parent::regclass
    ORDER BY b.lower_bound
$$;

-- Drops the partitions of a parent that end at or before p_before; returns their names.
CREATE FUNCTION wangge_drop_partitions(p_parent text, p_before timestamptz) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    v_dropped text[] := ARRAY[]::text[];
    v_part record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('wangge_partitions'));
    FOR v_part IN SELECT * FROM wangge_partitions(p_parent) WHERE upper_bound <= p_before LOOP
        EXECUTE format('DROP TABLE %I', v_part.name);
        v_dropped := v_dropped || v_part.name;
    END LOOP;
    RETURN v_dropped;
END;
$$;

ALTER TABLE alerts RENAME TO alerts_unpartitioned;
ALTER INDEX alerts_pkey RENAME TO alerts_unpartitioned_pkey;
ALTER INDEX alerts_ticket RENAME TO alerts_unpartitioned_ticket;
ALTER TABLE alert_events RENAME TO alert_events_unpartitioned;
ALTER INDEX alert_events_pkey RENAME TO alert_events_unpartitioned_pkey;

CREATE TABLE alerts (
    alert_id     uuid NOT NULL,
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
    payload      jsonb NOT NULL,
    PRIMARY KEY (alert_id, started_at)
) PARTITION BY RANGE (started_at);
CREATE INDEX alerts_ticket ON alerts (ticket_id, started_at);

CREATE TABLE alert_events (
    alert_id     uuid NOT NULL,
    seq          integer NOT NULL,
    event        text NOT NULL,
    at           timestamptz NOT NULL,
    emitted_at   timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload      jsonb NOT NULL,
    PRIMARY KEY (alert_id, seq, at)
) PARTITION BY RANGE (at);

SELECT wangge_ensure_partitions(
    ARRAY(SELECT started_at FROM alerts_unpartitioned UNION SELECT at FROM alert_events_unpartitioned
          UNION SELECT now()));
INSERT INTO alerts SELECT * FROM alerts_unpartitioned;
INSERT INTO alert_events SELECT * FROM alert_events_unpartitioned;
DROP TABLE alerts_unpartitioned;
DROP TABLE alert_events_unpartitioned;

-- Snapshots (camera evidence) expire; photos from people do not.
ALTER TABLE attachments ADD COLUMN kind text NOT NULL DEFAULT 'photo' CHECK (kind IN ('photo', 'snapshot'));
CREATE INDEX attachments_snapshot_age ON attachments (created_at) WHERE kind = 'snapshot';
CREATE INDEX dead_letters_age ON dead_letters (received_at);
CREATE INDEX webhook_deliveries_finished_age ON webhook_deliveries (created_at)
    WHERE state IN ('delivered', 'dead', 'cancelled');
CREATE INDEX webhook_attempts_age ON webhook_attempts (at);
CREATE INDEX outbox_events_age ON outbox_events (created_at) WHERE fanned_out;

-- Ingest finds an alert by (alert_id, started_at), so the lookup reads one partition.
CREATE OR REPLACE FUNCTION wangge_ingest_alert(p jsonb, p_key text, p_reopen interval, OUT outcome text, OUT ticket bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_alert   uuid := (p->>'alert_id')::uuid;
    v_seq     integer := (p->>'seq')::integer;
    v_event   text := p->>'event';
    v_ended   timestamptz := (p->>'ended_at')::timestamptz;
    v_device  text := p->'source'->>'device_id';
    v_started timestamptz := (p->>'started_at')::timestamptz;
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
    FROM alerts a WHERE a.alert_id = v_alert AND a.started_at = v_started;
    IF FOUND THEN
        UPDATE alerts SET
            last_seq = greatest(last_seq, v_seq),
            severity = CASE WHEN v_seq > last_seq THEN p->>'severity' ELSE severity END,
            title    = CASE WHEN v_seq > last_seq THEN p->>'title' ELSE title END,
            ended_at = coalesce(ended_at, v_ended)
        WHERE alert_id = v_alert AND started_at = v_started;
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

