"""Outbound webhooks: formats and signatures, safe destinations, the delivery store and the worker."""
