"""Base of every policy model: a validation failure becomes a PolicyError
naming the setting (``invalid RatePolicy: rate: Input should be greater
than 0``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from core.envelopes import describe_validation_error
from core.errors import PolicyError

__all__ = ["PolicyModel", "policy_error"]


def policy_error(model: str, exc: ValidationError) -> PolicyError:
    for item in exc.errors(include_url=False, include_input=False):
        inner = (item.get("ctx") or {}).get("error")
        if isinstance(inner, PolicyError):  # a nested policy already named its setting
            loc = ".".join(str(p) for p in item["loc"])
            setting = f"{loc}.{inner.setting}" if loc and inner.setting else loc or inner.setting
            detail = str(inner.message).split(": ", 1)[-1]
            detail = detail.removeprefix(f"{inner.setting}: ")
            return PolicyError(f"invalid {model}: {setting}: {detail}", setting=setting)
    field, message = describe_validation_error(exc)
    return PolicyError(f"invalid {model}: {message}", setting=field)


class PolicyModel(BaseModel):
    """Frozen, strict about unknown settings, raises PolicyError."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise policy_error(type(self).__name__, exc) from None
