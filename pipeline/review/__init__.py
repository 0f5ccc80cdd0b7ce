"""The editor review sheet: a small FastAPI app with server-rendered Jinja2 pages.

Editors sign in, see one row per message slot of a run, write and approve one message per
slot. Only this package imports FastAPI; the rest of ``pipeline`` stays web-free.
"""
