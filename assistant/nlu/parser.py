"""A trained parser version: load it, parse one utterance or many.

A version folder (``core.versions`` layout, under ``DATA_DIR/parser``)
holds ``encoder/`` (the fine-tuned MiniLM), ``heads.pt``, the tokenizer,
``labels.json`` and the ``vocabulary.json`` it was trained on, plus a
manifest with its training metrics.
"""

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from core.devices import reduced_precision, resolve_device, torch_threads
from core.versions import LiveVersion, VersionStore

from .frame import Frame, spans_from_tags
from .model import JointModel, load_tokenizer, tokenize
from .normalise import frame_slots, split_words
from .vocabulary import ParserVocabulary

# Up to this many utterances run on one torch thread: see catalog.retrieval.encoder.
SINGLE_THREAD_UTTERANCES = 8


class Parser:
    """Turns utterances into frames with a fine-tuned joint model."""

    def __init__(
        self,
        model: JointModel,
        tokenizer,
        intents: Sequence[str],
        tags: Sequence[str],
        vocabulary: ParserVocabulary,
        device: str = "cpu",
        version: str = "",
        quantize: bool | None = None,
    ) -> None:
        """``quantize`` (default: on CPU) runs the linear layers in int8, about twice as fast
        per utterance on a CPU for a point or so of intent accuracy (docs/benchmarks.md)."""
        model = model.to(device).eval()
        self.quantized = device == "cpu" if quantize is None else quantize
        if self.quantized:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = model
        self.tokenizer = tokenizer
        self.intents = list(intents)
        self.tags = list(tags)
        self.vocabulary = vocabulary
        self.device = device
        self.version = version
        self._autocast_dtype = None if self.quantized else reduced_precision(device)

    @classmethod
    def load(
        cls, folder: Path, device: str = "cpu", version: str = "", quantize: bool | None = None
    ) -> "Parser":
        labels = json.loads((folder / "labels.json").read_text())
        model = JointModel.load(folder, len(labels["intents"]), len(labels["tags"]))
        return cls(
            model,
            load_tokenizer(folder),
            labels["intents"],
            labels["tags"],
            ParserVocabulary.load(folder / "vocabulary.json"),
            resolve_device(device),
            version or folder.name,
            quantize,
        )

    def save(self, folder: Path) -> None:
        self.model.save(folder)
        self.tokenizer.save_pretrained(str(folder))
        (folder / "labels.json").write_text(json.dumps({"intents": self.intents, "tags": self.tags}))
        self.vocabulary.save(folder / "vocabulary.json")

    def parse(self, text: str) -> Frame:
        """The frame of one utterance."""
        return self.parse_batch([text])[0]

    def parse_batch(self, texts: Sequence[str], batch_size: int = 64) -> list[Frame]:
        """Frames of many utterances, in order; batched through the model."""
        frames: list[Frame] = []
        threads = 1 if len(texts) <= SINGLE_THREAD_UTTERANCES else None
        with torch.inference_mode(), torch_threads(threads), self._autocast():
            for start in range(0, len(texts), batch_size):
                frames += self._parse_chunk(texts[start : start + batch_size])
        return frames

    def _parse_chunk(self, texts: Sequence[str]) -> list[Frame]:
        utterances = [split_words(text) for text in texts]
        spoken = [i for i, words in enumerate(utterances) if words]
        frames = [Frame("out_of_scope", 1.0, {}) for _ in texts]
        if not spoken:
            return frames
        batch = tokenize(self.tokenizer, [utterances[i] for i in spoken]).to(self.device)
        intent_logits, tag_logits = self.model(batch.input_ids, batch.attention_mask)
        intent_probs = intent_logits.float().softmax(-1).cpu()
        tag_probs = tag_logits.float().softmax(-1).cpu()
        for row, index in enumerate(spoken):
            words = utterances[index]
            positions = batch.first_tokens[row]
            word_probs, word_tags = tag_probs[row, positions].max(-1)
            tags = [self.tags[tag] for tag in word_tags.tolist()]
            words = words[: len(positions)]  # words beyond the model's token limit stay untagged
            spans = spans_from_tags(words, tags, word_probs.tolist())
            intent_prob, intent = intent_probs[row].max(-1)
            confidence = float(intent_prob) * min((span.confidence for span in spans), default=1.0)
            frames[index] = Frame(
                self.intents[int(intent)], confidence, frame_slots(words, spans, self.vocabulary)
            )
        return frames

    def _autocast(self):
        if self._autocast_dtype is None:
            return torch.autocast(self.device, enabled=False)
        return torch.autocast(self.device, dtype=self._autocast_dtype)


class ParserStore(VersionStore):
    """Parser versions under ``DATA_DIR/parser`` and which one is active."""

    def load(self, version: str, device: str = "cpu") -> Parser:
        return Parser.load(self.folder(version), device, version)


class LiveParser(LiveVersion[Parser]):
    """The active parser, reloaded when another process activates a version."""

    def __init__(self, store: ParserStore, device: str = "cpu") -> None:
        super().__init__(store, lambda version: store.load(version, device))
