"""``evaluate_recsys --data PATH --format {recbole,sasrec} --protocol {random80,loo100} [--rankers a,b]``
(CONTRACTS §2): offline ranking quality of the trainable rankers against popularity."""

from dataclasses import replace
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import AisleCommand
from recsys_plugins.evaluation import (
    HYBRID_WEIGHTS,
    ML100K_CONFIG,
    evaluate,
    fitters,
    load_interactions,
    split,
)
from recsys_plugins.rankers.cf import CFConfig

METRICS = ("hr@10", "ndcg@10", "recall@10", "mrr", "fit_s", "score_ms")
EVALUABLE = tuple(fitters(ML100K_CONFIG, HYBRID_WEIGHTS))


class Command(AisleCommand):
    help = (
        "Train rankers on public interaction data and report HR@10, NDCG@10, recall@10, MRR, fit "
        "time and scoring time per user, always with popularity as the baseline. The CF defaults "
        "are the ones tuned on MovieLens-100k."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--data", required=True, type=Path, help="The interaction file.")
        parser.add_argument(
            "--format",
            required=True,
            choices=["recbole", "sasrec"],
            dest="fmt",
            help="recbole: atomic .inter file; sasrec: 'user item' lines in time order.",
        )
        parser.add_argument(
            "--protocol",
            required=True,
            choices=["random80", "loo100"],
            help="random80: random 80/20 split, all-item ranking; "
            "loo100: last item per user against 100 sampled negatives.",
        )
        parser.add_argument(
            "--rankers",
            default="cf,hybrid",
            help=f"Comma-separated, from {', '.join(EVALUABLE)} (popularity is always reported).",
        )
        parser.add_argument("--algorithm", choices=["als", "itemknn"], default=ML100K_CONFIG.algorithm)
        parser.add_argument("--factors", type=int, default=ML100K_CONFIG.factors, help="ALS latent factors.")
        parser.add_argument("--regularization", type=float, default=ML100K_CONFIG.regularization)
        parser.add_argument(
            "--alpha", type=float, default=ML100K_CONFIG.alpha, help="ALS confidence of a positive."
        )
        parser.add_argument("--iterations", type=int, default=ML100K_CONFIG.iterations)
        parser.add_argument(
            "--neighbours", type=int, default=ML100K_CONFIG.neighbours, help="item-kNN neighbours per item."
        )
        parser.add_argument(
            "--popularity-weight",
            type=float,
            default=HYBRID_WEIGHTS["popularity"],
            help="hybrid: popularity's weight next to cf's 1.0, before the history shift.",
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the split, the negatives and ALS.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["data"]
        rankers = [name.strip() for name in options["rankers"].split(",") if name.strip()]
        unknown = [name for name in rankers if name not in EVALUABLE]
        if unknown or not rankers:
            raise CommandError(
                f"cannot evaluate {', '.join(unknown) or 'no ranker'} offline; "
                f"--rankers takes a comma-separated list of {', '.join(EVALUABLE)} "
                "(evaluate_rankers scores any installed ranker on catalog queries)"
            )
        config = _config(options)
        weights = {"cf": 1.0, "popularity": options["popularity_weight"]}
        if not path.is_file():
            raise CommandError(f"cannot read {path}: {'not a file' if path.exists() else 'no such file'}")
        try:
            interactions = load_interactions(path, options["fmt"])
            data = split(interactions, options["protocol"], options["seed"])
            results = evaluate(data, rankers, config, weights)
        except (OSError, UnicodeDecodeError) as problem:
            raise CommandError(f"cannot read {path}: {problem}") from None
        except ValueError as problem:
            raise CommandError(str(problem)) from None
        dataset = dataset_name(path)
        lines = [
            f"{dataset}, {options['protocol']}: {len(interactions)} interactions, "
            f"{len(data.train.users)} users, {len(data.train.items)} items, {len(data.users)} evaluated users"
        ]
        lines += [
            f"  {name:<10} HR@10 {row['hr@10']:.4f}  NDCG@10 {row['ndcg@10']:.4f}  "
            f"recall@10 {row['recall@10']:.4f}  MRR {row['mrr']:.4f}  "
            f"fit {row['fit_s']:.2f}s  {row['score_ms']:.3f} ms/user"
            for name, row in results.items()
        ]
        self.report(
            options,
            "\n".join(lines),
            {
                "dataset": dataset,
                "protocol": options["protocol"],
                "results": {name: {key: row[key] for key in METRICS} for name, row in results.items()},
            },
        )


def _config(options: dict[str, Any]) -> CFConfig:
    for name in ("factors", "iterations", "neighbours"):
        if options[name] < 1:
            raise CommandError(f"--{name} must be at least 1")
    for name in ("regularization", "alpha", "popularity_weight"):
        if options[name] < 0:
            raise CommandError(f"--{name.replace('_', '-')} must not be negative")
    return replace(
        ML100K_CONFIG,
        algorithm=options["algorithm"],
        factors=options["factors"],
        regularization=options["regularization"],
        alpha=options["alpha"],
        iterations=options["iterations"],
        neighbours=options["neighbours"],
        seed=options["seed"],
    )


def dataset_name(path: Path) -> str:
    """The folder's name when it names the data set more fully than the file (``amazon-videogames``
    for ``Video.txt``, ``ml-100k`` for ``ml-100k.inter``), otherwise the file's stem."""
    folder = path.resolve().parent.name
    return folder if folder and path.stem.lower() in folder.lower() else path.stem
