"""How one caller's requests are read: its profile, unknown-field mode and time zone."""

from dataclasses import dataclass
from datetime import UTC, tzinfo

from orderstate.api.compat.profiles import DEFAULT_PROFILE, Profile, profile_named
from orderstate.api.keys import KeyReading
from orderstate.settings import Settings, zone_named

__all__ = ["Reading", "reading_for"]


@dataclass(frozen=True, slots=True)
class Reading:
    profile: Profile = DEFAULT_PROFILE
    refuse_unknown: bool = False
    zone: tzinfo = UTC


def reading_for(key: KeyReading | None, settings: Settings) -> Reading:
    """The key's own choices where it made them, the settings' otherwise. No key (POST
    /v2/token) reads by the settings alone."""
    key = key or KeyReading()
    unknown = key.unknown_fields or settings.api_unknown_fields
    return Reading(
        profile=profile_named(key.profile),
        refuse_unknown=unknown == "refuse",
        zone=zone_named(key.time_zone or settings.api_time_zone),
    )
