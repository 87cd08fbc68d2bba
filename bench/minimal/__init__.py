"""The baseline the API list pages are measured against: a minimal Django + DRF project (no
product middleware, no sessions, no throttle) whose one view authenticates a bearer token with
DRF's TokenAuthentication on a one-table token store (one indexed lookup) and answers a small JSON
body. It is what a team that wrote "just an API" would have; `bench/api_lists.py` serves it with
the same gunicorn configuration as the product, on the same database."""
