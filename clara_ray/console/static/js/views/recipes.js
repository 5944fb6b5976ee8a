// Alias recipes (GET/PUT/DELETE /api/training/recipes/{alias}): show an alias's recipe, remove it, save a sweep's winner.
import { useState } from '../../vendor/preact-htm.mjs';
import { api } from '../api.js';
import { can, fmtDate, html, Status, useAction } from '../ui.js';

const recipePath = (alias) => `/api/training/recipes/${encodeURIComponent(alias)}`;

// "learning_rate=0.004, r=16" of a RecipeValues part or a trial's configuration (unset fields are not part of it).
// Values as given, not rounded: they are what a user would type into a job's fields.
export const valuesText = (part) => Object.entries(part || {}).filter(([, v]) => v !== null && v !== undefined)
  .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`).join(', ');

// PUT {from_job}: the finished sweep's winning configuration into the part its job kind trains.
export async function saveSweepRecipe(job) {
  const stored = await api(recipePath(job.name), { method: 'PUT', body: { from_job: job.job_id } });
  const part = job.trainer_type === 'CONTINUOUS' ? 'continuous' : 'initial';
  return `Recipe of ${stored.alias} saved (${part}: ${valuesText(stored.recipe[part])})`;
}

// Loaded on demand: the API has no list of recipes, and asking for an alias without one is a 404 the browser logs.
export function AliasRecipe({ alias, me }) {
  const [open, setOpen] = useState(false);
  const [recipe, setRecipe] = useState(undefined);  // undefined: not loaded yet; null: the alias has none
  const [run, state] = useAction();
  const load = () => run(() => api(recipePath(alias)).then(setRecipe, (e) => {
    if (e.status !== 404) throw e;
    setRecipe(null);
  }));
  const toggle = () => { if (!open && recipe === undefined) load(); setOpen(!open); };
  const remove = () => run(() => api(recipePath(alias), { method: 'DELETE' }).then(() => setRecipe(null)),
                           `Recipe of ${alias} removed`);
  const parts = recipe ? [['initial', 'LORA/QLORA jobs'], ['continuous', 'CONTINUOUS jobs (learning cycles)']] : [];
  return html`
    <div class="recipe" data-testid="recipe-${alias}">
      <button data-testid="recipe-toggle-${alias}" onClick=${toggle}>${open ? 'Hide recipe' : 'Recipe'}</button>
      ${open && recipe === null && html` <span class="muted" data-testid="recipe-none-${alias}">No recipe: jobs of
        ${alias} use the configuration's values.</span>`}
      ${open && recipe && html`<div class="kv" data-testid="recipe-values-${alias}">
        ${parts.map(([part, label]) => html`<span class="muted">${part} (${label})</span>
          <span data-part=${part}>${valuesText(recipe.recipe[part]) || '–'}</span>`)}
        <span class="muted">source</span>
        <span>${[recipe.source, recipe.updated_by, fmtDate(recipe.updated_at)].filter(Boolean).join(' · ')}</span>
      </div>
      ${can(me, 'training:create') && html`<button class="danger" disabled=${state.busy}
        data-testid="recipe-remove-${alias}" onClick=${remove}>Remove recipe</button>`}`}
      <${Status} state=${state} />
    </div>`;
}
