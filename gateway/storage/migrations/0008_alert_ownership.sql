-- Trust at the boundary: an alert id belongs to the edge that first sent it. Another edge's event for the
-- same id (to end, update or re-ticket someone else's alert) is refused before anything is written; the
-- gateway dead-letters it as `foreign_alert` and tells the sender it was refused.
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
    -- An alert id belongs to the edge that first sent it: another edge's event for it changes nothing.
    IF EXISTS (SELECT 1 FROM alerts a WHERE a.alert_id = v_alert AND a.edge_id <> p->>'edge_id') THEN
        outcome := 'foreign_alert';
        RETURN;
    END IF;
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
