"""Dashboard: staff."""
