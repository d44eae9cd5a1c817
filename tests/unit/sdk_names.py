"""The providers' own SDKs as oracles for the catalogs' command names.

Each function walks an SDK's client the way a caller does and returns
``(HTTP method, path with every parameter as {}) -> dotted name``:

- stripe-python: ``StripeClient(...).v1`` and its services, each service's
  sub-services (its module's ``_subservices``, what ``__getattr__`` mounts),
  and each public method's ``self._request("post", "/v1/...".format(...))``
  read from the service module's syntax tree (``v1.`` left out of the name:
  ``client.v1.checkout.sessions.create`` -> ``checkout.sessions.create``);
- twilio-python: ``Client(...).api.v2010`` and ``.messaging.v1``, every
  ``@property`` of a version, list or context that gives a list or a
  context, and each list's context (``calls("CA..")``); a list's or a
  context's ``_uri`` with every sid ``{}`` is the path, and its
  ``create``/``list``/``fetch``/``update``/``delete`` the methods (the HTTP
  method read from the helper each calls). The account's collections are
  named without the account (``client.api.v2010.account.calls`` ->
  ``calls``), Messaging under ``messaging.``.

Where one endpoint has several names, one is the SDK's name (see
:meth:`SdkNames.add`: for Stripe the service of the path's first segment,
then the shortest) and the others are kept as ``aliases``.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import stripe

__all__ = ["SdkNames", "endpoint", "stripe_sdk_names", "twilio_sdk_names"]

Endpoint = tuple[str, str]


def endpoint(method: str, path: str) -> Endpoint:
    """``("post", "/v1/customers/{customer}")`` -> ``("POST", "/v1/customers/{}")``."""
    return method.upper(), re.sub(r"\{[^}]*\}", "{}", path)


@dataclass
class SdkNames:
    """An SDK's names: one per endpoint, and the others it also has."""

    names: dict[Endpoint, str] = field(default_factory=dict)
    aliases: dict[Endpoint, list[str]] = field(default_factory=dict)
    _rank: dict[Endpoint, tuple[int, ...]] = field(default_factory=dict, repr=False)

    def add(self, key: Endpoint, name: str, rank: tuple[int, ...]) -> None:
        """``name`` for ``key``; of several, the lowest ``rank`` (then the
        first found) is the SDK's name."""
        known = self.names.get(key)
        if known is None:
            self.names[key], self._rank[key] = name, rank
            return
        if name == known or name in self.aliases.get(key, []):
            return
        if rank < self._rank[key]:
            name, self.names[key], self._rank[key] = known, name, rank
        self.aliases.setdefault(key, []).append(name)

    def all_names(self) -> dict[str, Endpoint]:
        out = {name: key for key, name in self.names.items()}
        out.update({a: key for key, names in self.aliases.items() for a in names})
        return out


# --- stripe-python ---------------------------------------------------------

_REQUESTS = frozenset(["_request", "_request_stream"])


def _request_path(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        return _request_path(node.func.value)
    if isinstance(node, ast.JoinedStr):  # f"/v1/customers/{sanitize_id(customer)}"
        parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
        return "".join(str(p) for p in parts)
    return None


@cache
def _module_tree(file: str) -> ast.Module:
    return ast.parse(Path(file).read_text(encoding="utf-8"), filename=file)


def _stripe_methods(cls: type) -> Iterator[tuple[str, str, str]]:
    """(public method, HTTP method, path) for each request a service makes."""
    module = sys.modules[cls.__module__]
    tree = _module_tree(str(module.__file__))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    for fn in body.body:
        if not isinstance(fn, ast.FunctionDef) or fn.name.startswith("_"):
            continue  # the *_async twins are AsyncFunctionDef: the same requests
        for call in ast.walk(fn):
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr in _REQUESTS
                and len(call.args) >= 2
                and isinstance(call.args[0], ast.Constant)
            ):
                continue
            path = _request_path(call.args[1])
            if path is None:
                raise AssertionError(f"{cls.__name__}.{fn.name}: unread path {ast.dump(call)}")
            yield fn.name, str(call.args[0].value), path


def stripe_sdk_names() -> SdkNames:
    client = stripe.StripeClient("sk_test_name_oracle")
    out = SdkNames()

    def walk(service: Any, prefix: str) -> None:
        for method, http, path in _stripe_methods(type(service)):
            name = prefix + method
            # of two services with the endpoint, the one of its path's resource
            # (customers.payment_sources.delete, not sources.detach)
            elsewhere = name.split(".")[0] != path.split("/")[2]
            out.add(endpoint(http, path), name, (elsewhere, name.count(".")))
        for attr in getattr(sys.modules[type(service).__module__], "_subservices", {}):
            walk(getattr(service, attr), f"{prefix}{attr}.")

    walk(client.v1, "")
    return out


# --- twilio-python ---------------------------------------------------------

_TWILIO_VERBS = ("create", "list", "fetch", "update", "delete")
#: the helper whose source says each verb's HTTP method (``method="POST"``)
_TWILIO_HELPERS = {
    "create": "_create",
    "list": "page",
    "fetch": "_fetch",
    "update": "_update",
    "delete": "_delete",
}
SID = "{}"  # every sid: str.format leaves it as it is, so a _uri reads as a template


def _twilio_http(cls: type, verb: str) -> str:
    helper = getattr(cls, _TWILIO_HELPERS[verb])
    found: set[str] = set(re.findall(r'\bmethod="([A-Z]+)"', inspect.getsource(helper)))
    if len(found) != 1:
        raise AssertionError(f"{cls.__qualname__}.{verb}: HTTP method {found or 'not found'}")
    return found.pop()


def _twilio_children(obj: Any) -> Iterator[tuple[str, Any]]:
    from twilio.base.instance_context import InstanceContext
    from twilio.base.list_resource import ListResource

    for klass in type(obj).__mro__:
        if not klass.__module__.startswith("twilio.rest."):
            continue
        for name, member in vars(klass).items():
            if isinstance(member, property) and not name.startswith("_"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the deprecated shortcuts
                    child = getattr(obj, name)
                if isinstance(child, ListResource | InstanceContext):
                    yield name, child
    call = next((vars(k)["__call__"] for k in type(obj).__mro__ if "__call__" in vars(k)), None)
    if isinstance(obj, ListResource) and call is not None:
        params = list(inspect.signature(call).parameters.values())[1:]
        yield "", obj(*[SID for p in params if p.default is inspect.Parameter.empty])


def twilio_sdk_names() -> SdkNames:
    from twilio.rest import Client

    client = Client("AC" + "0" * 32, "token", account_sid=SID)
    out = SdkNames()

    def walk(obj: Any, prefix: str, own: bool = True, nested: bool = True, depth: int = 0) -> None:
        assert depth < 12, prefix
        uri = getattr(obj, "_uri", None)
        if own and isinstance(uri, str):
            path = f"/{obj._version.version}{uri}"
            for verb in _TWILIO_VERBS:
                if callable(getattr(type(obj), verb, None)):
                    name = prefix + verb
                    out.add(endpoint(_twilio_http(type(obj), verb), path), name, (name.count("."),))
        for name, child in _twilio_children(obj):
            if nested or not name:
                walk(child, f"{prefix}{name}." if name else prefix, nested=nested, depth=depth + 1)

    v2010 = client.api.v2010
    walk(v2010.account, "", own=False)  # the account's collections, without the account
    walk(v2010.accounts, "accounts.", nested=False)  # the accounts themselves
    walk(client.messaging.v1, "messaging.")
    return out
