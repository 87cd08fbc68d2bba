"""Dashboard: flags."""
