"""Command names for a description's operations, after each provider's SDK.

- Stripe: stripe-python's ``StripeClient`` services, which follow the path
  (``/v1/checkout/sessions`` POST -> ``checkout.sessions.create``; an
  instance path ``/{id}``: ``retrieve``/``update``/``delete``; a trailing
  verb segment is that method; nested collections nest), but for a few
  services named apart from their path (:data:`_STRIPE_SERVICES`), a method
  that is a Python keyword (``return`` -> ``return_inbound_transfer``) and
  single operations no rule gives (:data:`_STRIPE_OVERRIDES`);
- GitHub: Octokit's method names, the operationIds (``pulls/create-review``
  -> ``pulls.create_review``);
- Twilio: twilio-python's resources, each mounted on its ``x-twilio``
  parent under the parent's name for it (the account's collections without
  the account: ``Messages.json`` POST -> ``messages.create``; ``Fetch``/
  ``Update``/``Delete``/``List``/``Create`` from the operationId; the
  Messaging API under ``messaging.``).

tests/unit/test_catalog_names.py holds these names to the SDKs themselves.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["github_name", "snake", "stripe_names", "twilio_names"]

METHODS = ("get", "post", "put", "patch", "delete")

#: stripe-python's service for the paths under one, where it is not the
#: path's segments (``/v1/invoiceitems/{invoiceitem}`` -> ``invoice_items``)
_STRIPE_SERVICES = {
    "/v1/apple_pay/domains": "apple_pay_domains",
    "/v1/credit_notes/preview/lines": "credit_notes.preview_lines",
    "/v1/credit_notes/{}/lines": "credit_notes.line_items",
    "/v1/customers/{}/sources": "customers.payment_sources",
    "/v1/invoiceitems": "invoice_items",
    "/v1/invoices/{}/lines": "invoices.line_items",
    "/v1/sources/{}/source_transactions": "sources.transactions",
}

#: stripe-python's names for single operations that no rule gives
_STRIPE_OVERRIDES = {
    ("delete", "/v1/subscriptions/{subscription_exposed_id}"): "subscriptions.cancel",
    ("get", "/v1/account"): "accounts.retrieve_current",
    ("post", "/v1/apps/secrets/delete"): "apps.secrets.delete_where",
    ("post", "/v1/billing/credit_grants/{id}/void"): "billing.credit_grants.void_grant",
    ("post", "/v1/credit_notes/{id}/void"): "credit_notes.void_credit_note",
    ("post", "/v1/invoices/{invoice}/finalize"): "invoices.finalize_invoice",
    ("post", "/v1/invoices/{invoice}/send"): "invoices.send_invoice",
    ("post", "/v1/invoices/{invoice}/void"): "invoices.void_invoice",
    ("post", "/v1/quotes/{quote}/finalize"): "quotes.finalize_quote",
    (
        "post",
        "/v1/test_helpers/issuing/authorizations/{authorization}/fraud_challenges/respond",
    ): "test_helpers.issuing.authorizations.respond",
    **{
        ("post", f"/v1/test_helpers/issuing/cards/{{card}}/shipping/{verb}"): (
            f"test_helpers.issuing.cards.{verb}_card"
        )
        for verb in ("deliver", "fail", "return", "ship", "submit")
    },
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
        "collect",
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
        "find",
        "fund",
        "increment",
        "invalidate",
        "mark",
        "migrate",
        "pay",
        "pdf",
        "post",
        "present",
        "preview",
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
            name = _STRIPE_OVERRIDES.get((method, path))
            if name is None:
                name = _stripe_name(method, path, segments, op, item, has_instances, prefixes)
                name = _stripe_service(path, name)
                service, _, verb = name.rpartition(".")
                if keyword.iskeyword(verb):  # return -> return_inbound_transfer
                    name = f"{service}.{verb}_{service.rpartition('.')[2].removesuffix('s')}"
            names[(method, path)] = name
    return names


def _stripe_service(path: str, name: str) -> str:
    """``name`` under stripe-python's service for ``path`` where that is not
    the path's segments (:data:`_STRIPE_SERVICES`)."""
    template = _template(path)
    under = [p for p in _STRIPE_SERVICES if template == p or template.startswith(p + "/")]
    if not under:
        return name
    prefix = max(under, key=len)
    depth = len([s for s in prefix.split("/")[2:] if not _is_param(s)])
    return ".".join([_STRIPE_SERVICES[prefix], *name.split(".")[depth:]])


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
        if len(chain) > 1 and last in _VERBS and not _is_list(op):
            return ".".join(chain)  # /v1/tax/associations/find
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


