import type { AgentContext, Feature, FeatureDefinition } from '../context.ts';
import { homeAssistantConfigTopic } from '../../src/mqtt/topics.ts';
import { EDGELOOM_VERSION } from '../../src/version.ts';

/**
 * Home Assistant MQTT discovery, device-based (`<discovery prefix>/device/<device>/config`, Home
 * Assistant 2024.11 or later): per camera the label, its confidence, the drift status, fps, inference
 * latency and paused state as sensors, pause/resume as buttons and the fps as a number; for the device
 * inference p95, reload-model and a model select. Every entity is unavailable while `status` is offline.
 * With discovery off the agent clears the retained config once per start, so a device that had it on
 * disappears from Home Assistant instead of lingering.
 */
type Component = Record<string, unknown>;
type Ctx = Pick<AgentContext, 'config' | 'topics' | 'info'>;

/** Seconds without a label before Home Assistant shows the label as unavailable. */
export function labelExpireAfterS(configured: number, fps: number): number {
  return Math.max(configured, Math.ceil(10 / fps));
}

const diagnostic = { entity_category: 'diagnostic', state_class: 'measurement' } as const;

function cameraComponents(ctx: Ctx, cam: { id: string; fps: number }): Record<string, Component> {
  const { config, topics } = ctx;
  const id = cam.id;
  const uid = (what: string) => `edgeloom_${config.deviceId}_${id}_${what}`;
  const expire_after = labelExpireAfterS(config.homeAssistant.expireAfterS, cam.fps);
  const statsCamera = `value_json.cameras['${id}']`;
  return {
    [`${id}_label`]: {
      platform: 'sensor', name: `${id} label`, unique_id: uid('label'), icon: 'mdi:tshirt-crew',
      state_topic: topics.label(id), value_template: '{{ value_json.label }}', expire_after,
      json_attributes_topic: topics.label(id),
      json_attributes_template: "{{ {'confidence': value_json.confidence, 'top': value_json.top, 'frame': value_json.frame, 'model': value_json.model.id} | tojson }}",
    },
    [`${id}_confidence`]: {
      platform: 'sensor', name: `${id} confidence`, unique_id: uid('confidence'), icon: 'mdi:percent',
      state_topic: topics.label(id), value_template: '{{ (value_json.confidence * 100) | round(1) }}', unit_of_measurement: '%',
      state_class: 'measurement', suggested_display_precision: 1, expire_after,
    },
    [`${id}_drift`]: {
      platform: 'sensor', name: `${id} drift`, unique_id: uid('drift'), icon: 'mdi:chart-bell-curve',
      state_topic: topics.drift(id), value_template: '{{ value_json.status }}', device_class: 'enum', options: ['ok', 'warn', 'alert'],
      json_attributes_topic: topics.drift(id),
      json_attributes_template: "{{ {'reasons': value_json.reasons, 'window': value_json.window, 'estimated_accuracy': value_json.estimatedAccuracy} | tojson }}",
    },
    [`${id}_fps`]: {
      platform: 'sensor', name: `${id} frames per second`, unique_id: uid('fps'), icon: 'mdi:camera-timer',
      state_topic: topics.stats, value_template: `{{ ${statsCamera}.fps }}`, unit_of_measurement: 'fps', ...diagnostic,
    },
    [`${id}_latency`]: {
      platform: 'sensor', name: `${id} inference p95`, unique_id: uid('latency'),
      state_topic: topics.stats, value_template: `{{ ${statsCamera}.inferenceMs.p95 }}`, device_class: 'duration', unit_of_measurement: 'ms',
      suggested_display_precision: 2, ...diagnostic,
    },
    [`${id}_paused`]: {
      platform: 'binary_sensor', name: `${id} paused`, unique_id: uid('paused'), icon: 'mdi:pause-circle',
      state_topic: topics.stats, value_template: `{{ 'ON' if ${statsCamera}.paused else 'OFF' }}`, entity_category: 'diagnostic',
    },
    [`${id}_pause`]: {
      platform: 'button', name: `${id} pause`, unique_id: uid('pause'), icon: 'mdi:pause',
      command_topic: topics.command('pause'), payload_press: JSON.stringify({ camera: id }),
    },
    [`${id}_resume`]: {
      platform: 'button', name: `${id} resume`, unique_id: uid('resume'), icon: 'mdi:play',
      command_topic: topics.command('resume'), payload_press: JSON.stringify({ camera: id }),
    },
    [`${id}_fps_target`]: {
      platform: 'number', name: `${id} fps target`, unique_id: uid('fps_target'), icon: 'mdi:speedometer', entity_category: 'config',
      command_topic: topics.command('set-fps'), command_template: `{"camera": "${id}", "fps": {{ value }}}`,
      state_topic: topics.info, value_template: `{{ (value_json.cameras | selectattr('id', 'eq', '${id}') | first).fps }}`,
      min: 0.1, max: 120, step: 0.1, mode: 'box', unit_of_measurement: 'fps',
    },
  };
}

