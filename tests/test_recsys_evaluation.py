"""Offline ranking evaluation (``evaluate_recsys``, CONTRACTS §2): metrics, split protocols,
loaders, cf against popularity, and the command, on small synthetic data and on the public sets."""

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from recsys_plugins.evaluation import (
    NEGATIVES,
    HybridScorer,
    evaluate,
    evaluate_scorer,
    load_interactions,
    ranking_metrics,
    split,
)
from recsys_plugins.interactions import Interaction
from recsys_plugins.management.commands.evaluate_recsys import dataset_name
from recsys_plugins.rankers.cf import CFConfig, CFModel, Popularity

from .conftest import shared_data

CONTRACT_METRICS = {"hr@10", "ndcg@10", "recall@10", "mrr", "fit_s", "score_ms"}
SMALL_ALS = CFConfig(factors=8, regularization=1.0, alpha=4.0, iterations=15)


def grouped(
    users_per_group: tuple[int, ...] = (40, 30, 30, 20), items_per_group: int = 15, per_user: int = 10
) -> list[Interaction]:
    """Users of each group touch only their group's items, so what a user liked tells which items
    they will like; the first group is the biggest, so the most popular items are all its own.
    Item ids start at 1000; timestamps follow the generation order."""
    rng = np.random.default_rng(7)
    interactions = []
    for group, users in enumerate(users_per_group):
        first = 1000 + group * items_per_group
        for user in range(users):
            for item in rng.choice(np.arange(first, first + items_per_group), per_user, replace=False):
                interactions.append(
                    Interaction(f"g{group}u{user}", int(item), "view", len(interactions) + 1.0)
                )
    return interactions


def write_recbole(path: Path, interactions: list[Interaction], rating: int = 4) -> Path:
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    lines += [f"{e.user}\t{e.item}\t{rating}\t{int(e.timestamp)}" for e in interactions]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_sasrec(path: Path, interactions: list[Interaction]) -> Path:
    ordered = sorted(interactions, key=lambda event: event.timestamp)
    path.write_text("".join(f"{e.user} {e.item}\n" for e in ordered))
    return path


