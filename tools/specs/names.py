"""Command names for a description's operations, after each provider's SDK.

- Stripe: stripe-python's ``StripeClient`` services, which follow the path
  (``/v1/checkout/sessions`` POST -> ``checkout.sessions.create``; an
  instance path ``/{id}``: ``retrieve``/``update``/``delete``; a trailing
  verb segment is that method; nested collections nest);
- GitHub: Octokit's method names, the operationIds (``pulls/create-review``
  -> ``pulls.create_review``);
- Twilio: twilio-python's resources (the account's collections without the
  account: ``Messages.json`` POST -> ``messages.create``; ``Fetch``/
  ``Update``/``Delete``/``List``/``Create`` from the operationId; the
  Messaging API under ``messaging.``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["github_name", "snake", "stripe_names", "twilio_name"]

METHODS = ("get", "post", "put", "patch", "delete")

#: stripe-python names some operations apart from the path rule
_STRIPE_OVERRIDES = {
    ("delete", "/v1/subscriptions/{subscription_exposed_id}"): "subscriptions.cancel",
}

#: first words of a trailing segment that make it a method, not a collection
_VERBS = frozenset(
    [
        "accept",
        "activate",
        "add",
        "apply",
        "approve",
        "attach",
        "cancel",
        "capture",
        "close",
        "confirm",
        "count",
        "create",
        "deactivate",
        "decline",
        "deliver",
        "detach",
        "expire",
        "fail",
        "fill",
        "finalize",
        "fund",
        "increment",
        "invalidate",
        "mark",
        "migrate",
        "pay",
        "persons",
        "post",
        "present",
        "process",
        "reactivate",
        "reject",
        "release",
        "remove",
        "report",
        "reset",
        "resume",
        "retrieve",
        "return",
        "reverse",
        "run",
        "search",
        "send",
        "submit",
        "succeed",
        "test",
        "timeout",
        "update",
        "validate",
        "verify",
        "void",
    ]
    # 'persons' never starts a verb; harmless since it is plural
)


def snake(text: str) -> str:
    """``IncomingPhoneNumbers`` -> ``incoming_phone_numbers``,
    ``create-review`` -> ``create_review``."""
    text = re.sub(r"[-\s.]+", "_", text)
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", text)
    return text.lower()


def _is_param(segment: str) -> bool:
    return segment.startswith("{")


def _is_list(op: Mapping[str, Any]) -> bool:
    names = {p.get("name") for p in op.get("parameters", []) if isinstance(p, dict)}
    return "limit" in names or "starting_after" in names


def stripe_names(paths: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(method, path) -> name for every operation of Stripe's description."""
    has_instances = {p.rsplit("/{", 1)[0] for p in paths if p.endswith("}")}
    prefixes = {p for p in paths} | has_instances
    names: dict[tuple[str, str], str] = {}
    for path, item in paths.items():
        segments = path.removeprefix("/v1/").split("/")
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            names[(method, path)] = _STRIPE_OVERRIDES.get((method, path)) or _stripe_name(
                method, path, segments, op, item, has_instances, prefixes
            )
    return names


def _stripe_name(
    method: str,
    path: str,
    segments: list[str],
    op: Mapping[str, Any],
    item: Mapping[str, Any],
    has_instances: set[str],
    prefixes: set[str],
) -> str:
    chain = [s for s in segments if not _is_param(s)]
    if _is_param(segments[-1]):
        verb = {"get": "retrieve", "post": "update", "delete": "delete"}.get(method, method)
        return ".".join([*chain, verb])
    last = chain[-1]
    parent = path.rsplit("/", 1)[0]
    parent_is_collection = parent in prefixes or parent.endswith("}")
    is_collection = path in has_instances
    if parent_is_collection and not is_collection and len(segments) > 1:
        # a trailing segment on a collection or an instance: a method
        # (confirm, search), or a singleton sub-resource read with GET
        if method == "get" and not _is_list(op) and last.split("_")[0] not in _VERBS:
            return ".".join([*chain, "retrieve"])
        if method == "get" and _is_list(op) and last.split("_")[0] not in _VERBS:
            return ".".join([*chain, "list"])
        if method == "post" and last.split("_")[0] not in _VERBS:
            read = item.get("get")
            if read is not None and not _is_list(read):
                return ".".join([*chain, "update"])
            if last.endswith("s"):
                return ".".join([*chain, "create"])
        if method == "delete":
            return ".".join([*chain[:-1], f"delete_{last}"])
        return ".".join(chain)
    if method == "get":
        return ".".join([*chain, "list" if _is_list(op) or is_collection else "retrieve"])
    if method == "post":
        if last.split("_")[0] in _VERBS and not is_collection:
            return ".".join(chain)
        read = item.get("get")
        if is_collection or (read is not None and _is_list(read)):
            return ".".join([*chain, "create"])
        if read is not None:
            return ".".join([*chain, "update"])
        return ".".join([*chain, "create" if last.endswith("s") else "update"])
    return ".".join([*chain, "delete"])


def github_name(operation_id: str) -> str:
    """``issues/create-comment`` -> ``issues.create_comment``."""
    return ".".join(snake(part) for part in operation_id.split("/"))


_TWILIO_VERB = re.compile(r"^(Create|List|Fetch|Update|Delete)")


def twilio_name(
    path: str, operation_id: str, mount_names: Mapping[str, Iterable[str]], prefix: str = ""
) -> str:
    """twilio-python's name for one operation of Api v2010 or Messaging v1.

    ``mount_names`` maps a collection's path (as the description writes it
    in ``x-twilio``) to the attribute names twilio-python mounts it under.
    """
    match = _TWILIO_VERB.match(operation_id)
    verb = snake(match.group(1)) if match else snake(operation_id)
    rest = path.split("/", 2)[2] if path.count("/") >= 2 else path
    rest = rest.removesuffix(".json")
    rest = re.sub(r"^Accounts/\{AccountSid\}/", "", rest)
    segments = [s for s in rest.split("/") if not _is_param(s)]
    collection = path.rsplit("/{", 1)[0] + (".json" if path.endswith(".json") else "")
    if not path.endswith("}.json") and not path.endswith("}"):
        collection = path
    candidates = list(mount_names.get(collection, ()))
    words = operation_id[len(match.group(1)) :] if match else operation_id
    chosen = None
    for name in candidates:
        singular = "".join(w.capitalize() for w in name.split("_")).rstrip("s")
        if singular and singular in words and (chosen is None or len(name) > len(chosen)):
            chosen = name
    parts = [snake(s) for s in segments]
    if chosen is not None:
        parts[-1] = chosen
    return ".".join([p for p in (prefix,) if p] + parts + [verb])
