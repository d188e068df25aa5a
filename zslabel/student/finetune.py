"""Full fine-tuning of a small transformer encoder with a linear head, for users with compute.

The head is warm-started from a logistic regression on the frozen embeddings (the default
student), so fine-tuning starts from a good classifier and only has to adapt the encoder: no
random head whose early gradients would wreck the pretrained weights, and one learning rate.
The result is an ordinary transformers folder plus a :class:`LogisticHead`, predicted through
the same :class:`~zslabel.encoder.TextEncoder` as every other embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zslabel.encoder import TextEncoder, pick_device
from zslabel.errors import ModelError
from zslabel.labelmodel import NotFittedError
from zslabel.models import quiet_loading, resolve_model
from zslabel.student.head import ClassWeight, LogisticHead, class_weights


class EncoderTuner:
    """The settings every student that trains its encoder takes (see the subclasses)."""

    def __init__(
        self,
        encoder: TextEncoder,
        n_classes: int,
        *,
        c: float = 1.0,
        class_weight: ClassWeight = "balanced",
        class_prior: np.ndarray | None = None,
        epochs: int = 2,
        learning_rate: float = 2e-5,
        batch_size: int = 16,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        self.encoder = encoder
        self.n_classes = n_classes
        self.c = c
        self.class_weight = class_weight
        self.class_prior = class_prior
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.device = device
        self.seed = seed


class FineTuner(EncoderTuner):
    """Fine-tune ``encoder``'s model end to end on (text, label) pairs.

    Parameters
    ----------
    encoder : the frozen base encoder (its model, pooling and max_length are kept).
    n_classes, c, class_weight, class_prior : as for :class:`LogisticHead` (the warm start,
        and the weights of the cross-entropy).
    epochs, learning_rate, batch_size : AdamW with a linear decay to zero.
    device : ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    seed : seeds torch and the batch order.

    Attributes
    ----------
    encoder_ : a :class:`TextEncoder` over the fine-tuned weights (saved in ``folder``).
    head_ : the fine-tuned :class:`LogisticHead`.
    losses_ : mean training loss per epoch.
    """

    def fit(
        self,
        texts: Sequence[str],
        labels: np.ndarray,
        folder: Path,
        features: np.ndarray | None = None,
    ) -> FineTuner:
        """Fine-tune on ``texts`` and save the encoder to ``folder``; ``features`` are the frozen
        embeddings of ``texts`` when the caller has them (else they are computed)."""
        import torch
        import transformers  # noqa: F401 - a missing install fails before the embeddings are made

        labels = np.asarray(labels, dtype=np.int64)
        frozen = self.encoder.encode(texts) if features is None else features
        warm = LogisticHead(
            self.n_classes, c=self.c, class_weight=self.class_weight, class_prior=self.class_prior
        )
        warm.fit(frozen, labels)
        torch.manual_seed(self.seed)
        device = pick_device(self.device, torch)
        tokenizer, network = load_trainable(self.encoder, torch, device)
        head = _warm_linear(warm, self.n_classes, torch, device)
        ids = tokenizer(list(texts), truncation=True, max_length=self.encoder.max_length)[
            "input_ids"
        ]
        self.losses_: list[float] = []
        self._train(torch, device, tokenizer, network, head, ids, labels)
        self.encoder_ = save_tuned(network, tokenizer, folder, self.encoder, self.device)
        tuned = LogisticHead(self.n_classes)
        tuned.coef_ = head.weight.detach().cpu().double().numpy()
        tuned.intercept_ = head.bias.detach().cpu().double().numpy()
        tuned.classes_seen_ = warm.classes_seen_
        self.head_ = tuned
        return self

    def _train(
        self,
        torch: Any,
        device: str,
        tokenizer: Any,
        network: Any,
        head: Any,
        ids: list[list[int]],
        labels: np.ndarray,
    ) -> None:
        """The epochs of AdamW over encoder and head; each epoch's mean loss goes to ``losses_``."""
        loss_fn = torch.nn.CrossEntropyLoss(
            weight=torch.as_tensor(
                class_weights(labels, self.n_classes, self.class_weight, self.class_prior),
                dtype=torch.float32,
            ).to(device)
        )
        parameters = [*network.parameters(), *head.parameters()]
        steps = self.epochs * -(-len(ids) // self.batch_size)
        optimizer, schedule = adamw_linear_decay(parameters, self.learning_rate, steps, torch)
        rng = np.random.default_rng(self.seed)
        target = torch.as_tensor(labels).to(device)
        network.train()
        for _ in range(self.epochs):
            order = rng.permutation(len(ids))
            total = 0.0
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = tokenizer.pad(
                    {"input_ids": [ids[i] for i in rows]}, return_tensors="pt"
                ).to(device)
                hidden = network(**batch).last_hidden_state
                pooled = pool_hidden(hidden, batch["attention_mask"], self.encoder.pooling, torch)
                logits = head(torch.nn.functional.normalize(pooled, dim=-1))
                loss = loss_fn(logits, target[torch.as_tensor(rows).to(device)])
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(parameters, 1.0)
                optimizer.step()
                schedule.step()
                total += float(loss.detach()) * len(rows)
            self.losses_.append(round(total / len(ids), 4))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if not hasattr(self, "head_"):
            raise NotFittedError("this FineTuner is not fitted yet; call fit first")
        return self.head_.predict_proba(self.encoder_.encode(texts))


def _warm_linear(warm: LogisticHead, n_classes: int, torch: Any, device: str) -> Any:
    """A torch linear head on ``device`` holding the warm-start logistic regression's weights."""
    head = torch.nn.Linear(warm.coef_.shape[1], n_classes).to(device)
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(warm.coef_, dtype=torch.float32))
        head.bias.copy_(torch.as_tensor(warm.intercept_, dtype=torch.float32))
    return head


@quiet_loading()
def load_trainable(encoder: TextEncoder, torch: Any, device: str) -> tuple[Any, Any]:
    """``encoder``'s tokenizer and network, in fp32 on ``device``, to train.

    Raises
    ------
    ModelError : the model cannot be loaded.
    """
    from transformers import AutoModel, AutoTokenizer

    base = encoder.model
    try:
        tokenizer = AutoTokenizer.from_pretrained(base.path)
        # fp32 master weights whatever the checkpoint stores: fp16 or bf16 updates underflow.
        network = AutoModel.from_pretrained(
            base.path, trust_remote_code=False, dtype=torch.float32
        ).to(device)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load model {base.name!r} to fine-tune: {exc}") from None
    return tokenizer, network


def adamw_linear_decay(
    parameters: list[Any], learning_rate: float, steps: int, torch: Any
) -> tuple[Any, Any]:
    """AdamW (weight decay 0.01) with its learning rate decayed linearly to zero over ``steps``."""
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 - s / steps)
    return optimizer, schedule


def save_tuned(
    network: Any, tokenizer: Any, folder: Path, base: TextEncoder, device: str
) -> TextEncoder:
    """Save a trained ``network`` and its tokenizer to ``folder``; a :class:`TextEncoder` over
    it with ``base``'s pooling and max length."""
    network.eval()
    folder.mkdir(parents=True, exist_ok=True)
    network.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return TextEncoder(
        resolve_model(str(folder)),
        max_length=base.max_length,
        pooling=base.pooling,
        device=device,
    )


def pool_hidden(hidden: Any, mask: Any, pooling: str, torch: Any) -> Any:
    """The same pooling as :class:`TextEncoder`, with gradients."""
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
