"""Dashboard: caseload."""
