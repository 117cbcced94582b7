"""The local template lint: Meta's creation and review rules (REFERENCE §2), checked before Meta sees it.

``lint(definition)`` takes a template as the JSON document we send to
``POST /<WABA>/message_templates`` (``name``, ``language``, ``category``, ``parameter_format``,
``components``) and returns every problem found as a :class:`LintError` whose ``field`` names the
place a marketer can fix (``name``, ``body.text``, ``buttons[1].url`` …) and whose ``message`` says
how, in plain words. An empty list means Meta's published rules are met; Meta's reviewers may still
reject on content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NAME_MAX = 512
HEADER_TEXT_MAX = 60
BODY_TEXT_MAX = 1024
FOOTER_TEXT_MAX = 60
BUTTON_TEXT_MAX = 25
BUTTON_URL_MAX = 2000
PHONE_NUMBER_MAX = 20
COPY_CODE_EXAMPLE_MAX = 15
MAX_BUTTONS = 10
MAX_QUICK_REPLIES = 10
MAX_URL_BUTTONS = 2
MAX_PHONE_BUTTONS = 1
MAX_COPY_CODE_BUTTONS = 1
CODE_EXPIRATION_MINUTES = (1, 90)

CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
PARAMETER_FORMATS = ("POSITIONAL", "NAMED")
HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
MEDIA_HEADER_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")
COMPONENT_TYPES = ("HEADER", "BODY", "FOOTER", "BUTTONS", "CAROUSEL", "LIMITED_TIME_OFFER")
MARKETING_ONLY_COMPONENTS = ("CAROUSEL", "LIMITED_TIME_OFFER")
BUTTON_TYPES = (
    "QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP", "FLOW", "VOICE_CALL", "MPM", "SPM", "CATALOG",
)  # fmt: skip
OTP_TYPES = ("COPY_CODE", "ONE_TAP", "ZERO_TAP")

_NAME = re.compile(r"[a-z0-9_]+")
_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Za-z0-9]{2,4})?")
# Anything between double braces, so malformed variables are found and named, not skipped.
_BRACED = re.compile(r"\{\{(.*?)\}\}")
VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_POSITIONAL = re.compile(r"[1-9][0-9]*")
_NAMED = re.compile(r"[a-z][a-z0-9_]*")
_MARKDOWN = re.compile(r"[*_~`]")


@dataclass(frozen=True, slots=True)
class LintError:
    field: str  # where to fix it: "name", "body.text", "buttons[2].url" …
    message: str  # what is wrong and how to fix it, in plain words

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def _upper(value: Any) -> str:
    return value.upper() if isinstance(value, str) else ""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _Lint:
    def __init__(self, definition: Mapping[str, Any]) -> None:
        self.d = definition
        self.errors: list[LintError] = []
        self.category = _upper(definition.get("category"))
        raw_format = definition.get("parameter_format")
        self.parameter_format = _upper(raw_format) if raw_format is not None else "POSITIONAL"

    def add(self, field: str, message: str) -> None:
        self.errors.append(LintError(field, message))

    # -- top level --

    def run(self) -> list[LintError]:
        self.name()
        self.language()
        self.category_()
        self.format_()
        components = self.d.get("components")
        if not isinstance(components, list) or not components:
            self.add("components", "A template needs at least a body.")
            return self.errors
        by_type = self.components(components)
        if self.category == "AUTHENTICATION":
            self.authentication(by_type)
        else:
            if "HEADER" in by_type:
                self.header(by_type["HEADER"])
            if "BODY" in by_type:
                self.body(by_type["BODY"])
            if "FOOTER" in by_type:
                self.footer(by_type["FOOTER"])
        if "BUTTONS" in by_type:
            self.buttons(by_type["BUTTONS"])
        ttl = self.d.get("message_send_ttl_seconds")
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0):
            self.add("message_send_ttl_seconds", "The time to live is a whole number of seconds above 0.")
        return self.errors

    def name(self) -> None:
        name = self.d.get("name")
        if not isinstance(name, str) or not name:
            self.add("name", "Give the template a name.")
        elif len(name) > NAME_MAX:
            self.add("name", f"The name is {len(name)} characters long; the limit is {NAME_MAX}.")
        elif not _NAME.fullmatch(name):
            self.add(
                "name",
                "Use only lower-case letters, digits and underscores in the name (e.g. order_update).",
            )

    def language(self) -> None:
        language = self.d.get("language")
        if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
            self.add("language", "Choose a language code such as en, en_US or pt_BR.")

    def category_(self) -> None:
        if self.category not in CATEGORIES:
            self.add("category", "Choose a category: Marketing, Utility or Authentication.")

    def format_(self) -> None:
        if self.parameter_format not in PARAMETER_FORMATS:
            self.add("parameter_format", "Variables are either positional ({{1}}) or named ({{first_name}}).")

    def components(self, components: list[Any]) -> dict[str, Mapping[str, Any]]:
        by_type: dict[str, Mapping[str, Any]] = {}
        for index, component in enumerate(components):
            kind = _upper(component.get("type")) if isinstance(component, Mapping) else ""
            if kind not in COMPONENT_TYPES:
                self.add(
                    f"components[{index}].type", "Unknown component: use header, body, footer or buttons."
                )
                continue
            assert isinstance(component, Mapping)
            if kind in by_type:
                self.add(kind.lower(), f"A template has at most one {kind.lower()}.")
                continue
            if kind in MARKETING_ONLY_COMPONENTS and self.category != "MARKETING":
                self.add(kind.lower(), "Carousels and limited-time offers are for marketing templates only.")
            by_type[kind] = component
        if "BODY" not in by_type:
            self.add("body.text", "A template needs a body.")
        return by_type

    # -- variables --

    def variables(self, field: str, text: str, *, starts_from: int = 1) -> list[str]:
        """Well-formed variable names in order; reports malformed, mixed and out-of-order ones."""
        if text.count("{{") != text.count("}}"):
            self.add(field, "Variables open with {{ and close with }}: a brace is missing.")
        names: list[str] = []
        for match in _BRACED.finditer(text):
            inner = match.group(1).strip()
            if "{" in inner or "}" in inner:
                self.add(field, "Variables open with {{ and close with }}: a brace is missing.")
            elif any(char in inner for char in "#$%"):
                self.add(field, f"Variable {{{{{inner}}}}} contains #, $ or %: use letters, digits or _.")
            elif self.parameter_format == "NAMED":
                if not _NAMED.fullmatch(inner):
                    self.add(
                        field,
                        f"Variable {{{{{inner}}}}}: named variables are lower_snake_case words "
                        "like {{first_name}}.",
                    )
                else:
                    names.append(inner)
            elif not _POSITIONAL.fullmatch(inner):
                self.add(
                    field,
                    f"Variable {{{{{inner}}}}}: positional variables are numbers like {{{{1}}}}; "
                    "switch the variable type to named to use words.",
                )
            else:
                names.append(inner)
        if len(set(names)) != len(names):
            self.add(field, "Each variable may appear only once.")
        if self.parameter_format == "POSITIONAL" and names:
            numbers = sorted({int(name) for name in names})
            expected = list(range(starts_from, starts_from + len(numbers)))
            if numbers != expected:
                self.add(field, "Number the variables {{1}}, {{2}}, {{3}} … in order, without gaps.")
            elif [int(name) for name in names] != expected:
                self.add(field, "Variables must appear in order: {{1}} before {{2}}.")
        return names

    def placement(self, field: str, text: str) -> None:
        stripped = text.strip()
        if re.match(r"\{\{[^{}]*\}\}", stripped):
            self.add(field, "The text cannot start with a variable: put some words before it.")
        if re.search(r"\{\{[^{}]*\}\}$", stripped):
            self.add(field, "The text cannot end with a variable: add words or punctuation after it.")
        if re.search(r"\}\}\s*\{\{", stripped):
            self.add(field, "Two variables are next to each other: put words or punctuation between them.")

    def density(self, field: str, text: str, count: int) -> None:
        if count == 0:
            return
        words = len(VARIABLE.sub(" ", text).split())
        needed = 2 * count + 1
        if words < needed:
            self.add(
                field,
                f"Too many variables for the length: {count} variable(s) need at least {needed} "
                f"other words (there are {words}). Add words or remove variables.",
            )

    def examples(self, field: str, component: Mapping[str, Any], names: list[str], key: str) -> None:
        """Meta needs an example value for every variable, in the shape the parameter format asks."""
        if not names:
            return
        example = component.get("example")
        example = example if isinstance(example, Mapping) else {}
        if self.parameter_format == "NAMED":
            given = example.get(f"{key}_named_params")
            found = {
                item.get("param_name")
                for item in (given if isinstance(given, list) else [])
                if isinstance(item, Mapping) and isinstance(item.get("example"), str) and item.get("example")
            }
            missing = [name for name in names if name not in found]
            if missing:
                self.add(field, f"Give an example value for {', '.join(missing)}.")
            return
        given = example.get(key)
        values = given[0] if key == "body_text" and isinstance(given, list) and given else given
        if (
            not isinstance(values, list)
            or len(values) != len(names)
            or not all(isinstance(v, str) and v for v in values)
        ):
            self.add(field, f"Give one example value for each of the {len(names)} variable(s).")

    # -- components --

    def header(self, header: Mapping[str, Any]) -> None:
        header_format = _upper(header.get("format"))
        if header_format == "GIF":
            self.add("header.format", "GIF headers are only for the Marketing Messages API; use a video.")
            return
        if header_format not in HEADER_FORMATS:
            self.add("header.format", "Choose a header type: text, image, video, document or location.")
            return
        if header_format == "LOCATION" and self.category not in ("MARKETING", "UTILITY"):
            self.add("header.format", "Location headers are for marketing and utility templates only.")
        if header_format in MEDIA_HEADER_FORMATS:
            example = header.get("example")
            handles = example.get("header_handle") if isinstance(example, Mapping) else None
            if (
                not isinstance(handles, list)
                or not handles
                or not all(isinstance(h, str) and h for h in handles)
            ):
                self.add("header.example", "Upload a sample file for the media header.")
        if header_format != "TEXT":
            return
        text = _text(header.get("text"))
        if not text or not text.strip():
            self.add("header.text", "A text header needs text.")
            return
        if len(text) > HEADER_TEXT_MAX:
            self.add("header.text", f"The header is {len(text)} characters; the limit is {HEADER_TEXT_MAX}.")
        if "\n" in text:
            self.add("header.text", "The header is a single line: remove the line break.")
        if _MARKDOWN.search(VARIABLE.sub("", text)):
            self.add("header.text", "Headers cannot use formatting (*bold*, _italic_, ~strike~, `code`).")
        names = self.variables("header.text", text)
        if len(names) > 1:
            self.add("header.text", "A header may contain at most one variable.")
        self.examples("header.example", header, names, "header_text")

    def body(self, body: Mapping[str, Any]) -> None:
        text = _text(body.get("text"))
        if not text or not text.strip():
            self.add("body.text", "Write the body text.")
            return
        if len(text) > BODY_TEXT_MAX:
            self.add("body.text", f"The body is {len(text)} characters; the limit is {BODY_TEXT_MAX}.")
        names = self.variables("body.text", text)
        self.placement("body.text", text)
        self.density("body.text", text, len(names))
        self.examples("body.example", body, names, "body_text")

    def footer(self, footer: Mapping[str, Any]) -> None:
        text = _text(footer.get("text"))
        if not text or not text.strip():
            self.add("footer.text", "Write the footer text or remove the footer.")
            return
        if len(text) > FOOTER_TEXT_MAX:
            self.add("footer.text", f"The footer is {len(text)} characters; the limit is {FOOTER_TEXT_MAX}.")
        if "{{" in text or "}}" in text:
            self.add("footer.text", "The footer cannot contain variables.")

    def authentication(self, by_type: Mapping[str, Mapping[str, Any]]) -> None:
        if "HEADER" in by_type:
            self.add("header", "Authentication templates have no header: Meta writes the message.")
        body = by_type.get("BODY")
        if body is not None:
            if "text" in body:
                self.add(
                    "body.text", "Authentication templates have no custom text: Meta writes the message."
                )
            flag = body.get("add_security_recommendation")
            if flag is not None and not isinstance(flag, bool):
                self.add("body.add_security_recommendation", "The security recommendation is on or off.")
        footer = by_type.get("FOOTER")
        if footer is not None:
            if "text" in footer:
                self.add("footer.text", "Authentication templates have no custom footer text.")
            minutes = footer.get("code_expiration_minutes")
            low, high = CODE_EXPIRATION_MINUTES
            if minutes is not None and (
                not isinstance(minutes, int) or isinstance(minutes, bool) or not low <= minutes <= high
            ):
                self.add("footer.code_expiration_minutes", f"The code expires after {low} to {high} minutes.")
        buttons = by_type.get("BUTTONS")
        listed = buttons.get("buttons") if buttons else None
        otp = (
            [b for b in listed if isinstance(b, Mapping) and _upper(b.get("type")) == "OTP"] if listed else []
        )
        if len(otp) != 1:
            self.add("buttons", "An authentication template has exactly one one-time-password button.")

    def buttons(self, component: Mapping[str, Any]) -> None:
        listed = component.get("buttons")
        if not isinstance(listed, list) or not listed:
            self.add("buttons", "Add at least one button or remove the buttons.")
            return
        if len(listed) > MAX_BUTTONS:
            self.add("buttons", f"A template has at most {MAX_BUTTONS} buttons.")
        kinds: list[str] = []
        for index, button in enumerate(listed):
            kinds.append(self.button(index, button))
        limits = {
            "QUICK_REPLY": (MAX_QUICK_REPLIES, "quick-reply buttons"),
            "URL": (MAX_URL_BUTTONS, "website buttons"),
            "PHONE_NUMBER": (MAX_PHONE_BUTTONS, "call button"),
            "COPY_CODE": (MAX_COPY_CODE_BUTTONS, "copy-code button"),
        }
        for kind, (limit, label) in limits.items():
            if kinds.count(kind) > limit:
                self.add("buttons", f"A template has at most {limit} {label}.")
        quick = [i for i, kind in enumerate(kinds) if kind == "QUICK_REPLY"]
        if quick and quick[-1] - quick[0] + 1 != len(quick):
            self.add(
                "buttons",
                "Keep the quick-reply buttons together: put them all before or all after the other buttons.",
            )
        texts = [b.get("text") for b in listed if isinstance(b, Mapping) and isinstance(b.get("text"), str)]
        if len(set(texts)) != len(texts):
            self.add("buttons", "Two buttons have the same label: each label must be different.")

    def button(self, index: int, button: Any) -> str:
        where = f"buttons[{index}]"
        kind = _upper(button.get("type")) if isinstance(button, Mapping) else ""
        if kind not in BUTTON_TYPES:
            self.add(f"{where}.type", "Unknown button type.")
            return kind
        assert isinstance(button, Mapping)
        if kind == "OTP":
            if self.category != "AUTHENTICATION":
                self.add(f"{where}.type", "One-time-password buttons are for authentication templates only.")
            if _upper(button.get("otp_type")) not in OTP_TYPES:
                self.add(f"{where}.otp_type", "Choose copy code, one-tap or zero-tap.")
            return kind
        if self.category == "AUTHENTICATION":
            self.add(f"{where}.type", "Authentication templates have only the one-time-password button.")
        text = _text(button.get("text"))
        if kind != "COPY_CODE" or text is not None:
            if not text or not text.strip():
                self.add(f"{where}.text", "Give the button a label.")
            elif len(text) > BUTTON_TEXT_MAX:
                self.add(
                    f"{where}.text", f"The label is {len(text)} characters; the limit is {BUTTON_TEXT_MAX}."
                )
            elif "{{" in text:
                self.add(f"{where}.text", "Button labels cannot contain variables.")
        if kind == "URL":
            self.url_button(where, button)
        elif kind == "PHONE_NUMBER":
            phone = _text(button.get("phone_number"))
            if not phone:
                self.add(f"{where}.phone_number", "Give the phone number to call, with its country code.")
            elif len(phone) > PHONE_NUMBER_MAX or not re.fullmatch(r"\+?[0-9 ()-]+", phone):
                self.add(
                    f"{where}.phone_number",
                    f"Use digits only (with + and country code), at most {PHONE_NUMBER_MAX} characters.",
                )
        elif kind == "COPY_CODE":
            example = _text(button.get("example"))
            if not example:
                self.add(f"{where}.example", "Give an example coupon code.")
            elif len(example) > COPY_CODE_EXAMPLE_MAX:
                self.add(f"{where}.example", f"The code can be at most {COPY_CODE_EXAMPLE_MAX} characters.")
        return kind

    def url_button(self, where: str, button: Mapping[str, Any]) -> None:
        url = _text(button.get("url"))
        if not url:
            self.add(f"{where}.url", "Give the web address the button opens.")
            return
        if len(url) > BUTTON_URL_MAX:
            self.add(f"{where}.url", f"The address is {len(url)} characters; the limit is {BUTTON_URL_MAX}.")
        if not re.match(r"https?://[^\s/]+", url):
            self.add(f"{where}.url", "The address starts with https:// (or http://).")
        variables = _BRACED.findall(url)
        if not variables:
            return
        if len(variables) > 1 or variables[0].strip() != "1" or not url.endswith("}}"):
            self.add(f"{where}.url", "A web address may hold one variable, {{1}}, and only at its very end.")
        example = button.get("example")
        values = example if isinstance(example, list) else [example]
        if not values or not all(isinstance(v, str) and v for v in values):
            self.add(f"{where}.example", "Give an example of the full address with the variable filled in.")


def lint(definition: Mapping[str, Any]) -> list[LintError]:
    """Every rule of REFERENCE §2 the template breaks; empty when it may be submitted."""
    if not isinstance(definition, Mapping):
        return [LintError("", "A template is a JSON object.")]
    return _Lint(definition).run()


def errors_by_field(errors: Sequence[LintError]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for error in errors:
        grouped.setdefault(error.field, []).append(error.message)
    return grouped
