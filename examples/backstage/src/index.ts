// A minimal Backstage backend (what packages/backend/src/index.ts holds in a
// Backstage app): the catalog, fed by the Weir module. Settings are in
// app-config.yaml.

import { createBackend } from '@backstage/backend-defaults';

const backend = createBackend();

backend.add(import('@backstage/plugin-catalog-backend'));
backend.add(import('@weir/plugin-catalog-backend-module-weir'));

backend.start();
