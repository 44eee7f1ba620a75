-- Wake the webhook workers when an outbox event commits (one notification per transaction and channel).
CREATE FUNCTION wangge_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wangge_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION wangge_outbox_notify();
