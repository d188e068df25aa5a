"""A SetFit-style student: the encoder fine-tuned contrastively on pairs of pseudo-labeled rows,
then a logistic head on its embeddings.

SetFit (Tunstall et al. 2022, "Efficient Few-Shot Learning Without Prompts") trains a sentence
encoder on pairs drawn from labeled rows, pulling rows of one label together and pushing rows of
different labels apart, and fits a logistic regression on the tuned embeddings. Here the labels
are the teacher's pseudo-labels. Unlike :class:`~zslabel.student.finetune.FineTuner`, no head
is trained with the encoder: the encoder learns which rows belong together, and the head is an
ordinary :class:`LogisticHead` fitted afterwards, as for the default student.

Where it departs from SetFit's defaults: ``epochs`` passes of pairs (2 by default; SetFit's older
trainer drew 20 passes, ``num_iterations``, for few-shot sets, and SetFit 1.x samples all
unique pairs), here over thousands of pseudo-labeled rows; no learning-rate warmup (SetFit: 10 %
of the steps); the head is :class:`LogisticHead` with the student's ``c`` and class weighting
over unit-length embeddings (SetFit: scikit-learn's ``LogisticRegression()``, C 1, unweighted);
a row's positive partner is another row of its label, never itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zslabel.encoder import pick_device
from zslabel.errors import InputError
from zslabel.labelmodel import NotFittedError
from zslabel.student.finetune import (
    EncoderTuner,
    adamw_linear_decay,
    load_trainable,
    pool_hidden,
    save_tuned,
)
from zslabel.student.head import LogisticHead


def sentence_pairs(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SetFit's pair generation, one pass: for every row, one partner of its label and one of
    another label, drawn uniformly (in random order; O(n log n), vectorised).

    Parameters
    ----------
    labels : (n,) int class indices.

    Returns
    -------
    (m, 3) int array of (row, partner, same) with ``same`` 1 for a pair of one label, else 0;
    a row whose label has no other row gets no positive pair, and none gets a negative pair when
    every row has one label.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    order = np.argsort(labels, kind="stable")  # rows grouped by label
    values, start, size = np.unique(labels[order], return_index=True, return_counts=True)
    group = np.searchsorted(values, labels)  # each row's label block in ``order``
    first, members = start[group], size[group]
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n) - np.repeat(start, size)  # each row's place in its block
    rows = np.arange(n)
    # A partner of the row's label: one of the block's other members.
    has_partner = members > 1
    pick = rng.integers(0, np.maximum(members - 1, 1))
    pick = pick + (pick >= position)
    partner = order[np.minimum(first + pick, n - 1)]  # clipped: rows without one are dropped
    positives = np.stack([rows, partner, np.ones(n, np.int64)], axis=1)[has_partner]
    # A partner of another label: one of the rows outside the block, skipping over it.
    has_other = members < n
    pick = rng.integers(0, np.maximum(n - members, 1))
    pick = np.where(pick >= first, pick + members, pick)
    negatives = np.stack([rows, order[np.minimum(pick, n - 1)], np.zeros(n, np.int64)], axis=1)
    pairs = np.concatenate([positives, negatives[has_other]]).reshape(-1, 3)
    result: np.ndarray = pairs[rng.permutation(len(pairs))]
    return result


class ContrastiveTuner(EncoderTuner):
    """Fine-tune ``encoder``'s model on pairs of (text, label) rows, then fit a logistic head.

    The loss is SetFit's default, the cosine-similarity loss: the mean squared difference between
    a pair's cosine similarity and 1 (one label) or 0 (two labels).

    Parameters
    ----------
    encoder : the frozen base encoder (its model, pooling and max_length are kept).
    n_classes, c, class_weight, class_prior : as for :class:`LogisticHead` (the head fitted on
        the tuned embeddings).
    epochs : passes of :func:`sentence_pairs` (fresh pairs each; SetFit's ``num_iterations``).
    learning_rate, batch_size : AdamW with a linear decay to zero; ``batch_size`` pairs a step.
    device : ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    seed : seeds torch and the pairs.

    Attributes
    ----------
    encoder_ : a :class:`TextEncoder` over the tuned weights (saved in ``folder``).
    head_ : the :class:`LogisticHead` fitted on the tuned embeddings of the training rows.
    losses_ : mean training loss per epoch.
    """

    def fit(self, texts: Sequence[str], labels: np.ndarray, folder: Path) -> ContrastiveTuner:
        """Tune on ``texts`` and save the encoder to ``folder``.

        Raises
        ------
        InputError : the rows have fewer than 2 labels.
        ModelError : the base model cannot be loaded.
        """
        import torch

        labels = np.asarray(labels, dtype=np.int64)
        if len(np.unique(labels)) < 2:  # before any training: the head needs two classes
            raise InputError(
                f"a student needs training rows of at least 2 classes, got {len(np.unique(labels))}"
            )
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        device = pick_device(self.device, torch)
        tokenizer, network = load_trainable(self.encoder, torch, device)
        ids = tokenizer(list(texts), truncation=True, max_length=self.encoder.max_length)[
            "input_ids"
        ]
        epochs = [sentence_pairs(labels, rng) for _ in range(self.epochs)]
        self.losses_: list[float] = []
        self._train(torch, device, tokenizer, network, ids, epochs)
        self.encoder_ = save_tuned(network, tokenizer, folder, self.encoder, self.device)
        head = LogisticHead(
            self.n_classes, c=self.c, class_weight=self.class_weight, class_prior=self.class_prior
        )
        self.head_ = head.fit(self.encoder_.encode(texts), labels)
        return self

    def _train(
        self,
        torch: Any,
        device: str,
        tokenizer: Any,
        network: Any,
        ids: list[list[int]],
        epochs: list[np.ndarray],
    ) -> None:
        parameters = list(network.parameters())
        steps = max(1, sum(-(-len(pairs) // self.batch_size) for pairs in epochs))
        optimizer, schedule = adamw_linear_decay(parameters, self.learning_rate, steps, torch)
        network.train()
        for pairs in epochs:
            total = 0.0
            for start in range(0, len(pairs), self.batch_size):
                batch_pairs = pairs[start : start + self.batch_size]
                rows = [*batch_pairs[:, 0].tolist(), *batch_pairs[:, 1].tolist()]
                batch = tokenizer.pad(
                    {"input_ids": [ids[i] for i in rows]}, return_tensors="pt"
                ).to(device)
                hidden = network(**batch).last_hidden_state
                pooled = pool_hidden(hidden, batch["attention_mask"], self.encoder.pooling, torch)
                left, right = torch.nn.functional.normalize(pooled, dim=-1).chunk(2)
                target = torch.as_tensor(batch_pairs[:, 2], dtype=torch.float32).to(device)
                loss = torch.nn.functional.mse_loss((left * right).sum(dim=-1), target)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(parameters, 1.0)
                optimizer.step()
                schedule.step()
                total += float(loss.detach()) * len(batch_pairs)
            self.losses_.append(round(total / max(1, len(pairs)), 4))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, k) probabilities of the head over the tuned embeddings of ``texts``."""
        if not hasattr(self, "head_"):
            raise NotFittedError("this ContrastiveTuner is not fitted yet; call fit first")
        return self.head_.predict_proba(self.encoder_.encode(texts))
