"""Fresh identifiers: unique, the right shape, enough randomness (RFC 3261 §8.1.1.7, §19.3)."""

from __future__ import annotations

import os

from sipserver.ids import MAGIC_COOKIE, new_branch, new_call_id, new_tag


def test_branches_tags_and_call_ids_are_unique_and_well_formed() -> None:
    branches = {new_branch() for _ in range(20_000)}
    tags = {new_tag() for _ in range(20_000)}
    call_ids = {new_call_id("127.0.0.1") for _ in range(20_000)}
    assert len(branches) == len(tags) == len(call_ids) == 20_000
    assert all(b.startswith(MAGIC_COOKIE) and len(b) >= len(MAGIC_COOKIE) + 16 for b in branches)
    assert all(len(t) >= 12 and t.replace("-", "").replace("_", "").isalnum() for t in tags)
    assert all(c.endswith("@127.0.0.1") for c in call_ids)


def test_a_forked_child_does_not_repeat_its_parents_identifiers() -> None:
    new_tag()  # fill the parent's pool
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_end)
        os.write(write_end, ",".join(new_tag() for _ in range(50)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child = set(pipe.read().split(","))
    os.waitpid(pid, 0)
    parent = {new_tag() for _ in range(50)}
    assert len(child) == 50 and not child & parent
