"""The case system's rules: workflow, working-time calendar, SLA policy, routing, regions. Pure code; the
database work that uses them lives in wangge.gateway.tickets and wangge.gateway.registry."""
