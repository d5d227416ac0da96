import type { Command } from 'commander';
import { action, parseIntOption } from './output.ts';
import { loadDashboard } from './training.ts';

/**
 * `edgeloom dashboard`: serves the web dashboard (dashboard/). The page talks MQTT over WebSocket to
 * the broker itself, so any MQTT broker with a WebSocket listener works.
 */
export function registerDashboardCommands(program: Command): void {
  program.command('dashboard')
    .description('Serve the web dashboard: fleet status, live labels, latency, errors, drift and alerts, commands')
    .requiredOption('--mqtt-url <url>', "the broker's MQTT-over-WebSocket URL as the browser reaches it (ws://HOST:8083, wss://...)")
    .option('--port <n>', 'HTTP port', parseIntOption('--port'), 8080)
    .option('--host <host>', 'interface to listen on (0.0.0.0 for every interface)', '127.0.0.1')
    .option('--topic-prefix <prefix>', "the agents' mqtt.topicPrefix", 'edgeloom')
    .addHelpText('after', `
Examples:
  $ edgeloom dashboard --mqtt-url ws://localhost:8083
  $ edgeloom dashboard --mqtt-url wss://mqtt.example.com:8084/mqtt --host 0.0.0.0 --port 8080`)
    .action(action(async (opts: { mqttUrl: string; port: number; host: string; topicPrefix: string }) => {
      const { startDashboard } = await loadDashboard(() => import('../dashboard/server.ts'));
      const { untilStopSignal } = await import('../device/run.ts');
      const dash = await startDashboard({ mqttUrl: opts.mqttUrl, port: opts.port, host: opts.host, topicPrefix: opts.topicPrefix });
      process.stderr.write(`edgeloom dashboard: ${dash.url} (broker ${opts.mqttUrl}); Ctrl-C to stop\n`);
      await untilStopSignal(new Promise<void>(() => undefined));
      await dash.close();
    }));
}
