"""SQLite event subscriptions (the `event_subscriptions` table of migration 3): what a restart must not forget.

After a restart the server knows no SUBSCRIBE dialog, so a phone's key would stay dark until its next refresh
(up to half an hour) and its refresh would get 481. Instead every accepted subscription is kept here (saved
when created or refreshed, deleted when it ends) and, at start, each one still alive gets a last NOTIFY
`Subscription-State: terminated;reason=deactivated`, which tells the phone to subscribe again at once
(RFC 6665 §4.2.2); the phone's new SUBSCRIBE then gets the full state. The NOTIFY's CSeq jumps
`CSEQ_MARGIN` past the saved one: CSeq is saved only at subscribe/refresh time, and NOTIFYs sent since then
used numbers in between.

Writes come in batches from the notifier (`save_changes`: upserts and deletes, one transaction). Knows no SIP
beyond the dialog fields it stores.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import aiosqlite

from sipserver.address import Endpoint
from sipserver.dialog import Dialog
from storage.locations import endpoint_from_text, endpoint_to_text

CSEQ_MARGIN: Final = 1_000_000  # more NOTIFYs than one subscription can get between two refreshes


@dataclass(frozen=True, slots=True)
class StoredSubscription:
    dialog: Dialog
    event: str
    watcher: str
    resource: str
    is_list: bool
    destination: Endpoint
    expires_at: float  # wall-clock seconds


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    """Save `stored` (None: delete the subscription whose dialog key is `key`)."""

    key: tuple[str, str]
    stored: StoredSubscription | None


class SqliteSubscriptionStore:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def load(self, wall_now: float) -> list[StoredSubscription]:
        """Every subscription not yet expired at `wall_now`, the dialog's CSeq already moved past the margin."""
        async with self._db.execute(
            "SELECT call_id, local_tag, remote_tag, local_uri, remote_uri, remote_target, route_set, local_cseq,"
            " local_contact, event, watcher, resource, is_list, destination, expires_at"
            " FROM event_subscriptions WHERE expires_at > ?", (wall_now,)
        ) as cursor:
            rows = await cursor.fetchall()
        out: list[StoredSubscription] = []
        for row in rows:
            dialog = Dialog(call_id=row[0], local_tag=row[1], remote_tag=row[2], local_uri=row[3],
                            remote_uri=row[4], remote_target=row[5], route_set=list(json.loads(row[6])),
                            local_cseq=int(row[7]) + CSEQ_MARGIN, local_contact=row[8], early=False)
            out.append(StoredSubscription(dialog=dialog, event=row[9], watcher=row[10], resource=row[11],
                                          is_list=bool(row[12]), destination=endpoint_from_text(row[13]),
                                          expires_at=float(row[14])))
        return out

    async def save_changes(self, changes: Iterable[SubscriptionChange]) -> None:
        upserts: list[tuple[object, ...]] = []
        deletes: list[tuple[str, str]] = []
        for change in changes:
            stored = change.stored
            if stored is None:
                deletes.append(change.key)
                continue
            d = stored.dialog
            upserts.append((d.call_id, d.local_tag, d.remote_tag, d.local_uri, d.remote_uri, d.remote_target,
                            json.dumps(d.route_set), d.local_cseq, d.local_contact, stored.event, stored.watcher,
                            stored.resource, int(stored.is_list), endpoint_to_text(stored.destination),
                            stored.expires_at))
        if deletes:
            await self._db.executemany(
                "DELETE FROM event_subscriptions WHERE call_id = ? AND local_tag = ?", deletes)
        if upserts:
            await self._db.executemany(
                "INSERT OR REPLACE INTO event_subscriptions (call_id, local_tag, remote_tag, local_uri, remote_uri,"
                " remote_target, route_set, local_cseq, local_contact, event, watcher, resource, is_list,"
                " destination, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", upserts)
        await self._db.commit()

    async def clear(self) -> None:
        await self._db.execute("DELETE FROM event_subscriptions")
        await self._db.commit()
