"""Incidents: severities, Alertmanager intake, timeline, paging, escalation, postmortems."""
