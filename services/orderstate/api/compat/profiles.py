"""Compatibility profiles: the known quirks of a Seven Senders client, named per API key.

A profile changes how a request is read, never the lifecycle rules: what it fills in or
ignores is decided here, before the request reaches the models and ``apply_batch``, and the
change is logged to Kafka in its resolved form, so a replay needs no profile.
"""

from dataclasses import dataclass

__all__ = ["DEFAULT_PROFILE", "PROFILES", "Profile", "profile_named"]


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    # Seven Senders completes an order whose boarding_complete was never set once every
    # shipment is delivered (null counts as true); orderstate's default is false.
    boarding_unset_means_complete: bool
    # The client sends return_parcel: true on shipments that are not returns.
    return_parcel_unreliable: bool
    summary: str


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "standard",
            boarding_unset_means_complete=False,
            return_parcel_unreliable=False,
            summary="orderstate's own defaults: an order without boarding_complete is not "
            "complete; return_parcel: true is a return.",
        ),
        Profile(
            "sevensenders",
            boarding_unset_means_complete=True,
            return_parcel_unreliable=False,
            summary="Seven Senders' defaults: an order created without boarding_complete "
            "completes when its shipments are delivered.",
        ),
        Profile(
            "woocommerce",
            boarding_unset_means_complete=True,
            return_parcel_unreliable=False,
            summary="The WooCommerce 'Seven Senders order tracking' plugin: never sends "
            "boarding_complete, so orders are created with it set (as Seven Senders treats "
            "them).",
        ),
        Profile(
            "spryker",
            boarding_unset_means_complete=True,
            return_parcel_unreliable=True,
            summary="The spryker-eco/sevensenders module: sends return_parcel: true on every "
            "shipment it creates (ShipmentMapper), so return_parcel is ignored and every "
            "shipment is outbound.",
        ),
    )
}
DEFAULT_PROFILE = PROFILES["standard"]


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; one of {', '.join(PROFILES)}") from None