/** The model select offers the `.onnx` files of the model directory (plain names: safe inside the template). */
function modelSelect(ctx: Ctx): Record<string, Component> {
  const files = ctx.info().availableModels;
  if (files.length === 0) return {};
  return {
    model: {
      platform: 'select', name: 'model', unique_id: `edgeloom_${ctx.config.deviceId}_model`, icon: 'mdi:brain', entity_category: 'config',
      options: files, command_topic: ctx.topics.command('switch-model'), command_template: '{"model": "{{ value }}"}',
      state_topic: ctx.topics.info, value_template: "{{ value_json.model.path.split('/') | last }}",
    },
  };
}

export function discoveryPayload(ctx: Ctx): Record<string, unknown> {
  const { config, topics } = ctx;
  const cameras = ctx.info().cameras;
  const components: Record<string, Component> = {};
  for (const cam of config.cameras) Object.assign(components, cameraComponents(ctx, { id: cam.id, fps: cameras.find((c) => c.id === cam.id)?.fps ?? cam.fps }));
  components.inference_p95 = {
    platform: 'sensor', name: 'inference p95', unique_id: `edgeloom_${config.deviceId}_inference_p95`,
    state_topic: topics.stats, value_template: '{{ value_json.inferenceMs.p95 }}', device_class: 'duration', unit_of_measurement: 'ms',
    suggested_display_precision: 2, ...diagnostic,
  };
  components.reload_model = {
    platform: 'button', name: 'reload model', unique_id: `edgeloom_${config.deviceId}_reload_model`, icon: 'mdi:reload', entity_category: 'config',
    command_topic: topics.command('reload-model'), payload_press: '{}',
  };
  Object.assign(components, modelSelect(ctx));
  return {
    device: { identifiers: [`edgeloom_${config.deviceId}`], name: `edgeloom ${config.deviceId}`, manufacturer: 'edgeloom', model: 'edgeloom agent', sw_version: EDGELOOM_VERSION },
    origin: { name: 'edgeloom', sw_version: EDGELOOM_VERSION },
    availability_topic: topics.status,
    payload_available: 'online',
    payload_not_available: 'offline',
    qos: 1,
    components,
  };
}

class HomeAssistantFeature implements Feature {
  readonly name = 'home-assistant';
  private cleared = false;
  private readonly topic: string;
  private readonly onConnect = () => {
    const { enabled } = this.ctx.config.homeAssistant;
    if (!enabled && this.cleared) return;
    // An empty retained message is how MQTT deletes the retained config, and Home Assistant the device.
    const payload = enabled ? JSON.stringify(discoveryPayload(this.ctx)) : '';
    this.ctx.publisher.sendLive(this.topic, payload, { qos: 1, retain: true })
      .then((sent) => { if (sent && !enabled) this.cleared = true; })
      .catch(() => undefined);
  };

  constructor(private readonly ctx: AgentContext) {
    this.topic = homeAssistantConfigTopic(ctx.config.deviceId, ctx.config.homeAssistant.discoveryPrefix);
  }

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
  // Always created: with discovery off it only clears a config left from an earlier run.
  enabled: () => true,
  create: async (ctx) => new HomeAssistantFeature(ctx),
};
