"""The clinical records' API resources: care transitions, medication events, drug screens."""
