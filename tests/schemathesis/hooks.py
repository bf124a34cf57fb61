"""Schemathesis hooks of `.ci/schemathesis.sh run`.

`flatmap_case`: pushed events a source understands. `map_case`: no made-up
cursors, positions or offsets in positive cases (see its docstring).

`POST /api/sources/{provider}/events` takes any bytes: the format belongs to
the source's push handler. Generated from the document alone, the bodies
never get past the handler of `pushing` (tests/plugins/pushing), which
refuses what is not `{"upsert": [...], "upsert_text": [...], "remove": [...]}`
with a 422, so the intake behind it (validation, the merge, the store, the
answer's counts and `rejected` list) would go untested.

So half of the positive cases of the fuzzing and stateful phases are sent
to `pushing` with a body drawn here instead: entities that are
valid, nearly valid or hostile (odd kinds, names and namespaces, Unicode,
missing fields, deep specs), raw entity text, and removals of real and
made-up refs. No body asks the handler to fail (`fail`): its 502 and 503 are
the source's doing, not the API's.
"""

from __future__ import annotations

import json
import math
from urllib.parse import urlencode

import schemathesis
from hypothesis import strategies as st

PUSH_PATH = "/api/sources/{provider}/events"
PUSH_SOURCE = "pushing"

KINDS = ["Component", "API", "Group", "User", "System", "Domain", "Resource", "Location", "Template"]
# A few names the valid entities reuse, so that pushes add, update and then
# remove the same entities.
PUSHED_NAMES = [f"pushed-{n}" for n in range(1, 6)]
KNOWN_REFS = [
    *(f"component:default/{name}" for name in PUSHED_NAMES),
    "component:default/pushing-1",
    "component:default/pushing-2",
    "component:default/entity-000001",
    "group:default/org-01",
]

# Names as Backstage allows them, and anything at all.
valid_names = st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,30}[a-z0-9])?", fullmatch=True)
any_text = st.text(max_size=40)
names = st.one_of(valid_names, any_text)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=12,
)

metadata = st.fixed_dictionaries(
    {"name": names},
    optional={
        "namespace": st.one_of(st.just("default"), names),
        "title": any_text,
        "description": any_text,
        "annotations": st.dictionaries(
            st.one_of(any_text, st.just("backstage.io/owner")), any_text, max_size=3
        ),
        "labels": st.dictionaries(any_text, any_text, max_size=3),
        "tags": st.lists(any_text, max_size=3),
        "uid": any_text,
    },
)

entities = st.fixed_dictionaries(
    {"metadata": metadata},
    optional={
        "apiVersion": st.one_of(st.just("backstage.io/v1alpha1"), any_text),
        "kind": st.one_of(st.sampled_from(KINDS), any_text),
        "spec": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "type": st.one_of(st.just("service"), any_text),
                    "owner": st.one_of(st.just("group:default/org-01"), any_text),
                    "lifecycle": st.one_of(st.just("production"), any_text),
                    "system": any_text,
                    "children": st.lists(any_text, max_size=3),
                },
            ),
            st.dictionaries(any_text, json_values, max_size=4),
        ),
        "relations": json_values,
    },
)

# Entities the catalog takes: a Component under a reused name, with a spec
# that changes from push to push.
valid_entities = st.fixed_dictionaries(
    {
        "apiVersion": st.just("backstage.io/v1alpha1"),
        "kind": st.just("Component"),
        "metadata": st.fixed_dictionaries(
            {"name": st.sampled_from(PUSHED_NAMES)},
            optional={"description": any_text, "tags": st.lists(valid_names, max_size=3)},
        ),
        "spec": st.fixed_dictionaries(
            {
                "type": st.sampled_from(["service", "website", "library"]),
                "owner": st.just("group:default/org-01"),
                "lifecycle": st.sampled_from(["production", "experimental"]),
            }
        ),
    }
)

refs = st.one_of(st.sampled_from(KNOWN_REFS), any_text)

push_bodies = st.fixed_dictionaries(
    {},
    optional={
        "upsert": st.lists(st.one_of(valid_entities, entities, json_values), max_size=4),
        "upsert_text": st.lists(st.one_of(entities.map(json.dumps), any_text), max_size=2),
        "remove": st.lists(refs, max_size=4),
    },
).map(lambda body: json.dumps(body).encode())


