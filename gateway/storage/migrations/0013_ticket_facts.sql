-- Indicators (立案率, 处置率, 按期结案率, ...; gateway/cases/indicators.py) read one narrow row per ticket that
-- holds the moments they are judged by: when it was first registered, dispatched, handled, closed, reworked,
-- reopened, given an extension, when a deadline first passed, its latest rating. The row is a fold of the
-- ticket's whole event history (wangge_ticket_event_facts), refolded by a statement-level trigger in the same transaction
-- as any event that can change it, so it never drifts from the history and a case that changes weeks after it
-- opened moves every period it belongs to. wangge_refold_ticket_facts(NULL) refolds every ticket (a check or a
-- repair); the test suite compares the trigger's rows with it.

-- A tickets' period of an extension request: the duration asked for (in the SLA clock's units), pending until
-- a supervisor approves or rejects it.
ALTER TABLE tickets
    ADD COLUMN extension_requested text,
    ADD COLUMN extension_count     integer NOT NULL DEFAULT 0;

CREATE TABLE ticket_facts (
    ticket_id      bigint PRIMARY KEY REFERENCES tickets (id),
    opened_at      timestamptz NOT NULL,
    region_path    text NOT NULL,
    department     text,
    category       text NOT NULL,
    source         text NOT NULL,
    rule_id        text,
    device_id      text,
    registered_at  timestamptz,  -- first 立案
    dispatched_at  timestamptz,  -- first 派遣
    handled_at     timestamptz,  -- first 处置完成
    closed_at      timestamptz,  -- first 结案
    cancelled_at   timestamptz,  -- 误报 (final: a cancelled ticket is never reopened)
    reworked_at    timestamptz,  -- first 核查不通过
    reopened_at    timestamptz,  -- first reopening after a closure
    extended_at    timestamptz,  -- first approved 延期
    late_at        timestamptz,  -- the first deadline of any stage that passed unmet
    handle_late_at timestamptz,  -- the first accept/handle deadline that passed unmet
    rating         text,         -- the latest 满意度评价
    rated_at       timestamptz
) WITH (fillfactor = 80);  -- room on each page for a refold's new row version (HOT: the indexes stay put)
-- A period's cohort (tickets opened in it) over a region subtree.
CREATE INDEX ticket_facts_opened ON ticket_facts (opened_at, region_path text_pattern_ops);

