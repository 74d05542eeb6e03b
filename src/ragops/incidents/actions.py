"""Postmortem action items: stored with owner and due date, listed, completed.

Adding one is a timeline event of its incident.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from ragops.db import Database
from ragops.errors import NotFoundError
from ragops.incidents import clock
from ragops.incidents.models import ActionItem, ActionItemRead
from ragops.incidents.service import add_event, locked


async def add_action_item(
    *,
    db: Database,
    incident_id: int,
    description: str,
    owner: str,
    due: date | None,
    actor: str,
    now: datetime | None = None,
) -> ActionItemRead:
    """Store an action item of the incident's postmortem."""
    now = now or clock.now()
    async with db.session() as session:
        incident = await locked(session, incident_id)
        item = ActionItem(
            incident_id=incident_id,
            description=description,
            owner=owner,
            due=due,
            done=False,
            created_at=now,
        )
        session.add(item)
        await add_event(
            session,
            incident,
            kind="action_item",
            actor=actor,
            at=now,
            message=f"action item for {owner}: {description}",
        )
        await session.commit()
        return ActionItemRead.model_validate(item)


async def list_action_items(
    *, db: Database, open_only: bool = True, incident_id: int | None = None
) -> list[ActionItemRead]:
    """Action items, by due date (undated last)."""
    query = select(ActionItem).order_by(ActionItem.due.is_(None), ActionItem.due, ActionItem.id)
    if open_only:
        query = query.where(ActionItem.done.is_(False))
    if incident_id is not None:
        query = query.where(ActionItem.incident_id == incident_id)
    async with db.session() as session:
        return [ActionItemRead.model_validate(i) for i in await session.scalars(query)]


async def complete_action_item(*, db: Database, item_id: int) -> ActionItemRead:
    """Mark an action item done."""
    async with db.session() as session:
        item = await session.get(ActionItem, item_id)
        if item is None:
            raise NotFoundError(f"no action item {item_id}")
        item.done = True
        await session.commit()
        return ActionItemRead.model_validate(item)
