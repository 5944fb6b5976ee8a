"""Router settings changed at run time, kept in the database (table control_settings, key "router") with a revision."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from clara_ray.serving.settings import RouterSettings
from clara_ray.db.engine import Database
from clara_ray.db.tables import ControlSetting, utcnow
from clara_ray.serving.revisions import RouterRevision

ROUTER_KEY = "router"


class RouterSettingsStore:
    """The one stored copy every API replica starts from; `POST /api/serving/router/configure` writes it."""

    def __init__(self, db: Database):
        self.db = db

    def load(self) -> RouterRevision | None:
        """The stored settings, or None when nobody changed them (the configuration file's apply)."""
        with self.db.session() as s:
            row = s.get(ControlSetting, ROUTER_KEY)
            if row is None:
                return None
            return RouterRevision(revision=row.revision, settings=RouterSettings.model_validate(row.value))

    def save(self, settings: RouterSettings, updated_by: str | None = None) -> RouterRevision:
        """Store `settings` as the next revision (the first is 1)."""
        value = settings.model_dump(mode="json")
        for _ in range(5):
            try:
                with self.db.session() as s:
                    row = s.get(ControlSetting, ROUTER_KEY, with_for_update=True)
                    if row is None:
                        row = ControlSetting(key=ROUTER_KEY, value=value, revision=1, updated_by=updated_by,
                                             updated_at=utcnow())
                        s.add(row)
                    else:
                        row.value, row.revision, row.updated_by = value, row.revision + 1, updated_by
                    revision = row.revision
                return RouterRevision(revision=revision, settings=settings)
            except IntegrityError:  # two first saves at once: the loser updates the winner's row
                continue
        raise RuntimeError("could not store the router settings")
