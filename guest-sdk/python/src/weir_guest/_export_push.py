"""Bridges a `Push` handler to the bindings of the optional `push` export
(world `pushing-source-plugin`). Only a source built with
``[tool.weir-guest] push = ...`` imports it: the bindings exist only then."""

from __future__ import annotations

from wit_world.exports import push as wit_push

from weir_guest._export import bound_source, call, create, wit_entities
from weir_guest.push import Push, PushEvent

_bound: list[Push] = []


def bind(push_class: type[Push]) -> None:
    """Export ``push_class``'s ``handle``, on the source's own instance when
    one class is both."""
    source = bound_source()
    _bound[:] = [source if isinstance(source, push_class) else create(push_class)]


class PushExport:
    """The ``push`` interface's ``handle`` (componentize-py's ``Push``)."""

    def handle(self, event: wit_push.PushEvent) -> wit_push.PushResult:
        handler = _bound[0]
        outcome = call("handle", handler.handle, PushEvent(list(event.headers), bytes(event.body)))
        return wit_push.PushResult(wit_entities(outcome.upserts), list(outcome.removals))
