/// <reference path="./interfaces/wasi-clocks-monotonic-clock.d.ts" />
/// <reference path="./interfaces/wasi-http-outgoing-handler.d.ts" />
/// <reference path="./interfaces/wasi-http-types.d.ts" />
/// <reference path="./interfaces/wasi-io-error.d.ts" />
/// <reference path="./interfaces/wasi-io-poll.d.ts" />
/// <reference path="./interfaces/wasi-io-streams.d.ts" />
/// <reference path="./interfaces/weir-source-config.d.ts" />
/// <reference path="./interfaces/weir-source-log.d.ts" />
/// <reference path="./interfaces/weir-source-push.d.ts" />
/// <reference path="./interfaces/weir-source-secrets.d.ts" />
/// <reference path="./interfaces/weir-source-source.d.ts" />
/// <reference path="./interfaces/weir-source-types.d.ts" />
declare module 'weir:guest-js/pushing-source-http' {
  export type * as WasiClocksMonotonicClock0212 from 'wasi:clocks/monotonic-clock@0.2.12'; // import wasi:clocks/monotonic-clock@0.2.12
  export type * as WasiHttpOutgoingHandler0212 from 'wasi:http/outgoing-handler@0.2.12'; // import wasi:http/outgoing-handler@0.2.12
  export type * as WasiHttpTypes0212 from 'wasi:http/types@0.2.12'; // import wasi:http/types@0.2.12
  export type * as WasiIoError0212 from 'wasi:io/error@0.2.12'; // import wasi:io/error@0.2.12
  export type * as WasiIoPoll0212 from 'wasi:io/poll@0.2.12'; // import wasi:io/poll@0.2.12
  export type * as WasiIoStreams0212 from 'wasi:io/streams@0.2.12'; // import wasi:io/streams@0.2.12
  export type * as WeirSourceConfig011 from 'weir:source/config@0.1.1'; // import weir:source/config@0.1.1
  export type * as WeirSourceLog011 from 'weir:source/log@0.1.1'; // import weir:source/log@0.1.1
  export type * as WeirSourceSecrets011 from 'weir:source/secrets@0.1.1'; // import weir:source/secrets@0.1.1
  export type * as WeirSourceTypes011 from 'weir:source/types@0.1.1'; // import weir:source/types@0.1.1
  export * as push from 'weir:source/push@0.1.1'; // export weir:source/push@0.1.1
  export * as source from 'weir:source/source@0.1.1'; // export weir:source/source@0.1.1
}
