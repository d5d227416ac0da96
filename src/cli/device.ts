import type { Command } from 'commander';

/** `edgeloom agent | broker | demo` (owned by the device module; never loads tfjs). */
export function registerDeviceCommands(_program: Command): void {}
