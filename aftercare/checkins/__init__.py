"""Recovery check-ins: the questions (`instrument`), the signed links (`links`), the email
(`email`), the page a patient answers on (`views`) and the one-click opt-out (`optout`)."""
