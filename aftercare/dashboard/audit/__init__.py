"""Dashboard: audit."""
