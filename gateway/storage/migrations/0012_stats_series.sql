-- Time series for the statistics page (opened / closed / overdue per day or week): the overdue moments are
-- read from the event history, and closures by their time, without scanning every ticket or event.
CREATE INDEX ticket_events_overdue_at ON ticket_events (at) WHERE kind = 'ticket.overdue';
CREATE INDEX tickets_closed_path ON tickets (closed_at, region_path text_pattern_ops) WHERE closed_at IS NOT NULL;
