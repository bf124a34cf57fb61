"""The Python throughput source: `count` Component entities of about 1.2 KB
each, 500 a page, so `weir run` measures what a Python guest produces end to
end. The cursor is the next index. Config `style` picks how the entities are
made with the SDK: `builder` (the default: `Entity.builder`) or `template`
(an `EntityTemplate` filled per entity, the SDK's fast path); both give the
same JSON."""

from weir_guest import (
    ANNOTATION_LOCATION,
    ANNOTATION_ORIGIN_LOCATION,
    Entity,
    EntityTemplate,
    Error,
    Page,
    Slot,
    Source,
    config,
)

PER_PAGE = 500
TIERS = ("gold", "silver", "bronze")
LIFECYCLES = ("production", "experimental", "deprecated")


class Throughput(Source[tuple[int, bool], int]):
    """Context: how many entities a cycle has, and whether to use the
    template; cursor: the next entity's index."""

    def provider_name(self) -> str:
        return "throughput-python"

    def open(self) -> tuple[int, bool]:
        style = config.get_or("style", "builder")
        if style not in ("builder", "template"):
            raise Error.fatal(f'config `style`: cannot use "{style}": expected builder or template')
        return config.get_or("count", 10000), style == "template"

    def next(self, settings: tuple[int, bool], cursor: int | None) -> Page[int]:
        count, templated = settings
        make = filled if templated else built
        start = cursor or 0
        end = min(start + PER_PAGE, count)
        entities = [make(index) for index in range(start, end)]
        return Page.more(entities, end) if end < count else Page.last(entities)


def built(index: int) -> Entity:
    """Entity number ``index``, with the builder: every field varies with it."""
    name = f"service-{index:06d}"
    repository = f"https://git.example.com/platform/{name}"
    return (
        Entity.builder("Component", name)
        .namespace("default")
        .title(f"Service {index}")
        .description(
            f"Synthetic service {index}, one of the entities the Python throughput source "
            "generates to measure how fast a Python guest hands entities to the host."
        )
        .annotation("github.com/project-slug", f"platform/{name}")
        .annotation("backstage.io/techdocs-ref", f"url:{repository}")
        .annotation("pagerduty.com/service-id", f"P{index:07d}")
        .label("tier", TIERS[index % 3])
        .label("weir.dev/index", str(index))
        .tag("python")
        .tag("throughput")
        .tag(f"group-{index % 50}")
        .link(f"https://dashboards.example.com/d/{name}", f"Dashboard of {name}")
        .link(f"https://runbooks.example.com/{name}", f"Runbook of {name}")
        .managed_by(f"url:{repository}/blob/main/catalog-info.yaml")
        .spec("type", "service")
        .spec("lifecycle", LIFECYCLES[index % 3])
        .spec("owner", f"group:default/team-{index % 40}")
        .spec("system", f"system-{index % 20}")
        .spec(
            "dependsOn", [f"component:default/service-{index + 1:06d}", f"resource:default/db-{index % 100}"]
        )
        .spec("providesApis", [f"api-{index:06d}"])
        .build()
    )


COMPONENT = EntityTemplate(
    {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {
            "name": Slot("name"),
            "namespace": "default",
            "title": Slot("title"),
            "description": Slot("description"),
            "annotations": {
                "github.com/project-slug": Slot("slug"),
                "backstage.io/techdocs-ref": Slot("techdocs"),
                "pagerduty.com/service-id": Slot("pagerduty"),
                ANNOTATION_LOCATION: Slot("location"),
                ANNOTATION_ORIGIN_LOCATION: Slot("location"),
            },
            "labels": {"tier": Slot("tier"), "weir.dev/index": Slot("index")},
            "tags": ["python", "throughput", Slot("group")],
            "links": [
                {"url": Slot("dashboard"), "title": Slot("dashboard_title")},
                {"url": Slot("runbook"), "title": Slot("runbook_title")},
            ],
        },
        "spec": {
            "type": "service",
            "lifecycle": Slot("lifecycle"),
            "owner": Slot("owner"),
            "system": Slot("system"),
            "dependsOn": Slot("depends_on", json=True),
            "providesApis": Slot("provides", json=True),
        },
    }
)


def filled(index: int) -> Entity:
    """Entity number ``index``, from the template: the same JSON as ``built``."""
    name = f"service-{index:06d}"
    repository = f"https://git.example.com/platform/{name}"
    return COMPONENT.fill(
        name=name,
        title=f"Service {index}",
        description=f"Synthetic service {index}, one of the entities the Python throughput source "
        "generates to measure how fast a Python guest hands entities to the host.",
        slug=f"platform/{name}",
        techdocs=f"url:{repository}",
        pagerduty=f"P{index:07d}",
        location=f"url:{repository}/blob/main/catalog-info.yaml",
        tier=TIERS[index % 3],
        index=str(index),
        group=f"group-{index % 50}",
        dashboard=f"https://dashboards.example.com/d/{name}",
        dashboard_title=f"Dashboard of {name}",
        runbook=f"https://runbooks.example.com/{name}",
        runbook_title=f"Runbook of {name}",
        lifecycle=LIFECYCLES[index % 3],
        owner=f"group:default/team-{index % 40}",
        system=f"system-{index % 20}",
        depends_on=[f"component:default/service-{index + 1:06d}", f"resource:default/db-{index % 100}"],
        provides=[f"api-{index:06d}"],
    )
