"""Tickets: the domain (models, lifecycle, SLA, reports) and its HTTP API."""
