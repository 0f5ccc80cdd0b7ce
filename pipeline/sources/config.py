"""Settings of the forecast sources (URLs, keys, quotas, User-Agent), nested in Settings.

Read from ``ZIPCAST_SOURCES__<FIELD>`` environment variables.
"""

from __future__ import annotations

from pydantic import BaseModel


class SourceSettings(BaseModel):
    """Per-source settings. Sources receive this object; they never read the environment."""
