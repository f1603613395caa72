"""Money as integer cents plus an ISO 4217 currency (ARCHITECTURE convention 3).

Why a type of our own: a float never enters a sum, two currencies never mix silently, and
every split (rule M8: 80/20 surcharge splits, donation splits) allocates every cent exactly
once. Conversion to a provider's representation happens only at the provider boundary.

Database: two columns per amount, `amount_cents = AmountCentsField()` and
`currency = CurrencyField()`, read and written as one value with
`amount = MoneyProperty("amount_cents", "currency")`.
Forms: `MoneyFormField` parses Italian input ("12,50", "1.234,50 €") and English ("12.50").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, overload

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

DEFAULT_CURRENCY = "EUR"
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# Symbols shown after the amount, Italian style; any other currency shows its ISO code.
_SYMBOLS = {"EUR": "€"}


class MoneyError(ValueError):
    """Raised for anything that would make an amount inexact or ambiguous."""


class CurrencyMismatch(MoneyError):
    """Two amounts in different currencies were combined."""


class AmountTooLarge(MoneyError):
    """Typed amount above `MAX_AMOUNT_CENTS` (or absurdly long): refused, never overflowed."""


class AmbiguousAmount(MoneyError):
    """Typed text that reads as more than one amount ("10.005"): ask, never guess."""

    def __init__(self, text: str, readings: Sequence[Money]) -> None:
        super().__init__(f"ambiguous amount {text!r}: " + " or ".join(repr(r) for r in readings))
        self.text = text
        self.readings = list(readings)


# The largest amount anyone may type: 10 billion euros. Far above any real gift, goal or cap,
# and far below a BigIntegerField (9.2e18 cents), so a typed amount never overflows a column.
MAX_AMOUNT_CENTS = 10_000_000_000 * 100
MAX_AMOUNT_CHARS = 40
_DIGITS_RE = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() accepts "²" and "٣"
_AMOUNT_CHARS_RE = re.compile(r"[0-9.,]+")


def _check_currency(currency: object) -> str:
    if not isinstance(currency, str) or not _CURRENCY_RE.match(currency):
        raise MoneyError(f"currency must be an ISO 4217 code such as 'EUR', got {currency!r}")
    return currency


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An exact amount: `cents` (int, may be negative for ledger entries) and `currency`.

    Construct with an int number of cents, never a float: `Money(1250)` is 12,50 €.
    Use `Money.from_decimal(Decimal("12.50"))` or `Money.parse("12,50")` for other inputs.
    """

    cents: int
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        # bool is an int subclass; True cents is a bug, not an amount.
        if isinstance(self.cents, bool) or not isinstance(self.cents, int):
            raise MoneyError(
                f"Money needs an integer number of cents, got {type(self.cents).__name__} {self.cents!r}; "
                "use Money.from_decimal() or Money.parse() for other inputs"
            )
        _check_currency(self.currency)

    # --- construction -------------------------------------------------------------------
    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Money:
        return cls(0, currency)

    @classmethod
    def from_decimal(cls, amount: Decimal | int | str, currency: str = DEFAULT_CURRENCY) -> Money:
        """Exact conversion from major units; refuses floats and fractions of a cent."""
        if isinstance(amount, float):
            raise MoneyError("floats are refused: pass a Decimal or a string such as '12.50'")
        if isinstance(amount, bool):
            raise MoneyError("a boolean is not an amount")
        try:
            value = Decimal(amount)
        except (InvalidOperation, ValueError) as exc:
            raise MoneyError(f"not an amount: {amount!r}") from exc
        if not value.is_finite():
            raise MoneyError(f"not a finite amount: {amount!r}")
        cents = value * 100
        if cents != cents.to_integral_value():
            raise MoneyError(f"{amount!r} has fractions of a cent")
        return cls(int(cents), currency)

    @classmethod
    def parse(cls, text: str, currency: str = DEFAULT_CURRENCY) -> Money:
        """Parse what people type: "12,50", "12.50", "1.234,50 €", "1.234.567", "€ 1234", "12".

        A comma is the decimal separator and dots group thousands (Italian). Without a comma,
        one dot followed by one or two digits is read as a decimal point (English habit).
        What could mean two amounts is never guessed: "10.005" (ten euros and half a cent, or
        ten thousand and five?) and "1,234.50" (English grouping) raise `AmbiguousAmount`
        carrying both readings, so the form can ask. Only ASCII digits count ("²" or "٣" are
        not amounts) and amounts are bounded by `MAX_AMOUNT_CENTS`, well inside a database
        BigIntegerField.
        """
        cleaned = str(text).strip().replace("€", "").replace("EUR", "").replace("\u00a0", "").replace(" ", "")
        cleaned = cleaned.replace("'", "")  # Swiss-style grouping "1'234"
        if len(cleaned) > MAX_AMOUNT_CHARS:
            raise AmountTooLarge(f"amount too long: {len(cleaned)} characters")
        negative = cleaned.startswith("-")
        if negative:
            cleaned = cleaned[1:]
        if not cleaned:
            raise MoneyError("empty amount")
        if not _AMOUNT_CHARS_RE.fullmatch(cleaned):
            raise MoneyError(f"not an amount: {text!r}")
        if re.fullmatch(r"\d{1,3}(,\d{3})+\.\d{1,2}", cleaned):
            # "1,234.50": English grouping with a decimal point; Italian reading is invalid.
            integer, _sep, decimals = cleaned.replace(",", "").partition(".")
            raise AmbiguousAmount(text, [cls._from_digits(integer, decimals, negative, currency)])
        if re.fullmatch(r"\d{1,3}\.\d{3}", cleaned):
            # "10.005": a decimal point with three decimals, or a thousands dot?
            integer, _sep, decimals = cleaned.partition(".")
            as_decimal = (Decimal(cleaned) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
            readings = [
                cls(-int(as_decimal) if negative else int(as_decimal), currency),
                cls._from_digits(integer + decimals, "", negative, currency),
            ]
            raise AmbiguousAmount(text, readings)
        if "," in cleaned:
            integer, _sep, decimals = cleaned.rpartition(",")
            if "," in integer:
                raise MoneyError(f"more than one decimal comma in {text!r}")
            if "." in integer and not re.fullmatch(r"\d{1,3}(\.\d{3})+", integer):
                raise MoneyError(f"misplaced thousands separator in {text!r}")
            integer = integer.replace(".", "")
        elif re.fullmatch(r"\d+\.\d{1,2}", cleaned):
            integer, _sep, decimals = cleaned.partition(".")
        elif "." in cleaned:
            if not re.fullmatch(r"\d{1,3}(\.\d{3})+", cleaned):
                raise MoneyError(f"not an amount: {text!r}")
            integer, decimals = cleaned.replace(".", ""), ""
        else:
            integer, decimals = cleaned, ""
        return cls._from_digits(integer, decimals, negative, currency, text=text)

    @classmethod
    def _from_digits(cls, integer: str, decimals: str, negative: bool, currency: str, text: str = "") -> Money:
        integer = integer or "0"
        if not _DIGITS_RE.fullmatch(integer) or (decimals and not _DIGITS_RE.fullmatch(decimals)):
            raise MoneyError(f"not an amount: {text or integer!r}")
        if len(decimals) > 2:
            raise MoneyError(f"{text!r} has more than two decimal digits")
        cents = int(integer) * 100 + int(decimals.ljust(2, "0") or "0")
        if cents > MAX_AMOUNT_CENTS:
            raise AmountTooLarge(f"{text or integer!r} is above the largest amount accepted")
        return cls(-cents if negative else cents, currency)

    # --- views --------------------------------------------------------------------------
    @property
    def amount(self) -> Decimal:
        """Major units as an exact Decimal (for providers and display only)."""
        return (Decimal(self.cents) / 100).quantize(Decimal("0.01"))

    def is_zero(self) -> bool:
        return self.cents == 0

    def is_positive(self) -> bool:
        return self.cents > 0

    def is_negative(self) -> bool:
        return self.cents < 0

    # --- arithmetic ---------------------------------------------------------------------
    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.cents + self._same(other).cents, self.currency)

    def __radd__(self, other: object) -> Money:
        # sum() starts with 0: accept exactly the int 0, nothing else.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return self._same(other).__add__(self)

    def __sub__(self, other: Money) -> Money:
        return Money(self.cents - self._same(other).cents, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.cents, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.cents), self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise MoneyError("Money can only be multiplied by an int; use allocate() or percent() for shares")
        return Money(self.cents * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.cents < self._same(other).cents

    def __le__(self, other: Money) -> bool:
        return self.cents <= self._same(other).cents

    def __gt__(self, other: Money) -> bool:
        return self.cents > self._same(other).cents

    def __ge__(self, other: Money) -> bool:
        return self.cents >= self._same(other).cents

    def __bool__(self) -> bool:
        return self.cents != 0

    def percent(self, percent: Decimal | int | str) -> Money:
        """A share rounded half-up to the cent (e.g. a 26% tax credit, rule F7)."""
        if isinstance(percent, float):
            raise MoneyError("floats are refused: pass the percentage as a Decimal or int")
        share = (Decimal(self.cents) * Decimal(percent) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return Money(int(share), self.currency)

    def allocate(self, ratios: Sequence[int]) -> list[Money]:
        """Split into shares proportional to integer `ratios`, losing no cent.

        Leftover cents go one each to the shares with the largest remainders (ties to the
        earlier share), so `Money(501).allocate([80, 20])` is [4,01 €, 1,00 €] and the parts
        always sum to the whole (rule M8 splits).
        """
        if not ratios or any(isinstance(r, bool) or not isinstance(r, int) or r < 0 for r in ratios):
            raise MoneyError("ratios must be non-negative integers")
        total = sum(ratios)
        if total == 0:
            raise MoneyError("ratios must not all be zero")
        sign = -1 if self.cents < 0 else 1
        whole = abs(self.cents)
        shares = [whole * r // total for r in ratios]
        remainders = [(whole * r % total, -i) for i, r in enumerate(ratios)]
        leftover = whole - sum(shares)
        for _rem, neg_index in sorted(remainders, reverse=True)[:leftover]:
            shares[-neg_index] += 1
        return [Money(sign * s, self.currency) for s in shares]

    # --- display ------------------------------------------------------------------------
    def __str__(self) -> str:
        return format_money(self)

    def __repr__(self) -> str:
        return f"Money({self.cents}, {self.currency!r})"


def money_sum(amounts: Iterable[Money], currency: str = DEFAULT_CURRENCY) -> Money:
    """Sum that works on an empty iterable (returns zero in `currency`)."""
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total


def _group(digits: str) -> str:
    groups: list[str] = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    groups.insert(0, digits)
    return ".".join(groups)


def format_money(money: Money) -> str:
    """Italian formatting: `1.234,50 €`, `-12,00 €`, `10,00 USD`."""
    whole, cents = divmod(abs(money.cents), 100)
    sign = "-" if money.cents < 0 else ""
    symbol = _SYMBOLS.get(money.currency, money.currency)
    return f"{sign}{_group(str(whole))},{cents:02d} {symbol}"


def format_eur(value: Money | int) -> str:
    """`format_eur(Money(123450))` or `format_eur(123450)` (cents) → `1.234,50 €`."""
    if isinstance(value, Money):
        return format_money(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MoneyError(f"format_eur needs Money or integer cents, got {type(value).__name__}")
    return format_money(Money(value, "EUR"))


# --- model fields ---------------------------------------------------------------------------


class AmountCentsField(models.BigIntegerField):
    """An amount in cents (integer). Pair it with a `CurrencyField` and a `MoneyProperty`."""

    description = "Amount in integer cents"


class CurrencyField(models.CharField):
    """An ISO 4217 currency code, EUR by default."""

    description = "ISO 4217 currency code"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("default", DEFAULT_CURRENCY)
        super().__init__(*args, **kwargs)


class MoneyProperty:
    """Read/write two columns as one `Money`: `amount = MoneyProperty("amount_cents", "currency")`."""

    def __init__(self, cents_field: str = "amount_cents", currency_field: str = "currency") -> None:
        self.cents_field = cents_field
        self.currency_field = currency_field

    @overload
    def __get__(self, instance: None, owner: type) -> MoneyProperty: ...
    @overload
    def __get__(self, instance: object, owner: type) -> Money: ...
    def __get__(self, instance: object | None, owner: type) -> Money | MoneyProperty:
        if instance is None:
            return self
        return Money(getattr(instance, self.cents_field), getattr(instance, self.currency_field))

    def __set__(self, instance: object, value: Money) -> None:
        if not isinstance(value, Money):
            raise MoneyError(f"assign a Money, not {type(value).__name__}")
        setattr(instance, self.cents_field, value.cents)
        setattr(instance, self.currency_field, value.currency)


# --- form field -----------------------------------------------------------------------------


class MoneyFormField(forms.CharField):
    """An amount typed by a person, in one currency; cleans to `Money`.

    `min_cents` defaults to 1 (an amount of zero or below is refused with a clear message);
    `max_cents` is optional (e.g. the €100,000 cap of rule F6 is checked by compliance,
    which may also pass it here for an early message).
    """

    default_error_messages = {
        "invalid": _("Scrivi un importo in euro, per esempio 12,50."),
        "cents": _("Usa al massimo due decimali (i centesimi), per esempio 12,50."),
        "min": _("L'importo deve essere almeno %(min)s."),
        "max": _("L'importo non può superare %(max)s."),
        "ambiguous": _(
            "Intendevi %(readings)s? Scrivi l'importo con la virgola per i centesimi e il punto "
            "per le migliaia, per esempio 1.234,50."
        ),
        "or": _(" o "),
    }

    def __init__(
        self,
        *,
        currency: str = DEFAULT_CURRENCY,
        min_cents: int | None = 1,
        max_cents: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.currency = _check_currency(currency)
        self.min_cents = min_cents
        self.max_cents = max_cents
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.setdefault("inputmode", "decimal")
        attrs.setdefault("maxlength", "20")
        attrs.setdefault("autocomplete", "transaction-amount")
        return attrs

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Money):
            whole, cents = divmod(abs(value.cents), 100)
            return f"{'-' if value.cents < 0 else ''}{whole},{cents:02d}"
        return value

    def to_python(self, value: Any) -> Money | None:  # type: ignore[override]
        if isinstance(value, Money):
            return value
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            return Money.parse(str(text), self.currency)
        except AmbiguousAmount as exc:
            readings = str(self.error_messages["or"]).join(format_money(r) for r in exc.readings)
            raise ValidationError(
                self.error_messages["ambiguous"], code="ambiguous", params={"readings": readings}
            ) from exc
        except AmountTooLarge as exc:
            limit = self.max_cents if self.max_cents is not None else MAX_AMOUNT_CENTS
            raise ValidationError(
                self.error_messages["max"], code="max", params={"max": format_money(Money(limit, self.currency))}
            ) from exc
        except MoneyError as exc:
            code = "cents" if "decimal digits" in str(exc) or "fractions" in str(exc) else "invalid"
            raise ValidationError(self.error_messages[code], code=code) from exc

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is None:
            return
        if self.min_cents is not None and value.cents < self.min_cents:
            raise ValidationError(
                self.error_messages["min"],
                code="min",
                params={"min": format_money(Money(self.min_cents, self.currency))},
            )
        if self.max_cents is not None and value.cents > self.max_cents:
            raise ValidationError(
                self.error_messages["max"],
                code="max",
                params={"max": format_money(Money(self.max_cents, self.currency))},
            )
