"""Patient-facing reminder emails and the unsubscribe link they carry."""
