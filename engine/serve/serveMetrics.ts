// What /metrics reports, in Prometheus text format (prom-client, in a registry of our own).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Values read at scrape time from the parts that own them. */
export interface MetricsSources {
  queueDepth(): number;
  runningSequences(): number;
  poolPagesInUse(): number;
  poolPagesPinned(): number;
  cacheTokensInUse(): number;
}

/** Routes we label by name; anything else counts as "other", so a scanner cannot blow up the label set. */
const KNOWN_ROUTES = new Set(['/v1/completions', '/v1/chat/completions', '/v1/models', '/health', '/metrics']);

export class ServeMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'latent_http_requests_total', help: 'HTTP requests answered, by route and status code',
    labelNames: ['route', 'status'] as const, registers: [this.registry],
  });
  private readonly timeToFirstToken = new Histogram({
    name: 'latent_time_to_first_token_seconds', help: 'Time from a generation request to its first new token',
    labelNames: ['route'] as const, buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'latent_request_duration_seconds', help: 'Time from a generation request to its last byte',
    labelNames: ['route'] as const, buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  private readonly generatedTokens = new Counter({
    name: 'latent_generated_tokens_total', help: 'New tokens generated', registers: [this.registry],
  });
  private readonly promptTokens = new Counter({
    name: 'latent_prompt_tokens_total', help: 'Prompt tokens of generation requests', registers: [this.registry],
  });
  private readonly cachedPromptTokens = new Counter({
    name: 'latent_cached_prompt_tokens_total', help: 'Prompt tokens whose latents came from the latent cache',
    registers: [this.registry],
  });
  private readonly cancelled = new Counter({
    name: 'latent_requests_cancelled_total', help: 'Generations stopped because their client went away',
    registers: [this.registry],
  });
  private readonly rejected = new Counter({
    name: 'latent_requests_rejected_total', help: 'Generation requests refused by the scheduler, by reason',
    labelNames: ['reason'] as const, registers: [this.registry],
  });

  constructor(sources: MetricsSources) {
    new Gauge({
      name: 'latent_queue_depth', help: 'Requests waiting for a place in the running batch', registers: [this.registry],
      collect() { this.set(sources.queueDepth()); },
    });
    new Gauge({
      name: 'latent_running_sequences', help: 'Sequences being generated now', registers: [this.registry],
      collect() { this.set(sources.runningSequences()); },
    });
    new Gauge({
      name: 'latent_pool_pages_in_use', help: 'Latent cache pages held (by running requests or the prefix cache)',
      registers: [this.registry], collect() { this.set(sources.poolPagesInUse()); },
    });
    new Gauge({
      name: 'latent_pool_pages_pinned', help: 'Latent cache pages held by running requests (not evictable)',
      registers: [this.registry], collect() { this.set(sources.poolPagesPinned()); },
    });
    new Gauge({
      name: 'latent_cache_tokens_in_use', help: 'Tokens whose latents the running sequences hold',
      registers: [this.registry], collect() { this.set(sources.cacheTokensInUse()); },
    });
  }

  countRequest(path: string, status: number): void {
    this.requests.inc({ route: KNOWN_ROUTES.has(path) ? path : 'other', status: String(status) });
  }

  observeFirstToken(route: string, seconds: number): void {
    this.timeToFirstToken.observe({ route }, seconds);
  }

  observeLatency(route: string, seconds: number): void {
    this.latency.observe({ route }, seconds);
  }

  countGeneration(promptTokens: number, cachedTokens: number, newTokens: number): void {
    this.promptTokens.inc(promptTokens);
    this.cachedPromptTokens.inc(cachedTokens);
    this.generatedTokens.inc(newTokens);
  }

  countCancelled(): void {
    this.cancelled.inc();
  }

  countRejected(reason: 'queue_full' | 'shutting_down'): void {
    this.rejected.inc({ reason });
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
