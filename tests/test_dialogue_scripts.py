"""The scripted conversations of ``benchmarks/data/dialogues.json`` over the whole IKEA + Best Buy
catalogs, through the chat's code path, checked turn by turn against the database.

The parser here is the keyword rules (no parser is trained in the suite); the benchmark
``benchmarks/dialogue_scripts.py --train-parser`` reports the fine-tuned parser's pass rate.
"""

import pytest
from django.core.management import call_command

from assistant import services
from benchmarks.dialogue_scripts import CATALOG_FILES, load_dialogues, run_dialogues, summary
from catalog.indexing import build_index

from .conftest import shared_data

pytestmark = pytest.mark.slow

TARGET_PASS_RATE = 0.95


@pytest.fixture
def both_catalogs(db: None) -> None:
    for name, relative in CATALOG_FILES.items():
        call_command("import_catalog", str(shared_data(relative)), "--format", name)
    build_index()


def test_at_least_30_scripted_dialogues_pass_their_per_turn_checks(both_catalogs):
    dialogues = load_dialogues()
    assert len(dialogues) >= 30
    report = summary(run_dialogues(dialogues, services.chat_turn))
    assert report["turn_pass_rate"] >= TARGET_PASS_RATE, report["failures"]

    # The checks can fail: the same turns with wrong expectations are caught.
    wrong = [
        {
            "name": "wrong expectations",
            "turns": [
                ["grey sofa under 2000", {"intent": "search", "constraints": {"color": ["black"]}}],
                ["how much is the first one", {"intent": "product_question", "ref": [2], "answer": "price"}],
                ["add it to my cart", {"intent": "add_to_cart", "ref": [3], "cart": 2}],
            ],
        }
    ]
    failed = summary(run_dialogues(wrong, services.chat_turn))["failures"]
    assert [failure["turn"] for failure in failed] == [1, 2, 3]
    assert "constraint color=['grey'], expected ['black']" in failed[0]["problems"]
    assert any("expected" in problem and "answered about" in problem for problem in failed[1]["problems"])
    assert "cart holds 1, expected 2" in failed[2]["problems"]
