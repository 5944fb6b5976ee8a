"""Per-alias recipes: the hyperparameters an alias's later jobs and learning cycles start from (table alias_recipes).

A recipe has two parts, because an alias is trained two ways: `initial` for LORA/QLORA jobs (a new adapter) and
`continuous` for CONTINUOUS jobs (a learning cycle's step on top of the active version). A sweep's winner is saved
into the part its job type trains; an operator can also set either part through the API.
Precedence when a job is planned (training/spec.py resolve_plan): the job's own fields, then the alias's recipe,
then the configuration, then the base model's defaults (training/recipe.py).
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import select

from clara_ray.db.engine import Database
from clara_ray.db.tables import AliasRecipeRow, utcnow


class RecipeValues(BaseModel):
    """Recipe fields; None = not part of the recipe (the next source decides)."""

    model_config = {"extra": "forbid"}
    learning_rate: float | None = Field(None, gt=0, le=1)
    """Peak learning rate."""
    r: int | None = Field(None, gt=0, le=512)
    """LoRA rank (initial jobs only: a CONTINUOUS job keeps its parent's)."""
    alpha: int | None = Field(None, gt=0)
    """LoRA alpha (initial jobs only)."""
    dropout: float | None = Field(None, ge=0, lt=1)
    """LoRA dropout."""
    epochs: int | None = Field(None, ge=1, le=1000)
    """Passes over the data."""
    max_steps: int | None = Field(None, ge=1)
    """Optimizer-step cap."""
    target_modules: list[str] | None = Field(None, min_length=1)
    """Modules to adapt (initial jobs only)."""

    def is_empty(self) -> bool:
        return not self.model_dump(exclude_none=True)


class AliasRecipe(BaseModel):
    model_config = {"extra": "forbid"}
    initial: RecipeValues = RecipeValues()
    """For LORA/QLORA jobs of the alias."""
    continuous: RecipeValues = RecipeValues()
    """For CONTINUOUS jobs of the alias (its learning cycles)."""


class StoredRecipe(BaseModel):
    alias: str
    recipe: AliasRecipe
    source: str
    """Where it came from: "sweep <job id>" or "api"."""
    updated_by: str | None = None
    updated_at: str | None = None


class AliasRecipes:
    def __init__(self, db: Database):
        self.db = db

    def get(self, alias: str) -> StoredRecipe | None:
        with self.db.session() as s:
            row = s.get(AliasRecipeRow, alias)
            return None if row is None else _view(row)

    def all(self) -> list[StoredRecipe]:
        """Every alias's recipe, by alias."""
        with self.db.session() as s:
            return [_view(row) for row in s.scalars(select(AliasRecipeRow).order_by(AliasRecipeRow.alias))]

    def values_for(self, alias: str, continuous: bool) -> RecipeValues | None:
        """The part of the alias's recipe a job of this kind uses (None when the alias has none)."""
        stored = self.get(alias)
        if stored is None:
            return None
        part = stored.recipe.continuous if continuous else stored.recipe.initial
        return None if part.is_empty() else part

    def save(self, alias: str, recipe: AliasRecipe, source: str, updated_by: str | None = None) -> StoredRecipe:
        with self.db.session() as s:
            row = s.get(AliasRecipeRow, alias)
            value = recipe.model_dump(mode="json")
            if row is None:
                row = AliasRecipeRow(alias=alias, recipe=value, source=source, updated_by=updated_by,
                                     updated_at=utcnow())
                s.add(row)
            else:
                row.recipe, row.source, row.updated_by, row.updated_at = value, source, updated_by, utcnow()
            s.flush()
            return _view(row)

    def save_part(self, alias: str, values: RecipeValues, *, continuous: bool, source: str,
                  updated_by: str | None = None) -> StoredRecipe:
        """Replace one part (initial or continuous), keeping the other."""
        current = (self.get(alias) or StoredRecipe(alias=alias, recipe=AliasRecipe(), source=source)).recipe
        recipe = current.model_copy(update={"continuous" if continuous else "initial": values})
        return self.save(alias, recipe, source, updated_by)

    def delete(self, alias: str) -> bool:
        with self.db.session() as s:
            row = s.get(AliasRecipeRow, alias)
            if row is None:
                return False
            s.delete(row)
            return True


def _view(row: AliasRecipeRow) -> StoredRecipe:
    return StoredRecipe(alias=row.alias, recipe=AliasRecipe.model_validate(row.recipe), source=row.source,
                        updated_by=row.updated_by, updated_at=row.updated_at.isoformat() if row.updated_at else None)
