import type { AgentContext, Feature, FeatureDefinition } from '../context.ts';
import { EDGELOOM_VERSION } from '../../src/version.ts';

/**
 * Home Assistant MQTT discovery (device-based, `homeassistant/device/<device>/config`): one sensor
 * per camera for the label (confidence as an attribute) and one for inference p95.
 */
export function discoveryPayload(ctx: Pick<AgentContext, 'config' | 'topics'>): Record<string, unknown> {
  const { config, topics } = ctx;
  const components: Record<string, unknown> = {};
  for (const cam of config.cameras) {
    components[`${cam.id}_label`] = {
      platform: 'sensor',
      name: `${cam.id} label`,
      unique_id: `edgeloom_${config.deviceId}_${cam.id}_label`,
      state_topic: topics.label(cam.id),
      value_template: '{{ value_json.label }}',
      json_attributes_topic: topics.label(cam.id),
      icon: 'mdi:tshirt-crew',
    };
  }
  components.inference_p95 = {
    platform: 'sensor',
    name: 'inference p95',
    unique_id: `edgeloom_${config.deviceId}_inference_p95`,
    state_topic: topics.stats,
    value_template: '{{ value_json.inferenceMs.p95 }}',
    unit_of_measurement: 'ms',
  };
  return {
    device: { identifiers: [`edgeloom_${config.deviceId}`], name: `edgeloom ${config.deviceId}`, manufacturer: 'edgeloom', sw_version: EDGELOOM_VERSION },
    origin: { name: 'edgeloom', sw_version: EDGELOOM_VERSION },
    availability_topic: topics.status,
    payload_available: 'online',
    payload_not_available: 'offline',
    components,
  };
}

class HomeAssistantFeature implements Feature {
  readonly name = 'home-assistant';
  private readonly onConnect = () => {
    this.ctx.publisher.sendLive(this.ctx.topics.homeAssistantConfig, JSON.stringify(discoveryPayload(this.ctx)), { qos: 1, retain: true })
      .catch(() => undefined);
  };
  constructor(private readonly ctx: AgentContext) {}
  async start(): Promise<void> {
    this.ctx.mqtt.on('connect', this.onConnect);
    if (this.ctx.mqtt.connected) this.onConnect();
  }
  async stop(): Promise<void> {
    this.ctx.mqtt.off('connect', this.onConnect);
  }
}

export const homeAssistantFeature: FeatureDefinition = {
  name: 'home-assistant',
  enabled: (c) => c.homeAssistant.enabled,
  create: async (ctx) => new HomeAssistantFeature(ctx),
};
