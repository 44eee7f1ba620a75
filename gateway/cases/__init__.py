"""The case system: tickets and their workflow, SLA clocks on a working-time calendar, routing, escalation,
reports and ratings, the queue, evidence, the registry of regions, sites and devices, and statistics. The pure
rules (workflow, calendar, sla, regions) have no I/O; the other modules hold the SQL that uses them."""