def _words(op: Mapping[str, Any]) -> str:
    """``CreateNewSigningKey`` -> ``new_signing_key``; a path item: its first operation's."""
    if "operationId" not in op:
        op = next((op[m] for m in METHODS if m in op), {"operationId": ""})
    return snake(_TWILIO_VERB.sub("", op["operationId"]))


def _shared_words(a: str, b: str) -> int:
    """How many leading snake-case words ``a`` and ``b`` share."""
    shared = 0
    for x, y in zip(a.split("_"), b.split("_"), strict=False):
        if x != y:
            break
        shared += 1
    return shared


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def twilio_names(
    paths: Mapping[str, Mapping[str, Any]], prefix: str = "", root: str | None = None
) -> dict[tuple[str, str], str]:
    """(method, path) -> twilio-python's name for every operation of Api
    v2010 or Messaging v1.

    A resource is mounted on its ``x-twilio`` ``parent`` under the name the
    parent's ``dependentProperties`` give its collection (else its own
    ``mountName``, else its last segment in snake case), a resource without
    a parent on the version; ``root`` (the account) mounts its collections
    at the top. The verb is the operationId's (``CreateMessage``: ``create``).
    """
    version = "/" + next(iter(paths)).split("/")[1]
    by_template = {_template(p): p for p in paths}
    top = _template(version + root) if root else None

    def info(path: str) -> Mapping[str, Any]:
        return paths[path].get("x-twilio") or {}

    def collection(path: str) -> str:
        """The path of the collection a list or an instance path is in."""
        suffix = ".json" if path.endswith(".json") else ""
        bare = path.removesuffix(".json")
        if info(path).get("pathType") == "instance" and _is_param(bare.rsplit("/", 1)[1]):
            bare = bare.rsplit("/", 1)[0]
        return _template(bare + suffix)

    def mount(path: str, words: str) -> str:
        """The name a resource is mounted under; where its collection has
        several (``Keys.json``: ``keys``, and ``new_keys`` to create), the
        one closest to the operation's words (``new_key``)."""
        parent = info(path).get("parent")
        names: list[str] = []
        if parent:
            deps = info(by_template[_template(version + parent)]).get("dependentProperties") or {}
            names += [
                k for k, dep in deps.items() if _template(dep["resource_url"]) == collection(path)
            ]
        if info(path).get("mountName") and info(path)["mountName"] not in names:
            names.append(info(path)["mountName"])
        if not names:
            segments = [s for s in path.removesuffix(".json").split("/") if not _is_param(s)]
            return snake(segments[-1])
        return max(names, key=lambda n: (_shared_words(n, words), -names.index(n)))

    def chain(path: str, words: str) -> list[str]:
        parent = info(path).get("parent")
        if not parent or _template(version + parent) == top:
            return [mount(path, words)]
        parent_path = by_template[_template(version + parent)]
        return [*chain(parent_path, _words(paths[parent_path])), mount(path, words)]

    names: dict[tuple[str, str], str] = {}
    for path, item in paths.items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            operation_id = op["operationId"]
            match = _TWILIO_VERB.match(operation_id)
            verb = snake(match.group(1)) if match else snake(operation_id)
            parts = [*([prefix] if prefix else []), *chain(path, _words(op)), verb]
            names[(method, path)] = ".".join(parts)
    return names
