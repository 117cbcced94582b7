"""Every lint rule has a passing and a failing example; the published samples pass."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatrk.msgtemplates.lint import LintError, errors_by_field, lint

# Meta's published samples live beside the project (see chatrk/whatsapp/tests/conftest.py).
SAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "cloudapi" / "samples"

type Doc = dict[str, Any]


def base(**overrides: Any) -> Doc:
    doc: Doc = {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": [
            {
                "type": "BODY",
                "text": "Hello {{1}}, your order {{2}} has shipped and will arrive soon.",
                "example": {"body_text": [["Ada", "A-1001"]]},
            }
        ],
    }
    doc.update(overrides)
    return doc


def body(text: str, examples: list[str] | None = None, **extra: Any) -> Doc:
    component: Doc = {"type": "BODY", "text": text}
    if examples is not None:
        component["example"] = {"body_text": [examples]}
    doc = base(**extra)
    doc["components"] = [component]
    return doc


def with_components(*components: Doc, **extra: Any) -> Doc:
    doc = base(**extra)
    doc["components"] = [*doc["components"], *components]
    return doc


def named(text: str, params: dict[str, str]) -> Doc:
    doc = base(parameter_format="named")
    example = {"body_text_named_params": [{"param_name": k, "example": v} for k, v in params.items()]}
    doc["components"] = [{"type": "BODY", "text": text, "example": example}]
    return doc


def buttons(*listed: Doc, **extra: Any) -> Doc:
    return with_components({"type": "BUTTONS", "buttons": list(listed)}, **extra)


QR = {"type": "QUICK_REPLY", "text": "Yes"}
QR2 = {"type": "QUICK_REPLY", "text": "No"}
URL = {"type": "URL", "text": "Track", "url": "https://example.com/track"}
PHONE = {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550783881"}

AUTH: Doc = {
    "name": "login_code",
    "language": "en",
    "category": "AUTHENTICATION",
    "components": [
        {"type": "BODY", "add_security_recommendation": True},
        {"type": "FOOTER", "code_expiration_minutes": 5},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]},
    ],
}


def auth(change: Callable[[Doc], None]) -> Doc:
    doc = copy.deepcopy(AUTH)
    change(doc)
    return doc


# (rule, passing definition, failing definition, field the failure names)
RULES: list[tuple[str, Doc, Doc, str]] = [
    ("name required", base(), base(name=""), "name"),
    ("name characters", base(name="order_update_2"), base(name="Order-Update"), "name"),
    ("name length", base(name="a" * 512), base(name="a" * 513), "name"),
    ("language code", base(language="pt_BR"), base(language="english"), "language"),
    ("category", base(category="marketing"), base(category="PROMO"), "category"),
    ("parameter format", base(parameter_format="POSITIONAL"), base(parameter_format="x"), "parameter_format"),
    ("components present", base(), base(components=[]), "components"),
    ("body required", base(), base(components=[{"type": "FOOTER", "text": "Thanks"}]), "body.text"),
    (
        "one body only",
        base(),
        with_components({"type": "BODY", "text": "Another body here."}),
        "body",
    ),
    ("known component", base(), with_components({"type": "SIDEBAR"}), "components[1].type"),
    (
        "carousel is marketing only",
        with_components({"type": "CAROUSEL", "cards": []}, category="MARKETING"),
        with_components({"type": "CAROUSEL", "cards": []}),
        "carousel",
    ),
    ("body length", body("a" * 1024), body("a" * 1025), "body.text"),
    ("body text required", body("Your order is ready."), body("   "), "body.text"),
    (
        "balanced braces",
        body("Hello {{1}}, welcome to our shop today.", ["Ada"]),
        body("Hello {{1}, welcome to our shop today.", ["Ada"]),
        "body.text",
    ),
    (
        "no special characters in variables",
        body("Hello {{1}}, welcome to our shop today.", ["Ada"]),
        body("Hello {{#1}}, welcome to our shop today.", ["Ada"]),
        "body.text",
    ),
    (
        "positional variables are numbers",
        body("Hello {{1}}, welcome to our shop today.", ["Ada"]),
        body("Hello {{name}}, welcome to our shop today.", ["Ada"]),
        "body.text",
    ),
    (
        "sequential from 1",
        body("Hi {{1}}, order {{2}} is on its way to you now.", ["Ada", "A1"]),
        body("Hi {{1}}, order {{3}} is on its way to you now.", ["Ada", "A1"]),
        "body.text",
    ),
    (
        "in order",
        body("Hi {{1}}, order {{2}} is on its way to you now.", ["Ada", "A1"]),
        body("Hi {{2}}, order {{1}} is on its way to you now.", ["Ada", "A1"]),
        "body.text",
    ),
    (
        "each variable once",
        body("Hi {{1}}, order {{2}} is on its way to you now.", ["Ada", "A1"]),
        body("Hi {{1}}, order {{1}} is on its way to you now.", ["Ada"]),
        "body.text",
    ),
    (
        "named variables are lower_snake_case",
        named("Hi {{first_name}}, your order is on its way now.", {"first_name": "Ada"}),
        named("Hi {{FirstName}}, your order is on its way now.", {"FirstName": "Ada"}),
        "body.text",
    ),
    (
        "named template with numbers",
        named("Hi {{first_name}}, your order is on its way now.", {"first_name": "Ada"}),
        named("Hi {{1}}, your order is on its way now.", {"1": "Ada"}),
        "body.text",
    ),
    (
        "no variable at the start",
        body("Hello {{1}}, welcome to our shop today.", ["Ada"]),
        body("{{1}}, welcome to our shop today and every day.", ["Ada"]),
        "body.text",
    ),
    (
        "no variable at the end",
        body("Your code for today's visit is {{1}}.", ["A1"]),
        body("Your code for today's visit is {{1}}", ["A1"]),
        "body.text",
    ),
    (
        "no adjacent variables",
        body("Dear {{1}} and {{2}}, thanks for your order today.", ["Ada", "Bob"]),
        body("Dear {{1}} {{2}}, thanks for your order today.", ["Ada", "Bob"]),
        "body.text",
    ),
    (
        "density: enough words for the variables",
        body("Hi {{1}}, your order {{2}} ships today.", ["Ada", "A1"]),
        body("Hi {{1}}, order {{2}}.", ["Ada", "A1"]),
        "body.text",
    ),
    (
        "body examples for positional variables",
        body("Hello {{1}}, welcome to our shop today.", ["Ada"]),
        body("Hello {{1}}, welcome to our shop today."),
        "body.example",
    ),
    (
        "body examples for named variables",
        named("Hi {{first_name}}, your order is on its way now.", {"first_name": "Ada"}),
        named("Hi {{first_name}}, your order is on its way now.", {}),
        "body.example",
    ),
    (
        "header format",
        with_components({"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1n"]}}),
        with_components({"type": "HEADER", "format": "AUDIO"}),
        "header.format",
    ),
    (
        "no GIF headers",
        with_components({"type": "HEADER", "format": "VIDEO", "example": {"header_handle": ["4::dmlk"]}}),
        with_components({"type": "HEADER", "format": "GIF"}),
        "header.format",
    ),
    (
        "media header needs a sample",
        with_components({"type": "HEADER", "format": "DOCUMENT", "example": {"header_handle": ["4::ZG9j"]}}),
        with_components({"type": "HEADER", "format": "DOCUMENT"}),
        "header.example",
    ),
    (
        "location header not for authentication",
        with_components({"type": "HEADER", "format": "LOCATION"}),
        with_components({"type": "HEADER", "format": "LOCATION"}, category="AUTHENTICATION"),
        "header",
    ),
    (
        "header length",
        with_components({"type": "HEADER", "format": "TEXT", "text": "a" * 60}),
        with_components({"type": "HEADER", "format": "TEXT", "text": "a" * 61}),
        "header.text",
    ),
    (
        "header: one variable at most",
        with_components(
            {"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}", "example": {"header_text": ["Ada"]}}
        ),
        with_components(
            {"type": "HEADER", "format": "TEXT", "text": "Hi {{1}} {{2}}", "example": {"header_text": ["A"]}}
        ),
        "header.text",
    ),
    (
        "header: no formatting",
        with_components({"type": "HEADER", "format": "TEXT", "text": "Your order"}),
        with_components({"type": "HEADER", "format": "TEXT", "text": "Your *order*"}),
        "header.text",
    ),
    (
        "header variable example",
        with_components(
            {"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}", "example": {"header_text": ["Ada"]}}
        ),
        with_components({"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}"}),
        "header.example",
    ),
    (
        "footer length",
        with_components({"type": "FOOTER", "text": "f" * 60}),
        with_components({"type": "FOOTER", "text": "f" * 61}),
        "footer.text",
    ),
    (
        "footer without variables",
        with_components({"type": "FOOTER", "text": "Reply STOP to opt out"}),
        with_components({"type": "FOOTER", "text": "Bye {{1}}"}),
        "footer.text",
    ),
    ("at most ten buttons", buttons(*[{"type": "QUICK_REPLY", "text": f"Option {i}"} for i in range(10)]),
     buttons(*[{"type": "QUICK_REPLY", "text": f"Option {i}"} for i in range(11)]), "buttons"),
    ("known button type", buttons(QR), buttons({"type": "LASER", "text": "Zap"}), "buttons[0].type"),
    ("button label length", buttons({"type": "QUICK_REPLY", "text": "x" * 25}),
     buttons({"type": "QUICK_REPLY", "text": "x" * 26}), "buttons[0].text"),
    ("button label required", buttons(QR), buttons({"type": "QUICK_REPLY"}), "buttons[0].text"),
    ("labels differ", buttons(QR, QR2), buttons(QR, dict(QR)), "buttons"),
    ("at most two URL buttons", buttons(URL, {**URL, "text": "Shop"}),
     buttons(URL, {**URL, "text": "Shop"}, {**URL, "text": "Blog"}), "buttons"),
    ("at most one phone button", buttons(PHONE), buttons(PHONE, {**PHONE, "text": "Call again"}), "buttons"),
    ("phone number format", buttons(PHONE), buttons({**PHONE, "phone_number": "call me maybe"}),
     "buttons[0].phone_number"),
    ("phone number length", buttons(PHONE), buttons({**PHONE, "phone_number": "+1" + "5" * 20}),
     "buttons[0].phone_number"),
    ("URL required", buttons(URL), buttons({"type": "URL", "text": "Track"}), "buttons[0].url"),
    ("URL scheme", buttons(URL), buttons({**URL, "url": "example.com"}), "buttons[0].url"),
    ("URL length", buttons({**URL, "url": "https://e.com/" + "a" * 1986}),
     buttons({**URL, "url": "https://e.com/" + "a" * 1987}), "buttons[0].url"),
    ("URL variable only at the end",
     buttons({**URL, "url": "https://e.com/t/{{1}}", "example": ["https://e.com/t/A1"]}),
     buttons({**URL, "url": "https://e.com/{{1}}/t", "example": ["https://e.com/A1/t"]}), "buttons[0].url"),
    ("URL variable example",
     buttons({**URL, "url": "https://e.com/t/{{1}}", "example": ["https://e.com/t/A1"]}),
     buttons({**URL, "url": "https://e.com/t/{{1}}"}), "buttons[0].example"),
    ("copy code example", buttons({"type": "COPY_CODE", "example": "SAVE25"}, category="MARKETING"),
     buttons({"type": "COPY_CODE", "example": "X" * 16}, category="MARKETING"), "buttons[0].example"),
    ("one copy code button", buttons({"type": "COPY_CODE", "example": "A"}, category="MARKETING"),
     buttons({"type": "COPY_CODE", "example": "A"}, {"type": "COPY_CODE", "example": "B"},
             category="MARKETING"),
     "buttons"),
    ("quick replies together", buttons(QR, QR2, URL, PHONE), buttons(QR, URL, QR2), "buttons"),
    ("OTP only for authentication", AUTH,
     buttons({"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy"}), "buttons[0].type"),
    ("authentication: one OTP button", AUTH, auth(lambda d: d["components"].pop()), "buttons"),
    ("authentication: no custom body", AUTH, auth(lambda d: d["components"][0].update(text="Your code")),
     "body.text"),
    ("authentication: code expiry 1-90", AUTH,
     auth(lambda d: d["components"][1].update(code_expiration_minutes=91)), "footer.code_expiration_minutes"),
    ("authentication: OTP type", AUTH,
     auth(lambda d: d["components"][2]["buttons"][0].update(otp_type="MAGIC")), "buttons[0].otp_type"),
    ("authentication: only the OTP button", AUTH,
     auth(lambda d: d["components"][2]["buttons"].append(dict(QR))), "buttons[1].type"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "good", "bad", "field"), RULES, ids=[r[0] for r in RULES])
def test_rule(rule: str, good: Doc, bad: Doc, field: str) -> None:
    assert lint(good) == [], f"{rule}: passing example fails: {lint(good)}"
    errors = lint(bad)
    assert field in {e.field for e in errors}, f"{rule}: expected an error on {field}, got {errors}"
    assert all(e.message and e.message[0].isupper() for e in errors)


@pytest.mark.parametrize(
    "sample",
    [
        p.name
        for p in sorted(SAMPLES.glob("*template_create*"))
        if "carousel" not in p.name and "limited_time" not in p.name
    ],
)
def test_published_create_samples_pass(sample: str) -> None:
    definition = json.loads((SAMPLES / sample).read_text())
    # Media header samples carry Meta's upload handles; abandoned_cart's body ends with "off!".
    assert lint(definition) == []


def test_not_an_object() -> None:
    assert lint([]) == [LintError("", "A template is a JSON object.")]  # type: ignore[arg-type]


def test_errors_by_field_groups_messages() -> None:
    grouped = errors_by_field(lint(base(name="Bad Name", category="x")))
    assert set(grouped) == {"name", "category"}


def test_density_counts_words_not_characters() -> None:
    # 3 variables need 7 other words.
    ok = body("Hi {{1}}, order {{2}} ships on {{3}} to your home address.", ["A", "B", "C"])
    assert lint(ok) == []
    short = body("Hi {{1}}, order {{2}} ships {{3}} today.", ["A", "B", "C"])
    assert [e.field for e in lint(short)] == ["body.text"]
