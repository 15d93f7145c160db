"""Scroll and point-in-time ids belong to the user who opened them, against the real node.

User A (scroller-a) scrolls its own index through the gateway; user B (scroller-b, who may
read only its own indices) tries A's scroll id and its numeric neighbours, and A's PIT: every
attempt gets the node's own "missing context" answer from the gateway and never reaches the
node (its REST handler counters do not move), and A's contexts still work afterwards when
the node is asked directly."""

from __future__ import annotations

import base64
import struct

import requests

from conftest import Route, requires_gateway
from test_acl import rest_actions, through, unchanged_handlers

pytestmark = requires_gateway

A = ("scroller-a", "scroller-a-secret")
B = ("scroller-b", "scroller-b-secret")


def fill(route: Route, index: str, docs: int) -> None:
    route.direct.create_index(index)
    lines = "".join(f'{{"index":{{"_index":"{index}"}}}}\n{{"n":{n}}}\n' for n in range(docs))
    reply = route.direct.request("POST", "/_bulk?refresh=true", data=lines,
                                 headers={"Content-Type": "application/x-ndjson"})
    assert reply.status_code == 200 and not reply.json()["errors"], reply.text


def neighbours(scroll_id: str) -> list[str]:
    """Scroll ids whose context numbers are next to this one's: the guess that read other
    users' documents. The id is Base64 (URL) of: "include_context_uuid", the search type,
    the shard count, then per shard a context UUID, the context number (8 bytes) and the
    node."""
    raw = base64.urlsafe_b64decode(scroll_id + "=" * (-len(scroll_id) % 4))
    pos = 0
    for _ in range(2):  # the marker and the search type
        pos += 1 + raw[pos]
    pos += 1  # one shard
    pos += 1 + raw[pos]  # its context UUID
    (number,) = struct.unpack(">q", raw[pos:pos + 8])
    guesses = []
    for other in (number - 2, number - 1, number + 1, number + 2):
        guessed = raw[:pos] + struct.pack(">q", other) + raw[pos + 8:]
        guesses.append(base64.urlsafe_b64encode(guessed).decode().rstrip("="))
    return guesses


def scroll(route: Route, auth, scroll_id: str, direct: bool = False) -> requests.Response:
    body = {"scroll": "1m", "scroll_id": scroll_id}
    if direct:
        return route.direct.request("POST", "/_search/scroll", json=body)
    return through(route, "POST", "/_search/scroll", auth=auth, json=body)


def assert_context_missing(reply: requests.Response) -> None:
    assert reply.status_code == 404, reply.text
    error = reply.json()["error"]
    assert error["type"] == "search_phase_execution_exception", reply.text
    assert error["root_cause"][0]["type"] == "search_context_missing_exception", reply.text


def test_another_users_scroll_cannot_be_continued_or_cleared(main_route: Route, index_names):
    mine = index_names.new(main_route.direct, "owned-by-a")
    theirs = index_names.new(main_route.direct, "owned-by-b")
    fill(main_route, mine, 6)
    fill(main_route, theirs, 3)

    # B's own scroll first: its context number is next to A's.
    b_opened = through(main_route, "GET", f"/{theirs}/_search?scroll=1m&size=1", auth=B)
    assert b_opened.status_code == 200, b_opened.text
    own_id = b_opened.json()["_scroll_id"]
    opened = through(main_route, "GET", f"/{mine}/_search?scroll=1m&size=2", auth=A)
    assert opened.status_code == 200, opened.text
    scroll_id = opened.json()["_scroll_id"]
    page = scroll(main_route, A, scroll_id)
    assert page.status_code == 200, page.text
    assert len(page.json()["hits"]["hits"]) == 2

    # The ids are guessable: B's own is a neighbour of A's, and B may use that one.
    guessed = neighbours(scroll_id)
    assert own_id in guessed
    assert scroll(main_route, B, own_id).status_code == 200
    guessed.remove(own_id)

    before = rest_actions(main_route)
    refused = scroll(main_route, B, scroll_id)
    by_path = through(main_route, "GET", f"/_search/scroll/{scroll_id}?scroll=1m", auth=B)
    guesses = [scroll(main_route, B, guess) for guess in guessed]
    cleared = through(main_route, "DELETE", "/_search/scroll", auth=B, json={"scroll_id": [scroll_id]})
    clear_all = through(main_route, "DELETE", "/_search/scroll/_all", auth=B)
    after = rest_actions(main_route)
    for reply in [refused, by_path, *guesses]:
        assert_context_missing(reply)
    assert cleared.status_code == 404 and cleared.json() == {"succeeded": True, "num_freed": 0}, cleared.text
    assert clear_all.status_code == 403, clear_all.text
    unchanged_handlers(before, after)

    # A's scroll is untouched: the node serves it directly, and A through the gateway.
    direct = scroll(main_route, None, scroll_id, direct=True)
    assert direct.status_code == 200, direct.text
    assert len(direct.json()["hits"]["hits"]) == 2
    assert scroll(main_route, A, scroll_id).status_code == 200

    # The gateway's refusal is the node's own answer once the context is really gone.
    gone = through(main_route, "DELETE", "/_search/scroll", auth=A, json={"scroll_id": scroll_id})
    assert gone.status_code == 200 and gone.json()["num_freed"] == 1, gone.text
    from_node = scroll(main_route, None, scroll_id, direct=True)
    assert from_node.status_code == 404
    assert scroll(main_route, B, scroll_id).json() == from_node.json()
    assert scroll(main_route, A, scroll_id).json() == from_node.json()


def test_another_users_point_in_time_cannot_be_used_or_deleted(main_route: Route, index_names):
    mine = index_names.new(main_route.direct, "owned-by-a")
    fill(main_route, mine, 3)
    created = through(main_route, "POST", f"/{mine}/_search/point_in_time?keep_alive=1m", auth=A)
    assert created.status_code == 200, created.text
    pit = created.json()["pit_id"]

    before = rest_actions(main_route)
    searched = through(main_route, "POST", "/_search", auth=B, json={"size": 1, "pit": {"id": pit}})
    deleted = through(main_route, "DELETE", "/_search/point_in_time", auth=B, json={"pit_id": [pit]})
    listed = through(main_route, "GET", "/_search/point_in_time/_all", auth=B)
    segments = through(main_route, "GET", "/_cat/pit_segments", auth=B, json={"pit_id": [pit]})
    after = rest_actions(main_route)
    assert_context_missing(searched)
    # OpenSearch reports a PIT that is gone as deleted.
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"pits": [{"successful": True, "pit_id": pit}]}
    assert listed.status_code == 403, listed.text
    assert segments.status_code == 403, segments.text
    unchanged_handlers(before, after)

    direct = main_route.direct.request("POST", "/_search", json={"size": 1, "pit": {"id": pit}})
    assert direct.status_code == 200, direct.text
    mine_deleted = through(main_route, "DELETE", "/_search/point_in_time", auth=A, json={"pit_id": [pit]})
    assert mine_deleted.status_code == 200, mine_deleted.text
    gone = main_route.direct.request("POST", "/_search", json={"size": 1, "pit": {"id": pit}})
    assert gone.status_code == 404, gone.text
