/**
 * Every MQTT topic edgeloom uses, built in one place (shared by the agent and dashboards).
 * Layout: `<prefix>/<device>/...`, default prefix `edgeloom`.
 */
export const DEFAULT_TOPIC_PREFIX = 'edgeloom';
export const HOME_ASSISTANT_PREFIX = 'homeassistant';

export const COMMAND_NAMES = ['set-fps', 'pause', 'resume', 'snapshot', 'reload-model', 'switch-model'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** MQTT topic levels may not contain wildcards or separators; ids are checked once, at config time. */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export function isValidTopicId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/**
 * Topic levels right under `<prefix>/<device>/` that the device's own topics use: a camera with one
 * of these ids would publish its labels under the command subtree (`cmd/label` matches the
 * agent's own `cmd/+` subscription) or beside `status`/`info`/`stats` where subscribers to
 * `<device>/+/...` expect cameras.
 */
export const RESERVED_CAMERA_IDS = ['cmd', 'status', 'info', 'stats'] as const;
export function isReservedCameraId(id: string): boolean {
  return (RESERVED_CAMERA_IDS as readonly string[]).includes(id);
}

/** Home Assistant's device-discovery topic; the prefix is Home Assistant's `discovery_prefix`. */
export function homeAssistantConfigTopic(deviceId: string, discoveryPrefix = HOME_ASSISTANT_PREFIX): string {
  return `${discoveryPrefix}/device/${deviceId}/config`;
}

export interface Topics {
  status: string;
  info: string;
  stats: string;
  label(camera: string): string;
  /** Retained per-camera state (`CameraStatusPayload`). */
  cameraStatus(camera: string): string;
  /** Retained copy of the camera's latest label (at most one per second), for dashboards that join late. */
  lastLabel(camera: string): string;
  drift(camera: string): string;
  command(name: CommandName): string;
  commandResult(name: CommandName): string;
  /** Subscription filter for every command of this device. */
  commandFilter: string;
  /** Parses a command topic back into its name, or null. */
  parseCommand(topic: string): CommandName | null;
  homeAssistantConfig: string;
}

export function deviceTopics(deviceId: string, prefix = DEFAULT_TOPIC_PREFIX): Topics {
  const base = `${prefix}/${deviceId}`;
  const cmdBase = `${base}/cmd/`;
  return {
    status: `${base}/status`,
    info: `${base}/info`,
    stats: `${base}/stats`,
    label: (camera) => `${base}/${camera}/label`,
    cameraStatus: (camera) => `${base}/${camera}/status`,
    lastLabel: (camera) => `${base}/${camera}/last-label`,
    drift: (camera) => `${base}/${camera}/drift`,
    command: (name) => `${cmdBase}${name}`,
    commandResult: (name) => `${cmdBase}${name}/result`,
    commandFilter: `${cmdBase}+`,
    parseCommand(topic) {
      if (!topic.startsWith(cmdBase)) return null;
      const name = topic.slice(cmdBase.length);
      return (COMMAND_NAMES as readonly string[]).includes(name) ? (name as CommandName) : null;
    },
    homeAssistantConfig: homeAssistantConfigTopic(deviceId),
  };
}
