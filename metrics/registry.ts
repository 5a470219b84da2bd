// The worker's Prometheus registry: what nodepool sent to statsd, as counters and histograms that activities
// update where the work happens (launches, builds, uploads, cloud API calls), plus the process's own metrics.
// One registry per process: every worker exposes what it did itself, as Prometheus expects of replicas.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const launches = new Counter({
  name: 'nodepool_launches_total',
  help: 'Node launches finished, by provider, label and outcome (ready, failed, aborted: over quota, error: the launch itself threw)',
  labelNames: ['provider', 'label', 'outcome'] as const,
  registers: [registry],
});

export const launchDuration = new Histogram({
  name: 'nodepool_launch_duration_seconds',
  help: 'From the first create call to READY (or to giving up), by provider, label and outcome',
  labelNames: ['provider', 'label', 'outcome'] as const,
  buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
  registers: [registry],
});

export const buildDuration = new Histogram({
  name: 'nodepool_image_build_duration_seconds',
  help: 'Image builds, from start to ready or failed (disk image, conversions and uploads), by image and outcome',
  labelNames: ['image', 'outcome'] as const,
  buckets: [30, 60, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800],
  registers: [registry],
});

export const uploadDuration = new Histogram({
  name: 'nodepool_image_upload_duration_seconds',
  help: 'Image uploads (and snapshot builds) to one provider, from start to ready or failed, by provider, image and outcome',
  labelNames: ['provider', 'image', 'outcome'] as const,
  buckets: [1, 10, 30, 60, 300, 600, 1800, 3600, 7200],
  registers: [registry],
});

export const apiCalls = new Counter({
  name: 'nodepool_provider_api_calls_total',
  help: 'Cloud API operations called through the provider adapter, by provider and operation',
  labelNames: ['provider', 'operation'] as const,
  registers: [registry],
});

export const apiErrors = new Counter({
  name: 'nodepool_provider_api_errors_total',
  help: 'Cloud API operations that failed, by provider, operation and error (QuotaExceeded, RateLimited, Transient, NotFound, Invalid, Other)',
  labelNames: ['provider', 'operation', 'error'] as const,
  registers: [registry],
});

export const apiDuration = new Histogram({
  name: 'nodepool_provider_api_duration_seconds',
  help: 'Time of cloud API operations, by provider and operation',
  labelNames: ['provider', 'operation'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
  registers: [registry],
});

export const quotaLimit = new Gauge({
  name: 'nodepool_provider_quota_limit',
  help: "The cloud's quota limit of the project, by provider and resource (instances, cores, ram_mb), as last read; unlimited resources are absent",
  labelNames: ['provider', 'resource'] as const,
  registers: [registry],
});

export const quotaUsed = new Gauge({
  name: 'nodepool_provider_quota_used',
  help: "The cloud's quota usage of the project (ours and any other servers), by provider and resource, as last read",
  labelNames: ['provider', 'resource'] as const,
  registers: [registry],
});