-- Which events can change a fact; alert events (most of the history) cannot, and cost the trigger nothing.
CREATE FUNCTION wangge_event_moves_facts(p_kind text, p_to_state text, p_data jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_kind LIKE 'action.%' OR p_kind IN ('ticket.reopened', 'ticket.overdue', 'resident.rating')
        OR p_to_state IS NOT NULL AND p_kind <> 'ticket.opened' OR p_data ? 'late_since'
$$;

-- The fold of one ticket's history (read through the ticket's index, however long the whole history is). A
-- deadline that passed is told by the event that noticed it (the SLA job's ticket.overdue, or an action taken
-- late) carrying the deadline itself in late_since and its stage in late_stage, so the moment is the deadline,
-- not when the job happened to run.
CREATE FUNCTION wangge_ticket_event_facts(p_ticket bigint)
RETURNS TABLE (registered_at timestamptz, dispatched_at timestamptz, handled_at timestamptz, closed_at timestamptz,
               cancelled_at timestamptz, reworked_at timestamptz, reopened_at timestamptz, extended_at timestamptz,
               late_at timestamptz, handle_late_at timestamptz, rating text, rated_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT min(e.at) FILTER (WHERE e.to_state = 'registered'),
           min(e.at) FILTER (WHERE e.to_state = 'dispatched'),
           min(e.at) FILTER (WHERE e.to_state = 'handled'),
           min(e.at) FILTER (WHERE e.to_state = 'closed'),
           max(e.at) FILTER (WHERE e.to_state = 'cancelled'),
           min(e.at) FILTER (WHERE e.kind = 'action.rework'),
           min(e.at) FILTER (WHERE e.to_state = 'reopened'),
           min(e.at) FILTER (WHERE e.kind = 'action.approve_extension'),
           min((e.data->>'late_since')::timestamptz),
           min((e.data->>'late_since')::timestamptz) FILTER (WHERE e.data->>'late_stage' IN ('accept', 'handle')),
           (array_agg(e.data->>'rating' ORDER BY e.id DESC) FILTER (WHERE e.kind = 'resident.rating'))[1],
           max(e.at) FILTER (WHERE e.kind = 'resident.rating')
    FROM ticket_events e
    WHERE e.ticket_id = p_ticket AND wangge_event_moves_facts(e.kind, e.to_state, e.data)
$$;

-- Refold the facts of these tickets (every ticket for NULL) from their whole history; only changed rows are
-- written.
CREATE FUNCTION wangge_refold_ticket_facts(p_tickets bigint[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE ticket_facts f SET
        registered_at = v.registered_at, dispatched_at = v.dispatched_at, handled_at = v.handled_at,
        closed_at = v.closed_at, cancelled_at = v.cancelled_at, reworked_at = v.reworked_at,
        reopened_at = v.reopened_at, extended_at = v.extended_at, late_at = v.late_at,
        handle_late_at = v.handle_late_at, rating = v.rating, rated_at = v.rated_at
    FROM (SELECT i.id, ef.*
          FROM (SELECT DISTINCT u.id FROM unnest(p_tickets) AS u(id)
                UNION ALL SELECT t.id FROM tickets t WHERE p_tickets IS NULL) i
          CROSS JOIN LATERAL wangge_ticket_event_facts(i.id) ef) v
    WHERE f.ticket_id = v.id
      AND (f.registered_at, f.dispatched_at, f.handled_at, f.closed_at, f.cancelled_at, f.reworked_at,
           f.reopened_at, f.extended_at, f.late_at, f.handle_late_at, f.rating, f.rated_at)
          IS DISTINCT FROM
          (v.registered_at, v.dispatched_at, v.handled_at, v.closed_at, v.cancelled_at, v.reworked_at,
           v.reopened_at, v.extended_at, v.late_at, v.handle_late_at, v.rating, v.rated_at)
$$;

CREATE FUNCTION wangge_facts_after_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_tickets bigint[];
BEGIN
    SELECT array_agg(DISTINCT n.ticket_id) INTO v_tickets FROM new_events n
    WHERE wangge_event_moves_facts(n.kind, n.to_state, n.data);
    IF v_tickets IS NOT NULL THEN
        PERFORM wangge_refold_ticket_facts(v_tickets);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ticket_events_facts AFTER INSERT ON ticket_events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION wangge_facts_after_events();

CREATE FUNCTION wangge_facts_after_tickets() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticket_facts (ticket_id, opened_at, region_path, department, category, source, rule_id, device_id)
    SELECT n.id, n.opened_at, n.region_path, n.department, n.category, n.source, n.rule_id, n.device_id
    FROM new_tickets n;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tickets_facts AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS new_tickets FOR EACH STATEMENT EXECUTE FUNCTION wangge_facts_after_tickets();

-- A ticket moved to another region (0010), routed, rerouted or recategorised carries its facts along. A row
-- trigger (a column list rules out transition tables) that fires only when one of these columns is assigned,
-- never for ingest's counter updates.
CREATE FUNCTION wangge_facts_follow_ticket() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ticket_facts SET opened_at = NEW.opened_at, region_path = NEW.region_path, department = NEW.department,
           category = NEW.category, source = NEW.source, rule_id = NEW.rule_id, device_id = NEW.device_id
    WHERE ticket_id = NEW.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tickets_facts_follow AFTER UPDATE OF opened_at, region_path, department, category, source, rule_id,
    device_id ON tickets FOR EACH ROW
    WHEN ((OLD.opened_at, OLD.region_path, OLD.department, OLD.category, OLD.source, OLD.rule_id, OLD.device_id)
          IS DISTINCT FROM
          (NEW.opened_at, NEW.region_path, NEW.department, NEW.category, NEW.source, NEW.rule_id, NEW.device_id))
    EXECUTE FUNCTION wangge_facts_follow_ticket();

INSERT INTO ticket_facts (ticket_id, opened_at, region_path, department, category, source, rule_id, device_id)
SELECT id, opened_at, region_path, department, category, source, rule_id, device_id FROM tickets;
SELECT wangge_refold_ticket_facts(NULL);
