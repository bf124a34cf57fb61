// The providers' health as OpenTelemetry gauges through Backstage's metrics
// service, read when the operator's exporter collects them.

import type { MetricsService } from '@backstage/backend-plugin-api/alpha';
import type { ProviderStatus } from './health';
import type { WeirEntityProvider } from './provider';

const GAUGES: { name: string; description: string; read: (status: ProviderStatus) => number | undefined }[] = [
  {
    name: 'weir.provider.healthy',
    description: '1 while the provider reads Weir without failing, 0 while it backs off',
    read: status => (status.healthy ? 1 : 0),
  },
  {
    name: 'weir.provider.lag',
    description: "Events between Weir's log head and the offset applied to the catalog",
    read: status => status.lag,
  },
  {
    name: 'weir.provider.consecutive_failures',
    description: 'Failed attempts to read Weir or apply a mutation since the last success',
    read: status => status.consecutiveFailures,
  },
  {
    name: 'weir.provider.applied_entities',
    description: 'Entities this process applied (bootstraps, upserts and removals) since it started',
    read: status => status.totals.bootstrapEntities + status.totals.upserts + status.totals.removals,
  },
];

export function registerMetrics(metrics: MetricsService, providers: WeirEntityProvider[]): void {
  for (const gauge of GAUGES) {
    metrics
      .createObservableGauge(gauge.name, { description: gauge.description })
      .addCallback(result => {
        for (const provider of providers) {
          const status = provider.status();
          const value = gauge.read(status);
          if (value !== undefined) {
            result.observe(value, { provider: status.provider });
          }
        }
      });
  }
}
