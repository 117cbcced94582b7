"""Measures the policy engine on the labelled set: ``python -m chatrk.policy.evaluate [--misses]``.

For every category: precision (of the messages the engine put in that category, the share labelled
so) and recall (of the messages labelled so, the share the engine put in that category with at least
the expected action — BLOCK for block categories, HOLD for spam). For legitimate messages: the share
held or blocked (false positives). Prints a table, then one JSON object on the last line.

Goals (asserted by the test suite): recall ≥ 0.9 on each block category, ≤ 5 % of legitimate messages
held or blocked.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from importlib import resources
from typing import Any

from chatrk.policy.engine import BLOCK_CATEGORIES, Action, Category, check_text

LEGITIMATE = "legitimate"
RECALL_GOAL = 0.9
FALSE_POSITIVE_GOAL = 0.05


def labelled() -> list[dict[str, str]]:
    text = (resources.files("chatrk.policy") / "eval" / "labelled.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def evaluate(*, show_misses: bool = False, split: str = "") -> dict[str, Any]:
    """Figures over the whole set, or over one split ("dev": written while writing the rules;
    "holdout": written afterwards and only measured)."""
    rows = [row for row in labelled() if not split or row.get("set") == split]
    predicted: Counter[str] = Counter()
    correct_predicted: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    false_positives = 0
    legitimate = 0
    misses: list[str] = []
    for row in rows:
        decision = check_text(row["text"])
        want = row["category"]
        got = decision.category.value if decision.action is not Action.ALLOW else LEGITIMATE
        if got != LEGITIMATE:
            predicted[got] += 1
            correct_predicted[got] += got == want
        if want == LEGITIMATE:
            legitimate += 1
            if got != LEGITIMATE:
                false_positives += 1
                misses.append(f"FP  {got:>13} {decision.action:<5} [{row['language']}] {row['text']}")
            continue
        expected[want] += 1
        needed = Action(row["action"])
        if got == want and decision.action.severity >= needed.severity:
            caught[want] += 1
        else:
            misses.append(f"FN  {want:>13} got {got}/{decision.action} [{row['language']}] {row['text']}")
    categories: dict[str, dict[str, float | int]] = {}
    for category in (c.value for c in Category if c is not Category.NONE):
        categories[category] = {
            "n": expected[category],
            "precision": round(correct_predicted[category] / predicted[category], 3)
            if predicted[category]
            else 1.0,
            "recall": round(caught[category] / expected[category], 3) if expected[category] else 1.0,
        }
    block_recall = [categories[c.value]["recall"] for c in BLOCK_CATEGORIES]
    result: dict[str, Any] = {
        "messages": len(rows),
        "legitimate": legitimate,
        "legitimate_false_positive_rate": round(false_positives / legitimate, 3) if legitimate else 0.0,
        "min_block_category_recall": min(block_recall),
        "categories": categories,
        "languages": dict(Counter(row["language"] for row in rows)),
    }
    result["goals_met"] = bool(
        result["min_block_category_recall"] >= RECALL_GOAL
        and result["legitimate_false_positive_rate"] <= FALSE_POSITIVE_GOAL
    )
    blocked = sum(caught[c.value] for c in BLOCK_CATEGORIES)
    result["block_recall"] = round(blocked / max(1, sum(expected[c.value] for c in BLOCK_CATEGORIES)), 3)
    if show_misses:
        result["misses"] = misses
    return result


def main(argv: list[str]) -> int:
    result = evaluate(show_misses="--misses" in argv)
    holdout = evaluate(show_misses="--misses" in argv, split="holdout")
    for miss in result.pop("misses", []):
        print(miss)
    keys = (
        "messages",
        "legitimate",
        "legitimate_false_positive_rate",
        "block_recall",
        "min_block_category_recall",
    )
    result["holdout"] = {key: holdout[key] for key in keys}
    print(f"{'category':<15}{'n':>5}{'precision':>11}{'recall':>8}")
    for name, figures in result["categories"].items():
        print(f"{name:<15}{figures['n']:>5}{figures['precision']:>11.3f}{figures['recall']:>8.3f}")
    print(
        f"legitimate held or blocked: {result['legitimate_false_positive_rate']:.1%} "
        f"of {result['legitimate']}"
    )
    print(f"holdout: {result['holdout']}")
    print(json.dumps(result, sort_keys=True))
    return 0 if result["goals_met"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
