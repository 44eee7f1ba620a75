-- Room on each page of tickets for the next version of its rows. Every ingest batch rewrites the counters of the
-- tickets its alerts attach to (alert_count, active_alerts, last_alert_at, severity, updated_at — none of them
-- indexed), so an open ticket in a storm is updated every batch. PostgreSQL can keep such an update on the same
-- page without touching any of the table's fourteen indexes (a heap-only tuple) only when the page has room; at
-- the default fillfactor of 100 a third to two thirds of these went to another page and into every index (the
-- bench's alerts on 400 tickets, batch after batch on one connection: 35–69 % heap-only at 100, 98 % at 70, the
-- counter statement 6.9 → 4.6 ms per batch of 400; bench/alert_ingest.py, one replica: 64–67 % → 81–94 %).
-- Pages written from now on keep 30 % free; existing pages take it as they are rewritten.
ALTER TABLE tickets SET (fillfactor = 70);