def run_command(*arguments: str) -> tuple[dict, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("evaluate_recsys", *arguments, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


# Metrics ---------------------------------------------------------------------------------------


def test_one_relevant_item_in_second_place():
    metrics = ranking_metrics(np.array([0.9, 0.1, 0.5, 0.3]), np.array([2]))
    assert metrics == pytest.approx({"hr@10": 1.0, "ndcg@10": 1 / math.log2(3), "recall@10": 1.0, "mrr": 0.5})


def test_two_relevant_items_in_first_and_third_place():
    metrics = ranking_metrics(np.array([0.9, 0.1, 0.5, 0.3]), np.array([0, 3]))
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert metrics == pytest.approx({"hr@10": 1.0, "ndcg@10": dcg / ideal, "recall@10": 1.0, "mrr": 1.0})


def test_relevant_item_below_the_cutoff_only_counts_for_mrr():
    scores = np.arange(12, 0, -1, dtype=np.float32)  # item i is in place i + 1
    metrics = ranking_metrics(scores, np.array([10]))
    assert metrics == pytest.approx({"hr@10": 0.0, "ndcg@10": 0.0, "recall@10": 0.0, "mrr": 1 / 11})
    partial = ranking_metrics(scores, np.array([1, 11]))  # places 2 and 12
    assert partial["recall@10"] == 0.5
    assert partial["ndcg@10"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def test_ties_count_against_the_relevant_item():
    metrics = ranking_metrics(np.zeros(20, dtype=np.float32), np.array([0]))
    assert metrics["hr@10"] == 0.0
    assert metrics["mrr"] == pytest.approx(1 / 20)


# Split protocols -------------------------------------------------------------------------------


def test_random80_trains_on_about_four_fifths_and_holds_out_the_rest():
    interactions = grouped((300, 200), 100, 20)
    data = split(interactions, "random80", seed=0)
    assert data.train.matrix.nnz / len(interactions) == pytest.approx(0.8, abs=0.02)
    assert data.candidates is None
    held = sum(len(items) for items in data.held_out)
    assert data.train.matrix.nnz + held <= len(interactions)
    assert held / len(interactions) > 0.17
    for user, items in zip(data.users, data.held_out, strict=True):
        assert not set(items) & set(data.train.matrix[user].indices)
    again = split(interactions, "random80", seed=0)
    assert (again.train.matrix != data.train.matrix).nnz == 0
    other = split(interactions, "random80", seed=1)
    assert (
        other.train.matrix.shape != data.train.matrix.shape or (other.train.matrix != data.train.matrix).nnz
    )


def test_loo100_holds_out_each_users_last_item_against_100_unseen_negatives():
    interactions = grouped((40, 40), 200, 15)
    last = {}
    for event in interactions:
        last[event.user] = event.item
    data = split(interactions, "loo100", seed=0)
    assert data.candidates is not None
    assert data.train.matrix.nnz == len(interactions) - len(last)
    items = data.train.items
    # A held-out item nobody trained on cannot be ranked: only those users are left out.
    rankable = {user for user, item in last.items() if item in items}
    assert {data.train.users[user] for user in data.users} == rankable
    assert len(rankable) > 0.8 * len(last)
    for user, held, candidates in zip(data.users, data.held_out, data.candidates, strict=True):
        name = data.train.users[user]
        assert [items[i] for i in held] == [last[name]]
        seen = set(data.train.matrix[user].indices)
        assert held[0] not in seen
        assert candidates[0] == held[0]
        negatives = candidates[1:]
        assert len(negatives) == NEGATIVES == len(set(negatives.tolist()))
        assert not set(negatives) & (seen | {held[0]})


def test_loo100_on_a_tiny_catalogue_uses_every_untouched_item():
    data = split(grouped((10, 10), 20, 5), "loo100", seed=0)
    for user, candidates in zip(data.users, data.candidates, strict=True):
        touched = set(data.train.matrix[user].indices) | {candidates[0]}
        assert sorted(candidates[1:]) == sorted(set(range(len(data.train.items))) - touched)


def test_split_refuses_data_with_nothing_to_evaluate():
    single = [Interaction(f"u{n}", n, "view", float(n)) for n in range(5)]
    with pytest.raises(ValueError, match="nothing to evaluate"):
        split(single, "loo100")
    with pytest.raises(ValueError, match="unknown protocol"):
        split(grouped(), "random50")  # type: ignore[arg-type]


# Loading ---------------------------------------------------------------------------------------


def test_load_recbole_keeps_positive_ratings_and_timestamps(tmp_path):
    path = tmp_path / "tiny.inter"
    path.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t10\t5\t881250949\n"
        "1\t20\t0\t881250950\n"
        "2\t10\t1\t881250951\n"
        "\n"
    )
    assert load_interactions(path, "recbole") == [
        Interaction("1", 10, "view", 881250949.0),
        Interaction("2", 10, "view", 881250951.0),
    ]


def test_load_recbole_without_rating_or_timestamp_uses_file_order(tmp_path):
    path = tmp_path / "plain.inter"
    path.write_text("item_id:token\tuser_id:token\n7\ta\n8\tb\n")
    assert load_interactions(path, "recbole") == [
        Interaction("a", 7, "view", 2.0),
        Interaction("b", 8, "view", 3.0),
    ]


def test_load_sasrec_lines_in_time_order(tmp_path):
    path = tmp_path / "Video.txt"
    path.write_text("1 5\n1 7\n\n2 5\n")
    assert load_interactions(path, "sasrec") == [
        Interaction("1", 5, "view", 1.0),
        Interaction("1", 7, "view", 2.0),
        Interaction("2", 5, "view", 4.0),
    ]


@pytest.mark.parametrize(
    ("text", "data_format", "message"),
    [
        ("", "sasrec", "no interactions"),
        ("", "recbole", "header"),
        ("user_id:token\titem_id:token\n", "recbole", "no interactions"),
        ("user\titem\n1\t2\n", "recbole", "header"),
        ("user_id:token\titem_id:token\n1\tabc\n", "recbole", "line 2"),
        ("user_id:token\titem_id:token\trating:float\n1\t2\n", "recbole", "line 2"),
        ("1 2\n1 2 3\n", "sasrec", "line 2"),
        ("1 x\n", "sasrec", "line 1"),
    ],
)
def test_load_rejects_malformed_files_naming_the_problem(tmp_path, text, data_format, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_interactions(path, data_format)


# Rankers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [SMALL_ALS, CFConfig(algorithm="itemknn", neighbours=20)])
def test_cf_beats_popularity_when_users_fall_into_groups(config):
    data = split(grouped(), "random80", seed=0)
    results = evaluate(data, ["cf", "hybrid"], config)
    assert set(results) == {"cf", "hybrid", "popularity"}
    assert results["cf"]["ndcg@10"] > results["popularity"]["ndcg@10"] + 0.3
    assert results["cf"]["hr@10"] > results["popularity"]["hr@10"]
    assert results["hybrid"]["ndcg@10"] > results["popularity"]["ndcg@10"] + 0.3
    for row in results.values():
        assert set(row) == CONTRACT_METRICS
        assert all(0 <= row[name] <= 1 for name in ("hr@10", "ndcg@10", "recall@10", "mrr"))
        assert row["fit_s"] >= 0
        assert row["score_ms"] >= 0


def test_hybrid_with_one_weight_ranks_as_that_ranker():
    data = split(grouped(), "loo100", seed=0)
    cf, popularity = CFModel.fit(data.train, SMALL_ALS), Popularity.fit(data.train)
    metric_names = ("hr@10", "ndcg@10", "recall@10", "mrr")

    def quality(scorer) -> dict:
        return {name: evaluate_scorer(scorer, data)[name] for name in metric_names}

    assert quality(HybridScorer(cf, popularity, {"cf": 1.0, "popularity": 0.0})) == quality(cf)
    assert quality(HybridScorer(cf, popularity, {"cf": 0.0, "popularity": 1.0})) == quality(popularity)


def test_evaluate_refuses_rankers_that_need_a_query():
    data = split(grouped(), "random80")
    with pytest.raises(ValueError, match="cosine"):
        evaluate(data, ["cosine"], SMALL_ALS)


# The command -----------------------------------------------------------------------------------


def test_command_reports_the_contract_for_random80(tmp_path):
    path = write_recbole(tmp_path / "groups.inter", grouped())
    report, summary = run_command(
        "--data", str(path), "--format", "recbole", "--protocol", "random80",
        "--factors", "8", "--regularization", "1", "--alpha", "4",
    )  # fmt: skip
    assert report["dataset"] == "groups"
    assert report["protocol"] == "random80"
    assert list(report["results"]) == ["cf", "hybrid", "popularity"]
    for row in report["results"].values():
        assert set(row) == CONTRACT_METRICS
        assert all(isinstance(value, float) for value in row.values())
    assert report["results"]["cf"]["ndcg@10"] > report["results"]["popularity"]["ndcg@10"]
    assert "popularity" in summary
    assert "NDCG@10" in summary


def test_command_evaluates_loo100_on_sasrec_lines_with_chosen_rankers(tmp_path):
    path = write_sasrec(tmp_path / "Video.txt", grouped((40, 40), 150, 15))
    report, _ = run_command(
        "--data", str(path), "--format", "sasrec", "--protocol", "loo100", "--rankers", "cf",
        "--algorithm", "itemknn", "--neighbours", "20", "--seed", "3",
    )  # fmt: skip
    assert report["protocol"] == "loo100"
    assert list(report["results"]) == ["cf", "popularity"]
    assert report["results"]["cf"]["hr@10"] == report["results"]["cf"]["recall@10"]  # one held-out item
    only_popularity, _ = run_command(
        "--data", str(path), "--format", "sasrec", "--protocol", "loo100", "--rankers", "popularity",
        "--seed", "3",
    )  # fmt: skip
    assert only_popularity["results"].keys() == {"popularity"}
    for metric in ("hr@10", "ndcg@10", "recall@10", "mrr"):  # the same split and negatives
        assert only_popularity["results"]["popularity"][metric] == report["results"]["popularity"][metric]


def test_dataset_is_named_by_its_folder_when_the_folder_names_it(tmp_path):
    (tmp_path / "amazon-videogames").mkdir()
    (tmp_path / "ml-100k").mkdir()
    assert dataset_name(tmp_path / "amazon-videogames" / "Video.txt") == "amazon-videogames"
    assert dataset_name(tmp_path / "ml-100k" / "ml-100k.inter") == "ml-100k"
    assert dataset_name(tmp_path / "ml-100k" / "sample.inter") == "sample"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rankers", "cosine"], "cannot evaluate cosine offline"),
        (["--rankers", "cf,nope"], "cannot evaluate nope offline"),
        (["--rankers", "novelty"], "evaluate_rankers scores any installed ranker"),
        (["--rankers", ","], "no ranker"),
        (["--factors", "0"], "--factors must be at least 1"),
        (["--alpha", "-1"], "--alpha must not be negative"),
    ],
)
def test_command_refuses_bad_options(tmp_path, extra, message):
    path = write_recbole(tmp_path / "groups.inter", grouped())
    with pytest.raises(CommandError, match=message):
        run_command("--data", str(path), "--format", "recbole", "--protocol", "random80", *extra)


def test_command_refuses_bad_input(tmp_path):
    arguments = ("--format", "recbole", "--protocol", "random80")
    with pytest.raises(CommandError, match="no such file"):
        run_command("--data", str(tmp_path / "missing.inter"), *arguments)
    with pytest.raises(CommandError, match="not a file"):
        run_command("--data", str(tmp_path), *arguments)
    empty = tmp_path / "empty.inter"
    empty.write_text("")
    with pytest.raises(CommandError, match="header"):
        run_command("--data", str(empty), *arguments)
    empty_lines = tmp_path / "empty.txt"
    empty_lines.write_text("\n\n")
    with pytest.raises(CommandError, match="no interactions"):
        run_command("--data", str(empty_lines), "--format", "sasrec", "--protocol", "loo100")
    with pytest.raises(CommandError, match="line 1"):  # an atomic file read as sasrec lines
        run_command("--data", str(write_recbole(tmp_path / "g.inter", grouped())), "--format", "sasrec",
                    "--protocol", "loo100")  # fmt: skip
    with pytest.raises(CommandError, match="invalid choice"):
        run_command("--data", str(empty), "--format", "csv", "--protocol", "random80")
    with pytest.raises(CommandError, match="invalid choice"):
        run_command("--data", str(empty), "--format", "recbole", "--protocol", "random50")
    binary = tmp_path / "binary.inter"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(CommandError, match="cannot read"):
        run_command("--data", str(binary), *arguments)


# The public data sets --------------------------------------------------------------------------


@pytest.mark.slow
def test_movielens_100k_with_the_default_configuration():
    report, _ = run_command(
        "--data", str(shared_data("ml-100k/ml-100k.inter")), "--format", "recbole", "--protocol", "random80"
    )
    results = report["results"]
    assert report["dataset"] == "ml-100k"
    assert results["cf"]["ndcg@10"] >= 0.44
    assert results["hybrid"]["ndcg@10"] >= 0.44
    assert 0.20 <= results["popularity"]["ndcg@10"] <= 0.23  # published MostPop: 0.2197


@pytest.mark.slow
def test_amazon_video_games_leave_one_out():
    report, _ = run_command(
        "--data", str(shared_data("amazon-videogames/Video.txt")), "--format", "sasrec",
        "--protocol", "loo100", "--factors", "128", "--regularization", "1000", "--alpha", "300",
    )  # fmt: skip
    results = report["results"]
    assert report["dataset"] == "amazon-videogames"
    assert results["cf"]["hr@10"] >= 0.60
    assert results["hybrid"]["hr@10"] >= 0.60
    assert results["popularity"]["hr@10"] < results["cf"]["hr@10"]
