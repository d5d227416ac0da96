import type { DashboardConfig } from '../server.ts';
import type { FleetState } from './state.ts';
import { h } from './dom.ts';

export function tryModelSection(_config: DashboardConfig, _state: FleetState): HTMLElement {
  return h('section', { class: 'try' }, h('h2', { class: 'section' }, 'Try the model in the browser'));
}
