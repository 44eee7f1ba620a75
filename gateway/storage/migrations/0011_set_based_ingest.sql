-- Set-based ingest (gateway/ingest/alert_rows.py): a batch of N alert events is written by a constant number
-- of statements instead of N calls of wangge_ingest_alert. The batch's own structure (which event is a
-- redelivered copy, which one makes an alert's row, which alerts share a ticket) is worked out in Python
-- (gateway/ingest/batch_plan.py); the two functions below are what must happen inside the database, in order,
-- and wangge_ingest_one (at the end) takes a batch of a single event by the sequential definition.
--
-- Both run with generic plans: every join in them is an index lookup per input row, right for one event or
-- five hundred, and a custom plan per call (what the plan cache chose, the array sizes differing) cost more to
-- make than to run (0.2 ms planning against 0.06 ms executing, for a batch of one).
--
-- wangge_ingest_alert (0008) stays: it is the sequential definition the batch path must agree with, and
-- tests/gateway/ingest/test_batch_equivalence.py runs both on the same random batches.

CREATE FUNCTION wangge_severity_rank(p_severity text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_position(ARRAY['info', 'minor', 'major', 'critical'], p_severity)
$$;

-- What every outbox event says about its ticket (gateway/cases/events.py and the batch write below).
CREATE FUNCTION wangge_ticket_summary(t tickets) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('ticket', jsonb_build_object('id', t.id, 'state', t.state, 'category', t.category,
        'severity', t.severity, 'title', t.title, 'region_path', t.region_path, 'due_at', t.due_at,
        'escalation_level', t.escalation_level, 'opened_at', t.opened_at))
$$;

-- Step 1. Lock the batch's alert ids (in one order for every replica, so copies of one alert arriving at two
-- replicas wait for each other and never race), then read what is stored about each event: whether it is
-- already there, the edge its alert id and its device belong to, the alert's row. Times come back as the
-- database holds them, so the caller matches events exactly as the primary keys do.
CREATE FUNCTION wangge_ingest_facts(p_ids text[], p_seqs integer[], p_ats text[], p_started text[], p_devices text[])
RETURNS TABLE (at timestamptz, started_at timestamptz, stored_event boolean, owner_edge text, device_edge text,
               stored boolean, stored_ticket bigint, stored_ended boolean, waited_ms double precision)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_began timestamptz := clock_timestamp();
    v_waited double precision;
BEGIN
    PERFORM pg_advisory_xact_lock(l.h)
    FROM (SELECT DISTINCT hashtextextended(i::uuid::text, 0) AS h FROM unnest(p_ids) i ORDER BY 1) l;
    v_waited := extract(epoch FROM clock_timestamp() - v_began) * 1000;
    RETURN QUERY
    SELECT u.at, u.started_at,
           EXISTS (SELECT 1 FROM alert_events e WHERE e.alert_id = u.alert_id AND e.seq = u.seq AND e.at = u.at),
           coalesce(s.edge_id, (SELECT a.edge_id FROM alerts a WHERE a.alert_id = u.alert_id LIMIT 1)),
           (SELECT d.edge_id FROM devices d WHERE d.device_id = u.device_id),
           s.alert_id IS NOT NULL, s.ticket_id, s.ended_at IS NOT NULL, v_waited
    FROM (SELECT n, i::uuid AS alert_id, q AS seq, t::timestamptz AS at, st::timestamptz AS started_at, dv AS device_id
          FROM unnest(p_ids, p_seqs, p_ats, p_started, p_devices) WITH ORDINALITY AS x(i, q, t, st, dv, n)) u
    LEFT JOIN alerts s ON s.alert_id = u.alert_id AND s.started_at = u.started_at
    ORDER BY u.n;
END;
$$;

