"""Scripted template review: the verdict Meta's reviewers would give (REFERENCE §2 and §6)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from emulator.templates import NAMED_VARIABLE, VARIABLE, Template, TemplateCategory, variables

# Keyword families standing in for Meta's policy classifiers. Word boundaries keep "bet" out of "better".
PROHIBITED = re.compile(
    r"\b(firearms?|guns?|ammunition|alcohol|beer|vodka|whisk(?:e)?y|tobacco|cigarettes?|vape|cannabis|"
    r"marijuana|cocaine|casino|gambling|betting|escort|dating|payday loans?|bitcoin|crypto(?:currency)?|"
    r"prescription drugs?|weed)\b",
    re.IGNORECASE,
)
SCAM = re.compile(
    r"\b(gift ?cards?|wire transfer|send your password|full card number|credit card number|social security"
    r" number|verify your bank account|you have won|lottery winner)\b",
    re.IGNORECASE,
)
PROMOTIONAL = re.compile(
    r"(\b(sale|discount|offer|promo(?:tion)?|buy now|limited time|deal|coupon)\b|\d+\s?% off)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    approved: bool
    reason: str = "NONE"
    detail: str = ""
    recommendation: str = ""
    new_category: TemplateCategory | None = None


def _all_text(template: Template) -> str:
    parts: list[str] = []
    for component in template.components:
        parts.append(str(component.get("text", "")))
        for button in component.get("buttons", []) or []:
            parts.append(str(button.get("text", "")))
    return "\n".join(parts)


def body_text(template: Template) -> str:
    for component in template.components:
        if component["type"] == "BODY":
            return str(component.get("text", ""))
    return ""


def format_problem(text: str, parameter_format: str) -> str | None:
    """Variable rules enforced at review time (mismatched braces, order, adjacency, characters)."""
    if text.count("{{") != text.count("}}"):
        return "Your template has mismatched curly braces around a parameter."
    found = variables(text)
    if parameter_format == "NAMED":
        if any(not NAMED_VARIABLE.match(name) for name in found):
            return "Named parameters must use lowercase letters, digits and underscores."
        if len(set(found)) != len(found):
            return "Named parameters must be unique."
    else:
        if any(not name.isdigit() for name in found):
            return "Your template has parameters with special characters such as #, $ or %."
        if [int(n) for n in found] != list(range(1, len(found) + 1)):
            return "Your template's parameters are not sequential, starting from {{1}}."
    if re.search(r"\}\}\s*\{\{", text):
        return (
            "Your template has parameters placed next to each other (like {{1}}{{2}}) without text or "
            "punctuation between them."
        )
    return None


def leading_or_trailing_variable(text: str) -> bool:
    stripped = text.strip().rstrip(".!?")
    return stripped.startswith("{{") or stripped.endswith("}}")


def too_dense(text: str) -> bool:
    """BSP heuristic: at least 2·P+1 words that are not variables (REFERENCE §2)."""
    count = len(variables(text))
    words = len(VARIABLE.sub(" ", text).split())
    return count > 0 and words < 2 * count + 1


def review(template: Template, existing_bodies: set[tuple[str, str]]) -> Verdict:
    text = _all_text(template)
    body = body_text(template)
    problem = format_problem(body, template.parameter_format)
    if problem:
        return Verdict(
            False,
            "INVALID_FORMAT",
            problem,
            "Separate parameters with descriptive text and ensure each parameter is clearly contextualized.",
        )
    if PROHIBITED.search(text):
        return Verdict(
            False,
            "ABUSIVE_CONTENT",
            "The template promotes goods or services WhatsApp prohibits.",
            "Review the WhatsApp Business and Commerce policies.",
        )
    if SCAM.search(text):
        return Verdict(
            False,
            "SCAM",
            "The template asks for sensitive information or looks deceptive.",
            "Never ask customers for passwords, full card numbers or identity numbers.",
        )
    footer = next((str(c.get("text", "")) for c in template.components if c["type"] == "FOOTER"), "")
    if (body, footer) in existing_bodies:
        return Verdict(
            False,
            "INVALID_FORMAT",
            "A template with the same body and footer already exists.",
            "Edit the existing template instead of creating a duplicate.",
        )
    if template.category is not TemplateCategory.MARKETING and PROMOTIONAL.search(text):
        if template.allow_category_change:
            return Verdict(True, new_category=TemplateCategory.MARKETING)
        return Verdict(
            False,
            "INCORRECT_CATEGORY",
            "The template content is promotional.",
            "Submit promotional content in the MARKETING category.",
        )
    return Verdict(True)
