"""The clinician dashboard: server-rendered pages for every staff role.

A second door into the same core as the API: views read through selectors and write through
services (with the signed-in staff member as the `Caller`), and every page that shows patient data
writes the access log as the API does. `pages.py` holds what every page shares: who is signed in
and for which clinic, the clinic's time zone, the access log, the 403/404 pages.
"""
