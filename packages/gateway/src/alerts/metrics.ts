import { Gauge, type Registry } from 'prom-client';
import type { AlertEngine } from './engine.js';

/**
 * Alert metrics on `/metrics` (issue 12 item 7). The only label is the rule's name (and the
 * outcome of a webhook delivery), which come from the configuration: a bounded set.
 */
export function registerAlertMetrics(engine: AlertEngine, registry: Registry): void {
  const registers = [registry];
  new Gauge({
    name: 'truce_gateway_alert_firing',
    help: '1 while the alert rule is firing, 0 while it is ok.',
    labelNames: ['rule'],
    registers,
    collect() {
      this.reset();
      for (const s of engine.statuses()) this.set({ rule: s.name }, s.state === 'firing' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'truce_gateway_alert_value',
    help: "The alert rule's value at its last evaluation (a fraction, ms for p99, conflicts for hotspot).",
    labelNames: ['rule'],
    registers,
    collect() {
      this.reset();
      for (const s of engine.statuses()) if (s.value !== null) this.set({ rule: s.name }, s.value);
    },
  });
  new Gauge({
    name: 'truce_gateway_alert_webhook_deliveries',
    help: 'Alert webhook attempts since start: delivered, retried, failed (gave up) or dropped (queue full).',
    labelNames: ['rule', 'outcome'],
    registers,
    collect() {
      this.reset();
      for (const d of engine.deliveries()) this.set({ rule: d.rule, outcome: d.outcome }, d.count);
    },
  });
}
