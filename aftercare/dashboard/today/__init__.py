"""Dashboard: today."""
