"""The delivery group: at-least-once or exactly-once."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from feeder.settings.base import SettingsGroup


class DeliverySettings(SettingsGroup):
    """The delivery guarantee, and who may write the feed."""

    mode: Literal["at-least-once", "exactly-once"] = Field(
        "at-least-once",
        description="at-least-once (a crash may re-send a page, with the same event ids) or "
        "exactly-once (each page is one Kafka transaction with its checkpoint; consumers read "
        "with isolation.level=read_committed; needs checkpoint.backend=kafka)",
    )
    transaction_timeout_s: float = Field(
        60.0,
        gt=0,
        description="transaction.timeout.ms of the transactional producer: how long a "
        "crashed instance's open transaction holds read_committed consumers back at most "
        "(a successor aborts it at once); must exceed kafka.send_timeout_s",
    )
