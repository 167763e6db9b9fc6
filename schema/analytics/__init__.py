"""Embedded analytics: live caseload and compliance figures as fields of the graph (`Query.caseload`)."""
