"""Dashboard: patients."""
