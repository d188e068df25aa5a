"""A small, generated customer-support dataset and the job that labels it.

The texts are composed from hand-written phrase lists with a seeded generator: no copied data,
and the same seed always gives the same file. The ``topic`` column is gold for evaluation only;
the job never reads it.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

DEMO_LABELS: dict[str, list[str]] = {
    "billing": ["a charge, an invoice, a refund or a payment"],
    "shipping": ["a delivery, a late or lost parcel"],
    "account": ["logging in, a password or account settings"],
    "defect": ["a broken or faulty product"],
    "cancellation": ["cancelling a subscription or an order"],
}

_PROBLEMS: dict[str, list[str]] = {
    "billing": [
        "I was charged twice for my last order",
        "my invoice shows the wrong amount",
        "I still have not received the refund you promised",
        "my credit card was billed after I paid by bank transfer",
        "there is a fee on my statement I do not recognise",
        "the discount code was not applied to my payment",
        "you charged me the full price instead of the sale price",
        "I need a copy of the invoice for my accountant",
    ],
    "shipping": [
        "my parcel has not arrived after two weeks",
        "the tracking number says delivered but nothing came",
        "the courier left my package at the wrong address",
        "the delivery date keeps getting pushed back",
        "my order is stuck in customs",
        "only half of my order was in the box that arrived",
        "the driver never showed up for the delivery slot",
        "can you ship to a different address than the one on file",
    ],
    "account": [
        "I cannot log in to my account",
        "the password reset email never arrives",
        "my account was locked after too many attempts",
        "I want to change the email address on my profile",
        "two-factor authentication codes are not working",
        "someone else seems to have signed in to my account",
        "I forgot my username",
        "the app logs me out every few minutes",
    ],
    "defect": [
        "the blender stopped working after a week",
        "the screen of the tablet has a dead pixel line",
        "the zipper on the jacket broke the first time I used it",
        "the headphones only play sound on one side",
        "the charger gets very hot and smells of burning",
        "the kettle leaks water from the bottom",
        "one leg of the chair arrived cracked",
        "the printer jams on every page",
    ],
    "cancellation": [
        "please cancel my subscription",
        "I want to cancel the order I placed this morning",
        "how do I stop the automatic renewal",
        "I would like to end my membership at the end of the month",
        "cancel my plan, I no longer need it",
        "I changed my mind, please do not send the order",
        "close my subscription and stop all future payments",
        "I signed up by mistake and want to cancel",
    ],
}

_OPENERS = ["Hi,", "Hello,", "Hi team,", "Good morning,", "", "Hey,", "Dear support,"]
_CLOSERS = [
    "Thanks.",
    "Please help.",
    "Can you sort this out?",
    "This is the second time I am writing.",
    "",
    "Order number is in my account.",
    "Kind regards.",
]


def generate_tickets(rows: int = 400, seed: int = 0) -> pa.Table:
    """Support tickets with a ``ticket_id``, ``text`` and a gold ``topic``; a few are blank."""
    rng = random.Random(seed)
    topics = list(_PROBLEMS)
    ids, texts, gold = [], [], []
    for i in range(rows):
        topic = topics[i % len(topics)]
        parts = [rng.choice(_OPENERS), rng.choice(_PROBLEMS[topic]) + ".", rng.choice(_CLOSERS)]
        text: str | None = " ".join(p for p in parts if p).strip()
        if i % 97 == 13:
            text = None if i % 2 else "   "  # real exports have blank tickets; they end up invalid
        ids.append(f"T{10000 + i}")
        texts.append(text)
        gold.append(topic)
    order = list(range(rows))
    rng.shuffle(order)
    return pa.table(
        {
            "ticket_id": [ids[i] for i in order],
            "text": pa.array([texts[i] for i in order], pa.string()),
            "topic": [gold[i] for i in order],
        }
    )


def demo_job(data_file: str, output_dir: str) -> dict[str, Any]:
    return {
        "input": {"path": data_file, "text_column": "text", "id_column": "ticket_id"},
        "labels": DEMO_LABELS,
        "sources": [{"kind": "embedding", "model": "default"}],
        "selection": {"min_confidence": 0.0, "per_class_top_fraction": 0.6},
        "output": {"dir": output_dir, "format": "parquet", "seed": 0},
    }


def write_demo(folder: str | Path, rows: int = 400, seed: int = 0) -> Path:
    """Write ``tickets.parquet`` and ``job.yaml`` into ``folder``; return the job file's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(generate_tickets(rows, seed), folder / "tickets.parquet", compression="zstd")
    job_path = folder / "job.yaml"
    job_path.write_text(
        "# A zslabel job: label support tickets by topic.\n"
        "# The `topic` column is gold for `zslabel eval` only: labeling never reads it.\n"
        + yaml.safe_dump(demo_job("tickets.parquet", "out"), sort_keys=False),
        encoding="utf-8",
    )
    return job_path
