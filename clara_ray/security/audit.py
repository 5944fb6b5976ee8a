"""Audit log writer and reader over the `audit_log` table (clara_ray.db.tables.AuditEvent)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select

from clara_ray.db.lazy import LazyDatabase
from clara_ray.db.tables import AuditEvent

log = logging.getLogger("clara.security.audit")


def result_of(status: int) -> str:
    if status in (401, 403):
        return "denied"
    if status == 429:
        return "rate_limited"
    return "success" if status < 400 else "failed"


class AuditLog:
    """Opens (and migrates) the database on first use; a failing write is logged, never raised to the request."""

    def __init__(self, database_url: str):
        self.url = database_url
        self._db = LazyDatabase(database_url)

    def _database(self):
        return self._db.get()

    def write(self, *, actor: str, action: str, resource: str | None, result: str, detail: dict,
              ip: str | None) -> None:
        try:
            with self._database().session() as s:
                s.add(AuditEvent(actor=actor[:128], action=action[:64], resource=resource, result=result[:16],
                                 detail=detail, ip=(ip or "")[:64] or None))
        except Exception:  # noqa: BLE001
            log.exception("audit write failed: %s %s by %s", action, resource, actor)

    def query(self, *, actor: str | None = None, action: str | None = None, result: str | None = None,
              since: datetime | None = None, until: datetime | None = None, offset: int = 0,
              limit: int = 50) -> dict:
        conds = []
        if actor:
            conds.append(AuditEvent.actor == actor)
        if action:
            conds.append(AuditEvent.action == action)
        if result:
            conds.append(AuditEvent.result == result)
        if since:
            conds.append(AuditEvent.at >= since)
        if until:
            conds.append(AuditEvent.at < until)
        with self._database().session() as s:
            total = s.scalar(select(func.count()).select_from(AuditEvent).where(*conds))
            rows = s.scalars(select(AuditEvent).where(*conds).order_by(AuditEvent.id.desc())
                             .offset(offset).limit(limit)).all()
            items = [{"id": r.id, "at": r.at.isoformat(), "actor": r.actor, "action": r.action,
                      "resource": r.resource, "result": r.result, "detail": r.detail, "ip": r.ip} for r in rows]
        return {"items": items, "total": total, "offset": offset, "limit": limit}

    def dispose(self) -> None:
        self._db.dispose()
