// GET /api/catalog/weir/status: the health of every Weir provider in this
// replica, behind the catalog's usual authentication.

import express from 'express';
import type { WeirEntityProvider } from './provider';

export function createStatusRouter(providers: WeirEntityProvider[]): express.Router {
  const router = express.Router();
  router.get('/weir/status', (_request, response) => {
    const statuses = providers.map(provider => provider.status());
    response.json({ healthy: statuses.every(status => status.healthy), providers: statuses });
  });
  return router;
}
