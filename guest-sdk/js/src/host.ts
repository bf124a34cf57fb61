// The host's imports: config, secrets and log, bound to the WIT interfaces
// the component imports. Only this module and `http/client.ts` name them.

import * as witConfig from "weir:source/config@0.1.1";
import * as witLog from "weir:source/log@0.1.1";
import * as witSecrets from "weir:source/secrets@0.1.1";
import { Config, Secrets } from "./settings.js";

/** The source's configuration values (`[sources.NAME.config]` in weir.toml). */
export const config = new Config("config", (key) => witConfig.get(key));

/** The source's secrets (`[sources.NAME.secrets]` in weir.toml); never printed by the host. */
export const secrets = new Secrets("secret", (key) => witSecrets.get(key));

/** Log lines attributed to the source; the host adds its name. */
export const log = {
  trace: (message: string): void => {
    witLog.log("trace", message);
  },
  debug: (message: string): void => {
    witLog.log("debug", message);
  },
  info: (message: string): void => {
    witLog.log("info", message);
  },
  warn: (message: string): void => {
    witLog.log("warn", message);
  },
  error: (message: string): void => {
    witLog.log("error", message);
  },
};
