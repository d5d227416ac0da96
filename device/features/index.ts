import type { FeatureDefinition } from '../context.ts';
import { cameraStatusFeature } from './camera-status.ts';
import { collectFeature } from './collect.ts';
import { commandsFeature } from './commands.ts';
import { driftFeature } from './drift.ts';
import { homeAssistantFeature } from './home-assistant.ts';
import { httpFeature } from './http.ts';
import { lastLabelFeature } from './last-label.ts';
import { statsFeature } from './stats.ts';

/** Every optional feature, in start order (stopped in reverse). Add new ones here. */
export const FEATURES: readonly FeatureDefinition[] = [commandsFeature, cameraStatusFeature, statsFeature, homeAssistantFeature, httpFeature, driftFeature, lastLabelFeature, collectFeature];
