import type { Logger } from '../src/log.ts';
import type { Topics } from '../src/mqtt/topics.ts';
import type { InfoPayload, LabelPayload } from '../src/mqtt/payloads.ts';
import type { AgentConfig } from './config.ts';
import type { DeviceMqttClient } from './mqtt/client.ts';
import type { Publisher } from './mqtt/publisher.ts';
import type { MessageQueue } from './queue/types.ts';
import type { ModelHolder } from './model-holder.ts';
import type { LoadedModel } from './model.ts';
import type { AgentStats } from './stats.ts';
import type { CameraRunner } from './camera.ts';
import type { Frame } from './sources/types.ts';

/** What a camera hands to frame observers (the drift monitor) after each successful inference. */
export interface FrameResult {
  camera: string;
  frameNo: number;
  /** The preprocessed 28x28 8-bit image the model saw. */
  pixels: Uint8Array;
  logits: Float32Array;
  embedding: Float32Array | null;
  model: LoadedModel;
  /** The frame as the source delivered it (encoded bytes, capture time): what `collect` saves. */
  frame: Frame;
  /** The label published for this frame (latencies, top-3). */
  label: LabelPayload;
}

/** The one object every part of a running agent receives (no singletons, no long argument lists). */
export interface AgentContext {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly topics: Topics;
  readonly mqtt: DeviceMqttClient;
  readonly publisher: Publisher;
  readonly queue: MessageQueue;
  readonly model: ModelHolder;
  readonly stats: AgentStats;
  readonly cameras: Map<string, CameraRunner>;
  readonly startedAt: Date;
  /** Called synchronously after every labelled frame; must be cheap and must not throw. */
  readonly frameObservers: Set<(frame: FrameResult) => void>;
  info(): InfoPayload;
  /** Publishes the retained info message again (after a model switch or fps change). */
  publishInfo(): Promise<void>;
}

/** An optional part of the agent (zigbee2mqtt-style): enabled by config, started and stopped in order. */
export interface Feature {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface FeatureDefinition {
  name: string;
  enabled(config: AgentConfig): boolean;
  create(ctx: AgentContext): Promise<Feature>;
}
