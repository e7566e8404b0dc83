"""The demo group (`callconnect serve --demo`): enterprise "Demo", four users 201-204, two phones, a group
schedule, two directory contacts, a carrier trunk on 127.0.0.1:5090 and a group administrator.

`examples/demo-group.toml` is the same group as a provisioning file (a test checks they agree). The
passwords below are published demo credentials (SIP "demo201".."demo204", portal "portal201"..), never
stored in clear: applying hashes them. The group administrator is "demo.admin" with password "demoadmin1".
This module knows nothing of storage or SIP.
"""

from __future__ import annotations

from typing import Final, Literal

from features.model import Blf, DaySchedule, Schedule, ServiceSettings, Voicemail
from provisioning.model import (
    Department,
    Device,
    DirectoryContact,
    Enterprise,
    Group,
    GroupAdministrator,
    GroupDescription,
    GroupSchedule,
    Trunk,
    User,
    sip_ha1,
)

__all__ = ["DEMO_ADMIN", "DEMO_ADMIN_PASSWORD", "DEMO_DOMAIN", "DEMO_GROUP_ID", "demo_group_description"]

DEMO_DOMAIN: Final = "callconnect.local"
DEMO_GROUP_ID: Final = "demo"
DEMO_ADMIN: Final = "demo.admin"
DEMO_ADMIN_PASSWORD: Final = "demoadmin1"

# (user_id, first name, last name, extension, language)
_PEOPLE: Final[tuple[tuple[str, str, str, str, Literal["fr", "nl", "en"]], ...]] = (
    ("jean.dupont", "Jean", "Dupont", "201", "fr"),
    ("marie.martin", "Marie", "Martin", "202", "fr"),
    ("pieter.peeters", "Pieter", "Peeters", "203", "nl"),
    ("sophie.lambert", "Sophie", "Lambert", "204", "fr"),
)

_OFFICE_DAY: Final = DaySchedule(active=True, start=8 * 60 + 30, end=17 * 60 + 30, lunch_active=True,
                                 lunch_start=12 * 60, lunch_end=13 * 60)
OFFICE_HOURS: Final = Schedule(name="Heures de bureau", level="group",
                               days=(*(_OFFICE_DAY,) * 5, DaySchedule(), DaySchedule()))


def _services(user_id: str) -> ServiceSettings:
    if user_id == "jean.dupont":
        return ServiceSettings(
            voicemail=Voicemail(active=True),
            blf=Blf(monitored_users=("marie.martin", "pieter.peeters", "sophie.lambert"),
                    list_uri="jean.dupont-blf"),
        )
    return ServiceSettings(voicemail=Voicemail(active=True))


def demo_group_description(domain: str = DEMO_DOMAIN, *, keep_user_settings: bool = False) -> GroupDescription:
    """The demo group with SIP domain (and digest realm) `domain`.

    `keep_user_settings=True` is for seeding at every start: users that already exist keep the service
    settings and portal password they changed since; only missing users get the demo ones.
    """
    gid = DEMO_GROUP_ID
    users = tuple(
        User(
            user_id=user_id, group_id=gid, first_name=first, last_name=last,
            email=f"{user_id}@demo.example", department_id="ventes", extension=ext,
            numbers=(f"+32222112{ext[1:]}",), outgoing_cli=f"+32222112{ext[1:]}", language=lang,
            sip_username=ext, sip_ha1=sip_ha1(ext, domain, f"demo{ext}"), services=_services(user_id),
        )
        for user_id, first, last, ext, lang in _PEOPLE
    )
    everyone = frozenset(u.user_id for u in users) if keep_user_settings else frozenset()
    return GroupDescription(
        enterprise=Enterprise(id="demo", name="Demo"),
        group=Group(id=gid, enterprise_id="demo", name="Demo", domain=domain, country_code="32",
                    time_zone="Europe/Brussels", seconds_per_ring=5, voicemail_number="1969"),
        departments=(Department(id="ventes", group_id=gid, name="Ventes"),),
        users=users,
        devices=(
            Device(mac="001565000201", group_id=gid, model="T48S", owner="jean.dupont", label="Jean Dupont"),
            Device(mac="001565000202", group_id=gid, model="T42S", owner="marie.martin", label="Marie Martin"),
        ),
        schedules=(GroupSchedule(group_id=gid, schedule=OFFICE_HOURS),),
        contacts=(
            DirectoryContact(group_id=gid, name="Fournisseur Bureautique", number="+3225550101"),
            DirectoryContact(group_id=gid, name="Support informatique", number="+3225550102"),
        ),
        trunks=(
            Trunk(id="carrier", group_id=gid, name="Carrier", host="127.0.0.1", port=5090, transport="udp",
                  numbers=("+",), inbound_addresses=("127.0.0.1:5090",)),
        ),
        administrators=(GroupAdministrator(username=DEMO_ADMIN, group_id=gid, name="Administrateur Demo",
                                           language="fr"),),
        portal_passwords={u.user_id: f"portal{u.extension}" for u in users},
        admin_passwords={DEMO_ADMIN: DEMO_ADMIN_PASSWORD},
        keep_services=everyone,
        keep_portal_passwords=everyone,
    )
