"""Alias recipe routes: read, set (by hand or from a finished sweep's winner) and remove an alias's training recipe."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, model_validator

from clara_ray.adapters.registry import InvalidReference, RegistryConflict, UnknownAdapter
from clara_ray.api.auth import Principal, require
from clara_ray.api.backends import backend
from clara_ray.training.alias_recipes import AliasRecipe, AliasRecipes, RecipeValues, StoredRecipe
from clara_ray.training.spec import JobStatus, TrainerType, check_adapter_name

router = APIRouter(prefix="/api/training/recipes", tags=["training"])
AliasPath = Annotated[str, Path(max_length=64, description="The adapter alias")]


class RecipeBody(BaseModel):
    """Either `from_job` (a COMPLETED sweep job: its winning configuration, into the part its job kind trains) or
    one or both parts given explicitly (each replaces that part)."""

    model_config = {"extra": "forbid"}
    from_job: str | None = None
    """A finished sweep's job id."""
    initial: RecipeValues | None = None
    """The recipe of LORA/QLORA jobs of the alias."""
    continuous: RecipeValues | None = None
    """The recipe of CONTINUOUS jobs of the alias (its learning cycles)."""

    @model_validator(mode="after")
    def _one_source(self) -> "RecipeBody":
        if bool(self.from_job) == (self.initial is not None or self.continuous is not None):
            raise ValueError("give either from_job or initial/continuous")
        return self


def _alias(alias: str) -> str:
    try:
        return check_adapter_name(alias)
    except ValueError as e:  # InvalidName too
        raise InvalidReference(f"alias: {e}") from None


def _recipes(request: Request) -> AliasRecipes:
    return backend(request, "recipes")


@router.get("")
async def list_recipes(request: Request, who: Annotated[Principal, require("training:read")]) -> dict:
    """Every alias that has a recipe of its own (the others' jobs use the configuration's values)."""
    return {"items": await asyncio.to_thread(_recipes(request).all)}


@router.get("/{alias}")
async def get_recipe(alias: AliasPath, request: Request,
                     who: Annotated[Principal, require("training:read")]) -> StoredRecipe:
    """The alias's recipe (404 when it has none: its jobs use the configuration's values)."""
    stored = await asyncio.to_thread(_recipes(request).get, _alias(alias))
    if stored is None:
        raise UnknownAdapter(f"alias {alias} has no recipe")
    return stored


@router.put("/{alias}")
async def set_recipe(alias: AliasPath, body: RecipeBody, request: Request,
                     who: Annotated[Principal, require("training:create")]) -> StoredRecipe:
    """Set the alias's recipe; later jobs of the alias and its learning cycles start from it."""
    name, recipes = _alias(alias), _recipes(request)
    if body.from_job:
        job = await backend(request, "jobs").get(body.from_job)
        sweep = (job.get("metrics") or {}).get("sweep")
        if job["status"] != JobStatus.COMPLETED.value or not sweep:
            raise RegistryConflict(f"from_job: job {body.from_job} is not a completed sweep")
        if job["name"] != name:
            raise RegistryConflict(f"from_job: job {body.from_job} trained {job['name']}, not {name}")
        continuous = job["trainer_type"] == TrainerType.CONTINUOUS.value
        return await asyncio.to_thread(recipes.save_part, name, RecipeValues.model_validate(sweep["config"]),
                                       continuous=continuous, source=f"sweep {body.from_job}", updated_by=who.subject)
    current = await asyncio.to_thread(recipes.get, name)
    recipe = current.recipe if current else AliasRecipe()
    recipe = recipe.model_copy(update={k: v for k, v in (("initial", body.initial), ("continuous", body.continuous))
                                       if v is not None})
    return await asyncio.to_thread(recipes.save, name, recipe, "api", who.subject)


@router.delete("/{alias}")
async def delete_recipe(alias: AliasPath, request: Request,
                        who: Annotated[Principal, require("training:create")]) -> dict:
    """Remove the alias's recipe (its jobs use the configuration's values again)."""
    if not await asyncio.to_thread(_recipes(request).delete, _alias(alias)):
        raise UnknownAdapter(f"alias {alias} has no recipe")
    return {"alias": alias, "deleted": True}
