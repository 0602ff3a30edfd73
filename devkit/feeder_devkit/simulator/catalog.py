"""Stores and customers: fixed for a run, rendered to JSON once.

Sessions point at them by id; the API's nested ``store`` and ``customer`` objects are spliced
into each served record as pre-serialised :class:`orjson.Fragment` values.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import orjson

_CITIES = (
    ("Seattle", "WA", "US", "98101"),
    ("Berlin", "BE", "DE", "10115"),
    ("Warsaw", "MZ", "PL", "00-001"),
    ("Austin", "TX", "US", "73301"),
    ("Lyon", "ARA", "FR", "69001"),
    ("Toronto", "ON", "CA", "M5H 2N2"),
)
_FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Eva", "Femi", "Gus", "Hana", "Ivan", "Jo")
_LAST_NAMES = ("Nowak", "Smith", "Okafor", "Garcia", "Kim", "Muller", "Rossi", "Tanaka")
_STORE_KINDS = ("Market", "Express", "Corner Shop", "Stadium Kiosk", "Campus Store")


@dataclass(frozen=True, slots=True)
class Catalog:
    """The stores and customers of one run, ids 1..N, with their JSON ready to splice."""

    store_json: tuple[orjson.Fragment, ...]
    customer_json: tuple[orjson.Fragment, ...]
    location_ids: tuple[str, ...]

    @property
    def store_count(self) -> int:
        return len(self.store_json) - 1

    @property
    def customer_count(self) -> int:
        return len(self.customer_json) - 1

    def store(self, store_id: int) -> orjson.Fragment:
        return self.store_json[store_id]

    def customer(self, customer_id: int) -> orjson.Fragment:
        return self.customer_json[customer_id]


def _store(store_id: int, rng: random.Random) -> dict[str, object]:
    city, region, country, postal = rng.choice(_CITIES)
    return {
        "aifiUniqueStoreId": f"aifi-{store_id:05d}",
        "status": "OPEN",
        "deploymentStatus": "LIVE",
        "addressLine1": f"{rng.randint(1, 400)} Main Street",
        "addressCity": city,
        "addressRegion": region,
        "addressCountry": country,
        "addressPostalCode": postal,
        "thirdPartyId": f"retailer-store-{store_id}",
        "storeUrl": f"https://stores.example.com/{store_id}",
        "maxPeople": rng.choice((10, 20, 40, 80)),
        "storeConfigId": 1 + store_id % 7,
        "name": f"{city} {rng.choice(_STORE_KINDS)} #{store_id}",
        "id": str(store_id),
        "employeeInside": rng.random() < 0.5,
    }


def _customer(customer_id: int, rng: random.Random) -> dict[str, object]:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    return {
        "externalId": f"ext-{customer_id:07d}",
        "role": "customer",
        "metadata": {"loyaltyTier": rng.choice(("none", "silver", "gold"))},
        "priority": 0,
        "email": f"{first.lower()}.{last.lower()}.{customer_id}@example.com",
        "firstName": first,
        "lastName": last,
        "phone": f"+1555{customer_id:07d}",
        "id": str(customer_id),
    }


def build_catalog(stores: int, customers: int, rng: random.Random) -> Catalog:
    """``stores`` stores and ``customers`` customers drawn from ``rng`` (index 0 unused)."""
    placeholder = orjson.Fragment(b"null")
    store_json = (
        placeholder,
        *(orjson.Fragment(orjson.dumps(_store(i, rng))) for i in range(1, stores + 1)),
    )
    customer_json = (
        placeholder,
        *(orjson.Fragment(orjson.dumps(_customer(i, rng))) for i in range(1, customers + 1)),
    )
    locations = ("", *(f"loc-{i:05d}-entrance" for i in range(1, stores + 1)))
    return Catalog(store_json, customer_json, locations)
