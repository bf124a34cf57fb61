// The catalog backend module: one Weir entity provider per entry of
// `catalog.providers.weir`, their tables, status route and metrics, and a
// shutdown hook that gives the leases back before the database closes.

import { coreServices, createBackendModule } from '@backstage/backend-plugin-api';
import { metricsServiceRef } from '@backstage/backend-plugin-api/alpha';
import { catalogProcessingExtensionPoint } from '@backstage/plugin-catalog-node';
import { readWeirProviderConfigs } from './config';
import { registerMetrics } from './metrics';
import { ProviderStore } from './store';
import { WeirEntityProvider } from './provider';
import { createStatusRouter } from './router';

export const catalogModuleWeir = createBackendModule({
  pluginId: 'catalog',
  moduleId: 'weir',
  register(env) {
    env.registerInit({
      deps: {
        catalog: catalogProcessingExtensionPoint,
        config: coreServices.rootConfig,
        database: coreServices.database,
        httpRouter: coreServices.httpRouter,
        lifecycle: coreServices.lifecycle,
        logger: coreServices.logger,
        metrics: metricsServiceRef,
        scheduler: coreServices.scheduler,
      },
      async init({ catalog, config, database, httpRouter, lifecycle, logger, metrics, scheduler }) {
        const configs = readWeirProviderConfigs(config);
        if (configs.length === 0) {
          logger.warn('No Weir catalog configured under catalog.providers.weir: nothing to follow');
          return;
        }
        const store = await ProviderStore.create(database);
        const providers = configs.map(
          providerConfig => new WeirEntityProvider({ config: providerConfig, store, scheduler, logger }),
        );
        catalog.addEntityProvider(providers);
        // Plugin shutdown hooks run before the root's, which close the database.
        lifecycle.addShutdownHook(async () => {
          await Promise.all(providers.map(provider => provider.stop()));
        });
        httpRouter.use(createStatusRouter(providers));
        registerMetrics(metrics, providers);
      },
    });
  },
});
