"""A small stand-in for Stripe's API on 127.0.0.1: Stripe-shaped JSON answers, every request recorded.

It keeps the objects it creates (so retrieves, lists and dj-stripe's syncs see them), honours Idempotency-Key like
Stripe (same key, same answer), and can be told to fail the next calls to a path. The object shapes (TEMPLATES) are
checked against Stripe's published fixtures by test_stripe_contract.py.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

NOW = 1_767_225_600  # 2026-01-01

TEMPLATES: dict[str, dict] = {
    "account": {
        "id": "", "object": "account", "business_type": None, "capabilities": {"transfers": "active"},
        "charges_enabled": True, "country": "US", "created": NOW, "default_currency": "usd",
        "details_submitted": True, "email": None, "metadata": {}, "payouts_enabled": True, "type": "express",
        "settings": {"dashboard": {"display_name": "Test"}}, "business_profile": {"name": None},
        "requirements": {"currently_due": [], "disabled_reason": None},
        "external_accounts": {"object": "list", "data": [], "has_more": False,
                              "url": "/v1/accounts/x/external_accounts"},
    },
    "account_link": {"object": "account_link", "created": NOW, "expires_at": NOW + 300, "url": ""},
    "product": {
        "id": "", "object": "product", "active": True, "created": NOW, "default_price": None, "description": None,
        "images": [], "livemode": False, "marketing_features": [], "metadata": {}, "name": "", "shippable": None,
        "statement_descriptor": None, "tax_code": None, "type": "service", "unit_label": None, "updated": NOW,
        "url": None,
    },
    "price": {
        "id": "", "object": "price", "active": True, "billing_scheme": "per_unit", "created": NOW, "currency": "usd",
        "livemode": False, "lookup_key": None, "metadata": {}, "nickname": None, "product": "", "recurring": None,
        "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None, "type": "one_time",
        "unit_amount": 0, "unit_amount_decimal": "0",
    },
    "checkout.session": {
        "id": "", "object": "checkout.session", "amount_subtotal": None, "amount_total": None,
        "cancel_url": None, "client_reference_id": None, "created": NOW, "currency": None, "customer": None,
        "customer_email": None, "expires_at": NOW + 86400, "livemode": False, "metadata": {}, "mode": "payment",
        "payment_intent": None, "payment_status": "unpaid", "status": "open", "subscription": None,
        "success_url": "", "url": "",
    },
    "payment_intent": {
        "id": "", "object": "payment_intent", "amount": 0, "amount_capturable": 0, "amount_received": 0,
        "application": None, "application_fee_amount": None, "canceled_at": None, "cancellation_reason": None,
        "capture_method": "automatic", "client_secret": "", "confirmation_method": "automatic", "created": NOW,
        "currency": "usd", "customer": None, "description": None, "last_payment_error": None, "latest_charge": None,
        "livemode": False, "metadata": {}, "next_action": None, "on_behalf_of": None, "payment_method": None,
        "payment_method_options": {}, "payment_method_types": ["card"], "processing": None, "receipt_email": None,
        "review": None, "setup_future_usage": None, "shipping": None, "statement_descriptor": None,
        "statement_descriptor_suffix": None, "status": "succeeded", "transfer_data": None, "transfer_group": None,
    },
    "transfer": {
        "id": "", "object": "transfer", "amount": 0, "amount_reversed": 0, "balance_transaction": None,
        "created": NOW, "currency": "usd", "description": None, "destination": "", "destination_payment": None,
        "livemode": False, "metadata": {}, "reversals": {"object": "list", "data": [], "has_more": False, "url": ""},
        "reversed": False, "source_transaction": None, "source_type": "card", "transfer_group": None,
    },
    "refund": {
        "id": "", "object": "refund", "amount": 0, "balance_transaction": None, "charge": None, "created": NOW,
        "currency": "usd", "metadata": {}, "payment_intent": None, "reason": None, "receipt_number": None,
        "source_transfer_reversal": None, "status": "succeeded", "transfer_reversal": None,
    },
    "charge": {
        "id": "", "object": "charge", "amount": 0, "amount_captured": 0, "amount_refunded": 0,
        "balance_transaction": None, "captured": True, "created": NOW, "currency": "usd", "customer": None,
        "description": None, "disputed": False, "failure_code": None, "failure_message": None, "livemode": False,
        "metadata": {}, "paid": True, "payment_intent": None, "payment_method": None, "refunded": False,
        "refunds": {"object": "list", "data": [], "has_more": False, "url": ""}, "status": "succeeded",
        "transfer_group": None,
    },
    "dispute": {
        "id": "", "object": "dispute", "amount": 0, "balance_transactions": [], "charge": "", "created": NOW,
        "currency": "usd", "is_charge_refundable": False, "livemode": False, "metadata": {}, "payment_intent": None,
        "reason": "fraudulent", "status": "needs_response",
    },
    "customer": {
        "id": "", "object": "customer", "address": None, "balance": 0, "created": NOW, "currency": None,
        "default_source": None, "delinquent": False, "description": None, "email": None, "invoice_prefix": "ABC",
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                             "rendering_options": None},
        "livemode": False, "metadata": {}, "name": None, "phone": None, "preferred_locales": [], "shipping": None,
        "tax_exempt": "none", "test_clock": None,
    },
    "subscription": {
        "id": "", "object": "subscription", "cancel_at_period_end": False, "canceled_at": None, "created": NOW,
        "currency": "usd", "customer": "", "items": {"object": "list", "data": [], "has_more": False, "url": ""},
        "livemode": False, "metadata": {}, "status": "active",
    },
    "invoice": {
        "id": "", "object": "invoice", "amount_due": 0, "amount_paid": 0, "amount_remaining": 0,
        "auto_advance": True, "collection_method": "charge_automatically", "created": NOW, "currency": "usd",
        "customer": "", "livemode": False, "metadata": {}, "status": "draft",
        "lines": {"object": "list", "data": [], "has_more": False, "url": ""},
    },
    "invoiceitem": {
        "id": "", "object": "invoiceitem", "amount": 0, "currency": "usd", "customer": "", "date": NOW,
        "description": None, "invoice": None, "livemode": False, "metadata": {},
    },
    "event": {
        "id": "", "object": "event", "api_version": "2024-06-20", "created": NOW, "data": {"object": {}},
        "livemode": False, "pending_webhooks": 0, "request": {"id": None, "idempotency_key": None}, "type": "",
    },
}

PREFIX = {
    "account": "acct", "product": "prod", "price": "price", "checkout.session": "cs_test", "payment_intent": "pi",
    "transfer": "tr", "refund": "re", "charge": "ch", "dispute": "dp", "customer": "cus", "subscription": "sub",
    "invoice": "in", "invoiceitem": "ii", "event": "evt",
}
# URL collection -> object type
COLLECTIONS = {
    "accounts": "account", "products": "product", "prices": "price", "checkout/sessions": "checkout.session",
    "payment_intents": "payment_intent", "transfers": "transfer", "refunds": "refund", "charges": "charge",
    "disputes": "dispute", "customers": "customer",
    "subscriptions": "subscription", "invoices": "invoice", "invoiceitems": "invoiceitem", "events": "event",
}


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (a[b][0][c]=v) back into nested dicts and lists."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


class FakeStripe:
    def __init__(self):
        self.requests: list[dict] = []
        self.objects: dict[str, dict] = {}
        self.idempotent: dict[tuple, tuple[int, dict]] = {}
        self.failures: dict[str, list[int]] = {}
        self.counter = itertools.count(1)
        self.lock = threading.Lock()
        self.objects["acct_platform"] = self.make("account", id="acct_platform")
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    # --- control ------------------------------------------------------------------------------------------------
    def start(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail_next(self, path_prefix: str, *statuses: int, method: str = "POST"):
        """Answer the next `method` calls whose path starts with path_prefix with these HTTP statuses."""
        self.failures.setdefault(f"{method} {path_prefix}", []).extend(statuses)

    def calls(self, method: str, path: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"] == path]

    def make(self, kind: str, **fields) -> dict:
        obj = copy.deepcopy(TEMPLATES[kind])
        obj.update(fields)
        if not obj.get("id") and "id" in TEMPLATES[kind]:
            obj["id"] = f"{PREFIX[kind]}_{next(self.counter):014d}"
        return obj

    def add(self, kind: str, **fields) -> dict:
        obj = self.make(kind, **fields)
        with self.lock:
            self.objects[obj["id"]] = obj
        return obj

    # --- API ------------------------------------------------------------------------------------------------------
    def answer(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        for prefix, statuses in self.failures.items():
            if f"{method} {path}".startswith(prefix) and statuses:
                code = statuses.pop(0)
                kind = "invalid_request_error" if code < 500 else "api_error"
                return code, {"error": {"type": kind, "message": f"injected failure {code}"}}
        p = path.removeprefix("/v1/")
        if p == "account":
            return 200, self.objects["acct_platform"]
        if method == "POST" and p == "account_links":
            return 200, self.make("account_link", url=f"https://connect.stripe.test/setup/{params['account']}")
        if method == "POST" and (m := re.fullmatch(r"invoices/([^/]+)/finalize", p)):
            invoice = self.objects[m.group(1)]
            invoice["status"] = "open"
            return 200, invoice
        if method == "DELETE" and (m := re.fullmatch(r"subscriptions/([^/]+)", p)):
            sub = self.objects[m.group(1)]
            sub["status"] = "canceled"
            return 200, sub
        for collection, kind in COLLECTIONS.items():
            if p == collection:
                if method == "POST":
                    return 200, self.create(kind, params)
                items = [o for o in self.objects.values() if o.get("object") == kind and _matches(o, params)]
                items.sort(key=lambda o: o["id"], reverse=True)
                limit = int(params.get("limit", 10))
                return 200, {"object": "list", "data": items[:limit], "has_more": len(items) > limit,
                             "url": f"/v1/{collection}"}
            if p.startswith(collection + "/"):
                rest = p[len(collection) + 1:]
                object_id, _, nested = rest.partition("/")
                if nested:  # nested list routes, e.g. /v1/transfers/{id}/reversals
                    return 200, {"object": "list", "data": [], "has_more": False, "url": "/v1/" + p}
                obj = self.objects.get(object_id)
                if obj is None:
                    return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                           "message": f"No such {kind}: '{object_id}'", "param": "id"}}
                if method == "POST":
                    _merge(obj, params)
                return 200, obj
        return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})"}}

    def create(self, kind: str, params: dict) -> dict:
        fields = {k: _typed(TEMPLATES[kind][k], v) for k, v in params.items() if k in TEMPLATES[kind] and k != "id"}
        for key in ("amount", "unit_amount"):
            if key in fields:
                fields[key] = int(fields[key])
        if kind == "account":
            # Requested capabilities are answered with their state, as Stripe does until onboarding completes.
            fields["capabilities"] = dict.fromkeys(params.get("capabilities", {}), "inactive")
        if kind == "price":
            fields["unit_amount_decimal"] = str(fields.get("unit_amount", 0))
            if "recurring" in params:
                fields["recurring"] = {"interval": params["recurring"].get("interval", "month"), "interval_count": 1,
                                       "usage_type": "licensed", "meter": None, "trial_period_days": None}
                fields["type"] = "recurring"
        obj = self.add(kind, **fields)
        if kind == "checkout.session":
            obj["url"] = f"https://checkout.stripe.test/c/pay/{obj['id']}"
        if kind == "transfer":
            obj["transfer_group"] = params.get("transfer_group")
        if kind == "refund":
            # Like Stripe: a refund of a payment intent refunds its latest charge, and says which.
            obj["payment_intent"] = params.get("payment_intent")
            intent = self.objects.get(params.get("payment_intent") or "") or {}
            obj["charge"] = params.get("charge") or intent.get("latest_charge")
        return obj

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self, method):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                pairs = parse_qsl(body if method != "GET" else url.query, keep_blank_values=True)
                params = decode_form(pairs)
                key = self.headers.get("Idempotency-Key")
                record = {"method": method, "path": url.path, "params": params, "form": dict(pairs),
                          "idempotency_key": key, "stripe_version": self.headers.get("Stripe-Version"),
                          "authorization": self.headers.get("Authorization"), "at": time.time()}
                with fake.lock:
                    fake.requests.append(record)
                cached = fake.idempotent.get((url.path, key)) if key and method == "POST" else None
                if cached:
                    status, payload = cached
                else:
                    status, payload = fake.answer(method, url.path, params)
                    if key and method == "POST" and status < 500:
                        fake.idempotent[(url.path, key)] = (status, payload)
                record["status"], record["answer"] = status, copy.deepcopy(payload)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{next(fake.counter)}")
                if cached:
                    self.send_header("Idempotent-Replayed", "true")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_DELETE(self):
                self._serve("DELETE")

        return Handler


def _matches(obj: dict, params: dict) -> bool:
    for key, value in params.items():
        if key in ("limit", "starting_after", "ending_before", "expand"):
            continue
        if str(obj.get(key)) != str(value):
            return False
    return True


def _typed(example, value):
    """A form-encoded value ("true", "42") as the JSON type of the object's field."""
    if isinstance(example, bool) and isinstance(value, str):
        return value == "true"
    if isinstance(example, int) and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def _merge(obj: dict, params: dict) -> None:
    for key, value in params.items():
        if key in ("expand", "proration_behavior"):
            continue
        if key == "items" and isinstance(value, list) and isinstance(obj.get(key), dict):
            # A subscription's items are modified in place, by id: the answer is still Stripe's list object.
            for change in value:
                for item in obj[key]["data"]:
                    if item.get("id") == change.get("id") and "price" in change:
                        item["price"] = {**item.get("price", {}), "id": change["price"]}
        elif isinstance(value, dict) and isinstance(obj.get(key), dict):
            obj[key].update(value)
        else:
            obj[key] = _typed(obj.get(key), value)


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def shape_problems(ours: dict, theirs: dict, path: str) -> list[str]:
    """Fields of `ours` that Stripe's object `theirs` lacks or types differently (nullable fields excepted)."""
    problems = []
    for key, value in ours.items():
        if key not in theirs:
            problems.append(f"{path}.{key}: not a field of Stripe's object")
            continue
        expected = theirs[key]
        if value is None or expected is None:
            continue  # nullable on one side: Stripe's example and ours may legitimately differ
        if _kind(value) != _kind(expected):
            problems.append(f"{path}.{key}: {_kind(value)} here, {_kind(expected)} at Stripe")
        elif isinstance(value, dict) and key not in ("metadata",):
            problems.extend(shape_problems(value, expected, f"{path}.{key}"))
    return problems


def answer_problems(fake: FakeStripe, resources: dict) -> list[str]:
    """Shape problems of every object the fake answered (each item of a list answer too), against Stripe's
    published objects: what dj-stripe and the gateway really read, not only the templates."""
    problems = []
    for record in fake.requests:
        if record.get("status") != 200:
            continue
        answer = record["answer"]
        objects = answer["data"] if answer.get("object") == "list" else [answer]
        for obj in objects:
            where = f"{record['method']} {record['path']} -> {obj.get('object')}"
            if obj.get("object") not in resources:
                problems.append(f"{where}: Stripe publishes no such object")
                continue
            problems.extend(shape_problems(obj, resources[obj["object"]], where))
    return problems


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header of a webhook: t=<ts>,v1=<HMAC-SHA256(secret, "<ts>.<payload>")>."""
    import hashlib
    import hmac

    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"
