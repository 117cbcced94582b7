"""The error-code table: coverage of REFERENCE.md, retry classes, the generated doc, safe messages."""

from __future__ import annotations

import re

import pytest

from chatrk.whatsapp.errors import (
    ERROR_TABLE,
    UNKNOWN_REASON,
    FailureKind,
    GraphError,
    RetryClass,
    describe_error,
    render_markdown_table,
)
from chatrk.whatsapp.tests.conftest import REPO_ROOT, samples_dir

DOC = REPO_ROOT / "docs" / "whatsapp-errors.md"


def reference_codes() -> set[int]:
    """Every code in the first column of REFERENCE.md's error table, including ranges and pairs."""
    reference = (samples_dir().parent / "REFERENCE.md").read_text()
    codes: set[int] = set()
    for line in reference.splitlines():
        cell = re.match(r"\| ([0-9][0-9 ,/\u2013-]*) \|", line)
        if cell is None:
            continue
        span = re.fullmatch(r"([0-9]+)[\u2013-]([0-9]+)", cell.group(1).strip())
        if span:
            codes.update({int(span.group(1)), int(span.group(2))})
        else:
            codes.update(int(code) for code in re.findall(r"[0-9]+", cell.group(1)))
    return codes


def test_every_code_reference_md_lists_has_its_own_reason() -> None:
    codes = reference_codes()
    assert {131047, 130429, 132001, 200, 299} <= codes  # the extraction really read the table
    for code in codes:
        assert describe_error(code).reason != UNKNOWN_REASON, code


@pytest.mark.parametrize("code", [130429, 131056, 131000, 1, 2, 4, 131016, 131057, 133004])
def test_transient_codes_back_off(code: int) -> None:
    assert describe_error(code).retry_class is RetryClass.RETRY_BACKOFF


@pytest.mark.parametrize(
    "code", [131047, 131026, 132001, 131050, 131051, 100, 132000, 132015, 132016, 131049, 368]
)
def test_hopeless_codes_are_final(code: int) -> None:
    assert describe_error(code).retry_class is RetryClass.FINAL


@pytest.mark.parametrize("code", [190, 0, 10, 200, 250, 299, 131005])
def test_credential_and_permission_codes_need_reauthorisation(code: int) -> None:
    assert describe_error(code).retry_class is RetryClass.REAUTHORISE


def test_reasons_speak_to_agents() -> None:
    assert "24 hours" in describe_error(131047).reason
    assert "template" in describe_error(131047).reason
    assert "marketing" in describe_error(131050).reason


def test_unknown_codes_get_a_generic_reason_and_a_safe_default() -> None:
    unknown = describe_error(999_999)
    assert unknown.reason == UNKNOWN_REASON
    assert unknown.retry_class is RetryClass.FINAL
    assert describe_error(999_999, http_status=503).retry_class is RetryClass.RETRY_BACKOFF
    assert describe_error(None, http_status=400).retry_class is RetryClass.FINAL


def test_every_row_is_complete() -> None:
    for code, info in ERROR_TABLE.items():
        assert info.code == code
        assert info.title
        assert info.reason.endswith(".")
        assert "|" not in info.reason + info.title  # would break the markdown table


def test_doc_table_matches_the_code() -> None:
    doc = DOC.read_text()
    begin = doc.index("<!-- BEGIN GENERATED TABLE")
    start = doc.index("\n", begin) + 1
    end = doc.index("<!-- END GENERATED TABLE -->")
    assert doc[start:end] == render_markdown_table()


def test_doc_rows_carry_each_code_and_class() -> None:
    rows = {
        cells[0]: cells[3]
        for line in DOC.read_text().splitlines()
        if (cells := [cell.strip() for cell in line.strip("|").split("|")])[0].isdigit()
    }
    assert rows == {str(code): f"`{info.retry_class}`" for code, info in ERROR_TABLE.items()}


def test_graph_error_text_carries_codes_only() -> None:
    error = GraphError(
        kind=FailureKind.API,
        retry_class=RetryClass.FINAL,
        code=131026,
        title="Message undeliverable",
        message="(#131026) Recipient +15551234567 Jane Doe",
        details="Message body: hello Jane",
        http_status=400,
        fbtrace_id="AbC",
    )
    for text in (str(error), repr(error)):
        assert "131026" in text
        assert "final" in text
        assert "Jane" not in text
        assert "15551234567" not in text
        assert "hello" not in text
    assert error.reason == describe_error(131026).reason
