"""The base of every configuration section (clara_ray/config.py and each package's settings.py)."""

from __future__ import annotations

from pydantic import BaseModel


class Section(BaseModel):
    """Unknown keys are errors, so typos in YAML are caught at start; assignments are validated too."""

    model_config = {"extra": "forbid", "validate_assignment": True}
