// @weir/plugin-catalog-backend-module-weir: a Backstage catalog module that
// follows a Weir catalog's event stream. `backend.add(import(...))` uses the
// default export; the types describe its settings and its status route.

export { catalogModuleWeir as default } from './module';
export type { WeirProviderConfig } from './config';
export type { FollowState, ProviderStatus } from './health';
