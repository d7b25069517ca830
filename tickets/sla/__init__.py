"""SLA: response-time targets measured in working time (business hours, holidays, 调休)."""
