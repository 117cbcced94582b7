"""Quality is measured on the labelled set: a regression in recall or false positives fails CI."""

from __future__ import annotations

import json

import pytest

from chatrk.policy.evaluate import FALSE_POSITIVE_GOAL, RECALL_GOAL, evaluate, labelled, main


def test_the_labelled_set_is_large_and_varied() -> None:
    rows = labelled()
    assert len(rows) >= 300
    assert {r["language"] for r in rows} >= {"en", "es", "pt", "fr", "de"}
    categories = {r["category"] for r in rows}
    assert categories >= {
        "legitimate",
        "spam",
        "scam",
        "hate",
        "illegal",
        "violence",
        "adult",
        "sensitive_ids",
    }
    assert sum(r["category"] == "legitimate" for r in rows) >= 150


def test_recall_on_block_categories_and_false_positives_meet_the_goals() -> None:
    result = evaluate()
    assert result["min_block_category_recall"] >= RECALL_GOAL, result["categories"]
    assert result["legitimate_false_positive_rate"] <= FALSE_POSITIVE_GOAL
    holdout = evaluate(split="holdout")
    assert (
        holdout["block_recall"] >= RECALL_GOAL
        and holdout["legitimate_false_positive_rate"] <= FALSE_POSITIVE_GOAL
    )


def test_the_script_ends_with_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    figures = json.loads(last)
    assert figures["goals_met"] is True and set(figures["categories"]) >= {"hate", "spam", "sensitive_ids"}
