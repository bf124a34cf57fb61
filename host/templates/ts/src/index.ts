// The `{{name}}` source: one Component per name in config `names`, `page-size`
// to a page. Replace the body of `next` with calls to your system.

import { config, Entity, exportSource, log, Page, SourceError, type Source } from "weir-guest";

/** What one burst needs, read from config in `open`. */
interface Context {
  names: string[];
  pageSize: number;
}

/** Where the next page starts: everything needed to resume, as the next burst may run elsewhere. */
interface Cursor {
  offset: number;
}

const plugin: Source<Context, Cursor> = {
  providerName: "{{name}}",

  open() {
    const names = config.getOr("names", "alpha,beta,gamma").split(",");
    const pageSize = config.getOr("page-size", 2);
    if (!Number.isInteger(pageSize) || pageSize < 1) {
      throw SourceError.fatal(`config \`page-size\`: expected a whole number of at least 1, got ${pageSize}`);
    }
    log.info(`{{name}}: ${names.length} names, ${pageSize} a page`);
    return { names, pageSize };
  },

  next({ names, pageSize }, cursor) {
    const offset = cursor?.offset ?? 0;
    const end = Math.min(offset + pageSize, names.length);
    const entities = names
      .slice(offset, end)
      .map((name) =>
        Entity.builder("Component", name.trim())
          .title(`Component ${name.trim()}`)
          .spec("type", "service")
          .spec("lifecycle", "experimental")
          .spec("owner", "group:default/{{name}}")
          .managedBy("url:https://example.com/{{name}}")
          .build(),
      );
    return end < names.length ? Page.more(entities, { offset: end }) : Page.last(entities);
  },

  close() {
    log.debug("{{name}}: burst closed");
  },
};

export const source = exportSource(plugin);