# Registered for the one operation it changes: a case hook registered for
# every operation makes schemathesis generate some of the others (those with
# only path parameters) many times slower.
@schemathesis.hook.apply_to(operation_id="push_event")
def flatmap_case(context, case):
    """Half of the positive pushes go to `pushing` with a body its handler reads."""
    operation = context.operation
    meta = case.meta
    if (
        operation is None
        or (operation.method.upper(), operation.path) != ("POST", PUSH_PATH)
        or meta is None
        or not meta.generation.mode.is_positive
    ):
        return st.just(case)

    def with_body(body: bytes):
        pushed = case.derive(keep_auth=True)
        pushed.path_parameters = {**case.path_parameters, "provider": PUSH_SOURCE}
        pushed.body = body
        return pushed

    return st.one_of(st.just(case), push_bodies.map(with_body))


# The lowest head any server of the script has: it waits until the three
# sources have ingested (several hundred events) before it fuzzes, and the
# head never goes down.
MAX_OFFSET = 199
# `maxWait` of both weir configurations (weir-open.toml, weir-tokens.toml),
# in seconds: the longest `wait=` their servers take.
MAX_WAIT = 1.0


@schemathesis.hook.apply_to(operation_id=["list_entities", "list_events", "list_rejections"])
def map_case(context, case):
    """Keep positive cases to values a client can hold: no made-up cursor, future offset or long wait.

    Some query parameters of the document are valid only with the server's
    state or settings: a `cursor` of /api/entities and an `after` of
    /api/rejections are ones the API issued (any other is 400), an `offset`
    of /api/events is at most the log's head (a larger one is 400: the
    catalog never issued it), and its `wait` is at most the operator's
    `maxWait` (a longer one is 400). No static schema can say these, so a
    positive case drops a generated `cursor` or `after`, folds a large
    `offset` below every server's head and a long `wait` into `maxWait`.
    Negative cases, and values below 0, are left as generated.
    """
    operation = context.operation
    meta = case.meta
    if operation is None or meta is None or not meta.generation.mode.is_positive:
        return case
    if not isinstance(case.query, dict):
        return case
    route = (operation.method.upper(), operation.path)
    if route == ("GET", "/api/entities") and "cursor" in case.query:
        case.query = {name: value for name, value in case.query.items() if name != "cursor"}
    elif route == ("GET", "/api/rejections") and "after" in case.query:
        case.query = {name: value for name, value in case.query.items() if name != "after"}
    elif route == ("GET", "/api/events"):
        offset = case.query.get("offset")
        if isinstance(offset, str) and offset.isdigit():
            offset = int(offset)
        if isinstance(offset, int) and not isinstance(offset, bool) and offset > MAX_OFFSET:
            case.query = {**case.query, "offset": offset % (MAX_OFFSET + 1)}
        wait = case.query.get("wait")
        if isinstance(wait, str):
            try:
                wait = float(wait)
            except ValueError:
                wait = None
        finite = isinstance(wait, int | float) and not isinstance(wait, bool) and math.isfinite(wait)
        if finite and wait > MAX_WAIT:
            # The result is in [0, MAX_WAIT).
            case.query = {**case.query, "wait": math.fmod(wait, MAX_WAIT)}
    return case


# The server's caps on a query (host/src/http/query.rs): the bytes of the
# query string, and the distinct items a list parameter names once its
# values are split at commas. The document gives each list parameter's
# items a pattern, but no schema can bound the items after splitting, or
# the length of the query once it is percent-encoded.
MAX_QUERY_BYTES = 8192
MAX_LIST_ITEMS = 100
LIST_PARAMETERS = ("kind", "namespace")


def _items(values: object) -> set[str]:
    texts = values if isinstance(values, list) else [values]
    return {
        item.strip(" \t\n\f\r").lower() for text in texts if isinstance(text, str) for item in text.split(",")
    }


@schemathesis.hook.apply_to(operation_id=["list_entities", "list_events"])
def filter_case(context, case):
    """Drop positive cases over the server's documented query caps (a 400 naming the cap is right).

    Negative cases are kept as generated.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.query, dict):
        return True
    if len(urlencode(case.query, doseq=True)) > MAX_QUERY_BYTES:
        return False
    return all(len(_items(case.query.get(name, []))) <= MAX_LIST_ITEMS for name in LIST_PARAMETERS)
