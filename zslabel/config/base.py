"""What every job-file section is built on: a frozen model that rejects unknown keys, and the
fraction type that several sections share.

A typo in a job file (``min_confidance``) fails loudly instead of being ignored, and a loaded job
cannot change under the code that reads it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
