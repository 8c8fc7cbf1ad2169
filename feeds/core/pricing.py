"""How a net (ex VAT) Vendre price becomes a target's gross price."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from feeds.core.model import round_money

__all__ = ["Pricing", "Rounding"]


class Rounding(StrEnum):
    """How a converted price is rounded to its target's quantum."""

    HALF_UP = "half_up"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Pricing:
    """How a net (ex VAT) Vendre price becomes a target's gross price."""

    home_currency: str
    tax_classes: Mapping[int, Decimal]
    currency: str = ""
    rate: Decimal = Decimal(1)
    quantum: Decimal = Decimal("0.01")
    rounding: str = "half_up"

    @property
    def target_currency(self) -> str:
        return self.currency or self.home_currency

    def gross(self, net: Decimal, vat_percent: Decimal) -> Decimal:
        """Net x (1 + VAT), rounded half-up to cents, then converted and rounded by rule."""
        gross = round_money(net * (1 + vat_percent / 100))
        if self.target_currency == self.home_currency and self.rate == 1:
            return gross
        return round_money(gross * self.rate, self.quantum, self.rounding)
