"""Fine-tuning the joint model on generated (and corrected) examples, on GPU or CPU."""

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import get_linear_schedule_with_warmup

from catalog.retrieval.encoder import default_model_path
from core.devices import reduced_precision, resolve_device

from .frame import INTENTS, TAGS
from .generate import Example
from .model import IGNORED, JointModel, load_encoder, load_tokenizer, tag_labels, tokenize
from .parser import Parser
from .vocabulary import ParserVocabulary

logger = logging.getLogger(__name__)
Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters; the defaults train the shipped parser in minutes on two CPU cores."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    head_learning_rate: float = 2e-3
    warmup: float = 0.06
    seed: int = 0


def train(
    examples: Sequence[Example],
    vocabulary: ParserVocabulary,
    config: TrainingConfig = TrainingConfig(),
    device: str = "auto",
    on_progress: Progress | None = None,
    base_model: Path | None = None,
) -> Parser:
    """Fine-tune MiniLM on ``examples`` and return the trained parser.

    ``on_progress`` gets ``{"epoch", "step", "steps", "loss"}`` every few
    steps. Word embeddings stay frozen: it halves the optimiser's work and
    keeps the pre-trained meaning of words the examples never use.
    """
    if not examples:
        raise ValueError("no training examples")
    device = resolve_device(device)
    torch.manual_seed(config.seed)
    base_model = base_model or default_model_path()
    tokenizer = load_tokenizer(base_model)
    encoder = load_encoder(base_model)
    encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    model = JointModel(encoder, len(INTENTS), len(TAGS)).to(device).train()
    intent_ids = {intent: i for i, intent in enumerate(INTENTS)}
    tag_ids = {tag: i for i, tag in enumerate(TAGS)}

    batches = _length_batches(examples, config.batch_size, random.Random(config.seed), config.epochs)
    steps = len(batches)
    optimiser = torch.optim.AdamW(
        [
            {
                "params": [p for p in model.encoder.parameters() if p.requires_grad],
                "lr": config.learning_rate,
            },
            {
                "params": [*model.intent_head.parameters(), *model.tag_head.parameters()],
                "lr": config.head_learning_rate,
            },
        ],
        weight_decay=0.01,
    )
    schedule = get_linear_schedule_with_warmup(optimiser, int(steps * config.warmup), steps)
    loss_function = nn.CrossEntropyLoss(ignore_index=IGNORED)
    autocast_dtype = reduced_precision(device)
    started, running = time.perf_counter(), None
    for step, (epoch, batch_examples) in enumerate(batches, start=1):
        batch = tokenize(tokenizer, [example.words for example in batch_examples])
        intents = torch.tensor([intent_ids[example.intent] for example in batch_examples], device=device)
        labels = tag_labels(batch, [[tag_ids[tag] for tag in example.tags] for example in batch_examples]).to(
            device
        )
        batch = batch.to(device)
        with torch.autocast(device, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            intent_logits, tag_logits = model(batch.input_ids, batch.attention_mask)
        loss = loss_function(intent_logits.float(), intents) + loss_function(
            tag_logits.float().flatten(0, 1), labels.flatten()
        )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        value = loss.item()
        running = value if running is None else 0.95 * running + 0.05 * value
        if on_progress and (step % 20 == 0 or step == steps):
            on_progress({"epoch": epoch + 1, "step": step, "steps": steps, "loss": round(running, 4)})
    logger.info(
        "trained the parser on %d examples in %.1fs on %s",
        len(examples),
        time.perf_counter() - started,
        device,
    )
    return Parser(model.eval(), tokenizer, INTENTS, TAGS, vocabulary, device, quantize=False)


def _length_batches(
    examples: Sequence[Example], size: int, rng: random.Random, epochs: int
) -> list[tuple[int, list[Example]]]:
    """Shuffled batches of similar length (less padding), epoch by epoch."""
    batches: list[tuple[int, list[Example]]] = []
    for epoch in range(epochs):
        order = list(examples)
        rng.shuffle(order)
        epoch_batches = []
        for start in range(0, len(order), size * 32):
            pool = sorted(order[start : start + size * 32], key=lambda example: len(example.words))
            epoch_batches += [pool[i : i + size] for i in range(0, len(pool), size)]
        rng.shuffle(epoch_batches)
        batches += [(epoch, batch) for batch in epoch_batches]
    return batches
