"""The joint intent + slot network: MiniLM with an intent head and a per-token tag head.

JointBERT-style. The intent head reads the mean of the token states (the
pooling all-MiniLM-L6-v2 was trained with); the tag head reads each word's
first sub-token, the others are ignored in the loss.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoTokenizer, BertModel, PreTrainedTokenizerBase

from core.devices import quiet_model_loading

IGNORED = -100  # label of sub-tokens after a word's first, and of special tokens
MAX_TOKENS = 64


class JointModel(nn.Module):
    """Encoder plus two linear heads, trained with the sum of both cross-entropies."""

    def __init__(self, encoder: BertModel, intents: int, tags: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.intent_head = nn.Linear(hidden, intents)
        self.tag_head = nn.Linear(hidden, tags)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Intent logits ``(batch, intents)`` and tag logits ``(batch, tokens, tags)``."""
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.intent_head(self.dropout(pooled)), self.tag_head(self.dropout(states))

    def save(self, folder: Path) -> None:
        self.encoder.save_pretrained(folder / "encoder")
        heads = {name: value for name, value in self.state_dict().items() if not name.startswith("encoder.")}
        torch.save(heads, folder / "heads.pt")

    @classmethod
    def load(cls, folder: Path, intents: int, tags: int) -> "JointModel":
        model = cls(load_encoder(folder / "encoder"), intents, tags)
        model.load_state_dict(torch.load(folder / "heads.pt", weights_only=True), strict=False)
        return model.eval()


def load_encoder(path: Path) -> BertModel:
    """MiniLM's BERT layers without the pooler: the heads read the token states."""
    with quiet_model_loading():
        return BertModel.from_pretrained(str(path), add_pooling_layer=False)


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(str(path), use_fast=True)


@dataclass
class Batch:
    """Token ids for a list of worded utterances, and where each word's first sub-token is."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    first_tokens: list[list[int]]  # per utterance: token position of each word (words cut off are absent)

    def to(self, device: str) -> "Batch":
        return Batch(self.input_ids.to(device), self.attention_mask.to(device), self.first_tokens)


def tokenize(tokenizer: PreTrainedTokenizerBase, utterances: Sequence[Sequence[str]]) -> Batch:
    """Sub-word tokens of pre-split words, padded to the longest utterance."""
    encoded = tokenizer(
        [list(words) for words in utterances],
        is_split_into_words=True,
        padding=True,
        truncation=True,
        max_length=MAX_TOKENS,
        return_tensors="pt",
    )
    first_tokens = []
    for row in range(len(utterances)):
        positions: dict[int, int] = {}
        for position, word in enumerate(encoded.word_ids(row)):
            if word is not None and word not in positions:
                positions[word] = position
        first_tokens.append([positions[word] for word in sorted(positions)])
    return Batch(encoded["input_ids"], encoded["attention_mask"], first_tokens)


def tag_labels(batch: Batch, tag_ids: Sequence[Sequence[int]]) -> torch.Tensor:
    """Per-token labels: each word's tag on its first sub-token, ``IGNORED`` elsewhere."""
    labels = torch.full(batch.input_ids.shape, IGNORED, dtype=torch.long)
    for row, (positions, tags) in enumerate(zip(batch.first_tokens, tag_ids, strict=True)):
        for position, tag in zip(positions, tags, strict=False):
            labels[row, position] = tag
    return labels