-- Step 2. Write the batch: the fresh events (e_*), then the tickets of its new alerts, one row per correlation
-- key (k_*) with the counters already aggregated (alerts, those still active, latest start, highest severity),
-- and one active alert less per stored alert that ended (d_*); then the new alert rows (m_*, placed on their
-- key's ticket), the stored ones that changed (c_*), and every ticket's history in batch order. When no ticket
-- was opened or reopened it also announces every event (alert.received in the outbox) and says so; otherwise
-- the caller starts the new tickets' clocks first and announces them before their alerts.
-- The ticket rows are locked first, in one order (correlation key, id), so replicas touching the same tickets
-- wait briefly instead of deadlocking, and only after the events are in, so the wait is short. A key whose
-- ticket was closed within the reopen window reopens it; the others attach to the open ticket or open one,
-- placed where the device is (else its edge). Returns each key's ticket and how it was found.
CREATE FUNCTION wangge_ingest_write(
    e_alert text[], e_seq integer[], e_event text[], e_at text[], e_emitted text[], e_payload jsonb[],
    e_severity text[], e_edge text[], e_key text[], e_ticket bigint[], e_first boolean[], e_creates boolean[],
    k_key text[], k_category text[], k_title text[], k_edge text[], k_device text[], k_rule text[],
    k_severity text[], k_later_severity text[], k_alerts integer[], k_active integer[], k_first_at text[],
    k_last_at text[],
    d_ticket bigint[], d_ended integer[],
    m_event integer[], m_alert text[], m_key text[], m_edge text[], m_device text[], m_rule text[],
    m_category text[], m_started text[], m_emitted text[], m_severity text[], m_title text[], m_ended text[],
    m_last_seq integer[],
    c_alert text[], c_started text[], c_top_seq integer[], c_severity text[], c_title text[], c_ended text[],
    p_reopen interval)
RETURNS TABLE (key text, ticket bigint, how text, waited_ms double precision, announced boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_announced boolean := false;
    v_began timestamptz;
    v_waited double precision;
    v_reopened text[];
    v_closed integer;  -- closed tickets of these keys within the reopen window (locked above)
    v_found jsonb;  -- correlation key -> {"t": ticket id, "h": opened | reopened | attached}
BEGIN
    INSERT INTO alert_events (alert_id, seq, event, at, emitted_at, payload)
    SELECT u.alert_id::uuid, u.seq, u.event, u.at::timestamptz, u.emitted::timestamptz, u.payload
    FROM unnest(e_alert, e_seq, e_event, e_at, e_emitted, e_payload) AS u(alert_id, seq, event, at, emitted, payload)
    ON CONFLICT DO NOTHING;

    v_began := clock_timestamp();
    SELECT count(*) FILTER (WHERE l.closed_at IS NOT NULL) INTO v_closed
    FROM (SELECT t.closed_at FROM tickets t
          WHERE t.id IN (SELECT unnest(d_ticket)
                         UNION SELECT o.id FROM tickets o WHERE o.correlation_key = ANY(k_key) AND o.closed_at IS NULL
                         UNION SELECT c.id FROM tickets c WHERE c.correlation_key = ANY(k_key)
                                                             AND c.closed_at IS NOT NULL AND c.state = 'closed'
                                                             AND c.closed_at > now() - p_reopen)
          ORDER BY t.correlation_key, t.id
          FOR UPDATE) l;
    v_waited := extract(epoch FROM clock_timestamp() - v_began) * 1000;

    -- The reopening alert leaves the severity as it was (it reopens what was closed); later ones raise it.
    -- (Each step below runs only when it has rows to work on: a batch of one attaching alert is the common case.)
    IF v_closed > 0 THEN
    WITH k AS (
        SELECT * FROM unnest(k_key, k_later_severity, k_alerts, k_active, k_last_at)
                   AS u(key, later_severity, alerts, active, last_at)
    ), reopened AS (
        UPDATE tickets t SET state = 'reopened', closed_at = NULL, reopen_count = t.reopen_count + 1,
               alert_count = t.alert_count + k.alerts, active_alerts = t.active_alerts + k.active,
               last_alert_at = greatest(t.last_alert_at, k.last_at::timestamptz),
               severity = CASE WHEN wangge_severity_rank(k.later_severity) > wangge_severity_rank(t.severity)
                               THEN k.later_severity ELSE t.severity END,
               updated_at = now()
        FROM k
        WHERE t.id = (SELECT c.id FROM tickets c WHERE c.correlation_key = k.key AND c.state = 'closed'
                      AND c.closed_at > now() - p_reopen ORDER BY c.closed_at DESC LIMIT 1)
          AND NOT EXISTS (SELECT 1 FROM tickets o WHERE o.correlation_key = k.key AND o.closed_at IS NULL)
        RETURNING k.key, t.id
    )
    SELECT array_agg(r.key), jsonb_object_agg(r.key, jsonb_build_object('t', r.id, 'h', 'reopened'))
    INTO v_reopened, v_found FROM reopened r;
    END IF;

    IF cardinality(k_key) > 0 THEN
    WITH upserted AS (
        INSERT INTO tickets AS t (correlation_key, category, severity, title, edge_id, device_id, rule_id,
                                  alert_count, active_alerts, first_alert_at, last_alert_at, region_id, region_path)
        SELECT k.key, k.category, k.severity, k.title, k.edge_id, k.device_id, k.rule_id, k.alerts, k.active,
               k.first_at::timestamptz, k.last_at::timestamptz, place.region_id, coalesce(r.path, '/')
        FROM unnest(k_key, k_category, k_title, k_edge, k_device, k_rule, k_severity, k_alerts, k_active,
                    k_first_at, k_last_at)
             AS k(key, category, title, edge_id, device_id, rule_id, severity, alerts, active, first_at, last_at)
        LEFT JOIN LATERAL (SELECT coalesce(d.region_id, e.region_id) AS region_id FROM (SELECT 1) one
                           LEFT JOIN devices d ON d.device_id = k.device_id
                           LEFT JOIN edges e ON e.edge_id = k.edge_id) place ON true
        LEFT JOIN regions r ON r.id = place.region_id
        WHERE NOT k.key = ANY(coalesce(v_reopened, '{}'))
        ORDER BY k.key
        ON CONFLICT (correlation_key) WHERE closed_at IS NULL DO UPDATE SET
            alert_count   = t.alert_count + EXCLUDED.alert_count,
            active_alerts = t.active_alerts + EXCLUDED.active_alerts,
            last_alert_at = greatest(t.last_alert_at, EXCLUDED.last_alert_at),
            severity      = CASE WHEN wangge_severity_rank(EXCLUDED.severity) > wangge_severity_rank(t.severity)
                                 THEN EXCLUDED.severity ELSE t.severity END,
            updated_at    = now()
        RETURNING t.correlation_key, t.id, (t.xmax = 0) AS created
    )
    SELECT coalesce(v_found, '{}') || coalesce(jsonb_object_agg(u.correlation_key, jsonb_build_object(
               't', u.id, 'h', CASE WHEN u.created THEN 'opened' ELSE 'attached' END)), '{}')
    INTO v_found FROM upserted u;
    END IF;

    IF cardinality(d_ticket) > 0 THEN
        UPDATE tickets t SET active_alerts = greatest(t.active_alerts - d.ended, 0), updated_at = now()
        FROM unnest(d_ticket, d_ended) AS d(id, ended)
        WHERE t.id = d.id;
    END IF;

    INSERT INTO alerts (alert_id, ticket_id, edge_id, device_id, rule_id, category, severity, title, started_at,
                        ended_at, last_seq, emitted_at, payload)
    SELECT m.alert_id::uuid, (v_found->m.key->>'t')::bigint, m.edge_id, m.device_id, m.rule_id, m.category,
           m.severity, m.title, m.started::timestamptz, m.ended::timestamptz, m.last_seq, m.emitted::timestamptz,
           e_payload[m.event]
    FROM unnest(m_event, m_alert, m_key, m_edge, m_device, m_rule, m_category, m_started, m_emitted, m_severity,
                m_title, m_ended, m_last_seq)
         AS m(event, alert_id, key, edge_id, device_id, rule_id, category, started, emitted, severity, title, ended,
              last_seq);

    IF cardinality(c_alert) > 0 THEN
        UPDATE alerts a SET last_seq = greatest(a.last_seq, u.top_seq),
               severity = CASE WHEN u.top_seq > a.last_seq THEN u.severity ELSE a.severity END,
               title    = CASE WHEN u.top_seq > a.last_seq THEN u.title ELSE a.title END,
               ended_at = coalesce(a.ended_at, u.ended::timestamptz)
        FROM unnest(c_alert, c_started, c_top_seq, c_severity, c_title, c_ended)
             AS u(alert_id, started_at, top_seq, severity, title, ended)
        WHERE a.alert_id = u.alert_id::uuid AND a.started_at = u.started_at::timestamptz;
    END IF;

    -- The history in batch order: a ticket's opening or reopening, then the alert event that caused it.
    INSERT INTO ticket_events (ticket_id, actor, kind, from_state, to_state, data)
    SELECT h.ticket, h.actor, h.kind, h.from_state, h.to_state, h.data
    FROM (
        SELECT e.n, 0 AS sub, (v_found->e.key->>'t')::bigint AS ticket, 'edge:' || e.edge AS actor,
               CASE v_found->e.key->>'h' WHEN 'opened' THEN 'ticket.opened' ELSE 'ticket.reopened' END AS kind,
               CASE v_found->e.key->>'h' WHEN 'opened' THEN NULL ELSE 'closed' END AS from_state,
               CASE v_found->e.key->>'h' WHEN 'opened' THEN 'reported' ELSE 'reopened' END AS to_state,
               CASE v_found->e.key->>'h'
                   WHEN 'opened' THEN jsonb_build_object('alert_id', e.alert_id::uuid, 'correlation_key', e.key)
                   ELSE jsonb_build_object('alert_id', e.alert_id::uuid, 'reason', 'alert within the reopen window')
               END AS data
        FROM unnest(e_alert, e_edge, e_key, e_first) WITH ORDINALITY AS e(alert_id, edge, key, first, n)
        WHERE e.first AND v_found->e.key->>'h' IN ('opened', 'reopened')
        UNION ALL
        SELECT e.n, 1, coalesce(e.ticket, (v_found->e.key->>'t')::bigint), 'edge:' || e.edge, 'alert.' || e.event,
               NULL, NULL,
               jsonb_build_object('alert_id', e.alert_id::uuid, 'seq', e.seq, 'at', e.at, 'severity', e.severity)
        FROM unnest(e_alert, e_seq, e_event, e_at, e_severity, e_edge, e_key, e_ticket) WITH ORDINALITY
             AS e(alert_id, seq, event, at, severity, edge, key, ticket, n)
    ) h
    ORDER BY h.n, h.sub;

    IF NOT EXISTS (SELECT 1 FROM jsonb_each(coalesce(v_found, '{}')) f WHERE f.value->>'h' IN ('opened', 'reopened'))
    THEN
        INSERT INTO outbox_events (event_type, ticket_id, region_path, category, severity, payload)
        SELECT 'alert.received', t.id, t.region_path, t.category, t.severity,
               wangge_ticket_summary(t) || jsonb_build_object('outcome', x.outcome)
        FROM (SELECT e.n, coalesce(e.ticket, (v_found->e.key->>'t')::bigint) AS ticket,
                     CASE WHEN NOT e.creates THEN 'event' WHEN e.first THEN v_found->e.key->>'h' ELSE 'attached' END
                         AS outcome
              FROM unnest(e_key, e_ticket, e_first, e_creates) WITH ORDINALITY AS e(key, ticket, first, creates, n)) x
        JOIN tickets t ON t.id = x.ticket
        ORDER BY x.n;
        v_announced := true;
    END IF;

    RETURN QUERY SELECT f.key, (f.value->>'t')::bigint, f.value->>'h', v_waited, v_announced
                 FROM jsonb_each(coalesce(v_found, '{}')) f
                 UNION ALL SELECT NULL, NULL, NULL, v_waited, v_announced WHERE v_found IS NULL OR v_found = '{}';
END;
$$;

-- A batch of one event (light load: most batches) through the sequential definition, which is the same result
-- in one call of a few statements; an event for another edge's device is refused before anything is written.
CREATE FUNCTION wangge_ingest_one(p jsonb, p_key text, p_reopen interval,
                                  OUT outcome text, OUT ticket bigint, OUT device_edge text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT d.edge_id INTO device_edge FROM devices d WHERE d.device_id = p->'source'->>'device_id';
    IF device_edge IS NOT NULL AND device_edge <> p->>'edge_id' THEN
        outcome := 'foreign_device';
        RETURN;
    END IF;
    SELECT r.outcome, r.ticket INTO outcome, ticket FROM wangge_ingest_alert(p, p_key, p_reopen) r;
END;
$$;
