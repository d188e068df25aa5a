"""Run by tests/test_argilla_sdk.py in the side environment that has the ``argilla`` SDK.

``python argilla_sdk_check.py REVIEW_FILE LABELS_JSON EXPORT_FILE``: builds the dataset settings
the README gives for zslabel's Argilla file (a ``TextField("text")``, a ``LabelQuestion("label")``
and the ``zs_*`` metadata, ``zs_priority`` a float), turns every line of REVIEW_FILE into the
SDK's ``Record`` with ``Record.from_dict`` and into the server's record model with
``api_model()``, checks what a server would refuse (names outside the settings, a suggestion
that is no label, a score outside 0-1), and writes EXPORT_FILE as ``dataset.records.to_json``
would once people answered: the first five records with a submitted response, the sixth with a
draft. Prints a JSON summary; exits non-zero on the first problem.

No server is contacted: the client's HTTP calls go to a stub that only answers who is logged in
(the SDK asks on connecting), and any other call fails the check.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import argilla as rg  # type: ignore[import-not-found]
import httpx
from argilla.records._io import JsonIO  # type: ignore[import-not-found]


def offline_client() -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/me":
            return httpx.Response(
                200, json={"id": str(uuid.uuid4()), "username": "zslabel", "role": "owner"}
            )
        raise AssertionError(f"the check called the server: {request.method} {request.url}")

    return rg.Argilla(
        api_url="http://127.0.0.1:9",
        api_key="offline",
        mounts={"all://": httpx.MockTransport(answer)},
    )


def main(review_file: str, labels_json: str, export_file: str) -> int:
    labels = json.loads(labels_json)
    client = offline_client()
    settings = rg.Settings(
        fields=[rg.TextField("text", client=client)],
        questions=[rg.LabelQuestion("label", labels=labels, client=client)],
        metadata=[
            rg.TermsMetadataProperty("zs_key", client=client),
            rg.IntegerMetadataProperty("zs_row", client=client),
            rg.TermsMetadataProperty("zs_status", client=client),
            rg.TermsMetadataProperty("zs_reason", client=client),
            rg.FloatMetadataProperty("zs_priority", client=client),
        ],
    )
    settings.validate()
    dataset = rg.Dataset(name="zslabel-review", settings=settings, client=client)
    fields = {f.name for f in settings.fields}
    metadata = {m.name for m in settings.metadata}
    question = settings.questions["label"]
    exported = []
    with open(review_file, encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle if line.strip()]
    for n, line in enumerate(lines, start=1):
        where = f"{review_file}: line {n}"
        record = rg.Record.from_dict(line, dataset=dataset)
        model = record.api_model()  # the server's record model (pydantic), suggestions included
        problems = []
        if set(model.fields) != fields:
            problems.append(f"fields {sorted(model.fields)} are not {sorted(fields)}")
        if not set(line["metadata"]) <= metadata:
            problems.append(f"metadata {sorted(set(line['metadata']) - metadata)} not in settings")
        for suggestion in model.suggestions:
            if suggestion.value not in question.labels:
                problems.append(f"suggestion {suggestion.value!r} is no label of {labels}")
            score = suggestion.score
            if score is not None and not 0 <= score <= 1:
                problems.append(f"suggestion score {score} outside 0-1")
        if str(model.external_id) != line["id"]:
            problems.append(f"id {line['id']!r} came back as {model.external_id!r}")
        # The SDK writes back what it read (to_dict adds the status and server id).
        again = {k: v for k, v in record.to_dict().items() if k not in ("status", "_server_id")}
        if again != line:
            problems.append(f"to_dict gives {again!r}, not {line!r}")
        if problems:
            print(f"{where}: " + "; ".join(problems), file=sys.stderr)
            return 1
        # Annotators' answers: five submitted (another label than the suggestion), then a
        # draft, then none. A server marks a record completed once it has a submitted response
        # (min_submitted 1, the default); offline, the record's model is set as it would.
        if n <= 6:
            suggested = line["suggestions"].get("label", {}).get("value")
            answer = next(label for label in reversed(labels) if label != suggested)
            status = "submitted" if n <= 5 else "draft"
            record.responses.add(rg.Response("label", answer, user_id=uuid.uuid4(), status=status))
            if status == "submitted":
                record._model.status = "completed"
        exported.append(record)
    # What dataset.records.to_json(path) writes: a JSON list of Record.to_dict().
    JsonIO.to_json(exported, export_file)
    print(json.dumps({"argilla": rg.__version__, "records": len(lines), "validated": len(lines)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
