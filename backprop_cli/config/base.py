"""What every config model shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys refused; values of exactly the declared type (no `epochs: yes` for 1, no
    `units: "3"`; an int is still a float); every float finite (no .inf or .nan)."""

    model_config = ConfigDict(
        extra="forbid", validate_default=True, strict=True, allow_inf_nan=False
    )


# ------------------------------------------------------------------- data
