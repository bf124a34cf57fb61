#!/usr/bin/env python3
"""Mirror a Weir catalog through its HTTP API (Python's standard library only).

Bootstraps from GET /api/entities (every page), then follows GET /api/events
from the listing's lastEventOffset with long polling, applying each event:
`added`/`updated` put the entity, `removed` deletes it. The offset is kept
beside the mirror (in --state), so a restarted mirror continues where it
stopped; a 410 Gone (the log was compacted past it) starts over from the
entities.

    python3 examples/mirror.py --url http://127.0.0.1:7007 --output mirror.json

Options: --token (bearer token, when read access is closed), --kind (only
these kinds, repeatable), --page-size, --wait (long-poll seconds),
--stop-when-idle N (exit after N seconds without events, for scripts and
tests), --state FILE (where the mirror and its offset are kept).
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class Gone(Exception):
    """The event log no longer holds our offset: re-bootstrap."""


def get(base, path, params, token, timeout):
    query = urllib.parse.urlencode(params, doseq=True)
    request = urllib.request.Request(f"{base}{path}?{query}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        body = error.read().decode("utf-8", "replace")
        if error.code == 410:
            raise Gone(body) from error
        raise SystemExit(f"GET {path}: HTTP {error.code}: {body}") from error


def bootstrap(args):
    """Every entity now, and the offset to follow the stream from."""
    mirror, offset, cursor = {}, None, None
    while True:
        params = {"limit": args.page_size, "kind": args.kind}
        if cursor:
            params["cursor"] = cursor
        page = get(args.url, "/api/entities", params, args.token, 30)
        if offset is None:
            # The first page's offset: every change after it comes as an event.
            offset = page["lastEventOffset"]
        for item in page["items"]:
            mirror[item["entityRef"]] = item["entity"]
        cursor = page["pageInfo"].get("nextCursor")
        if not cursor:
            return mirror, offset


def save(path, mirror, offset):
    """Write the mirror and its offset together, atomically."""
    if not path:
        return
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump({"offset": offset, "entities": mirror}, file)
    os.replace(temporary, path)


def load(path):
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            state = json.load(file)
        return state["entities"], state["offset"]
    return None, None


def follow(args, mirror, offset):
    """Apply events until idle for --stop-when-idle seconds (or forever)."""
    idle_since = time.monotonic()
    while True:
        params = {"offset": offset, "limit": 1000, "wait": args.wait, "kind": args.kind}
        page = get(args.url, "/api/events", params, args.token, args.wait + 30)
        for event in page["events"]:
            if event["type"] == "removed":
                mirror.pop(event["entityRef"], None)
            else:
                mirror[event["entityRef"]] = event["entity"]
        offset = page["lastEventOffset"]
        save(args.state, mirror, offset)
        if page["events"]:
            idle_since = time.monotonic()
        elif args.stop_when_idle and time.monotonic() - idle_since >= args.stop_when_idle:
            return mirror, offset


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7007")
    parser.add_argument("--token", default=os.environ.get("WEIR_READ_TOKEN"))
    parser.add_argument("--kind", action="append", default=[])
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--wait", type=float, default=20)
    parser.add_argument("--stop-when-idle", type=float, default=0)
    parser.add_argument("--state", help="keep the mirror and its offset in this file")
    parser.add_argument("--output", help="write the mirror (ref -> entity) here at the end")
    args = parser.parse_args()
    args.url = args.url.rstrip("/")

    mirror, offset = load(args.state)
    while True:
        try:
            if mirror is None:
                mirror, offset = bootstrap(args)
                save(args.state, mirror, offset)
                print(f"bootstrapped {len(mirror)} entities at offset {offset}", file=sys.stderr)
            mirror, offset = follow(args, mirror, offset)
            break
        except Gone as gone:
            print(f"offset {offset} was compacted away, re-bootstrapping: {gone}", file=sys.stderr)
            mirror = None
    print(f"{len(mirror)} entities at offset {offset}", file=sys.stderr)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            json.dump(mirror, file, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
