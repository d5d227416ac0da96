import { Option, type Command } from 'commander';
import { action, parseFloatOption, parseIntOption } from './output.ts';
import { loadDashboard } from './training.ts';
import type { DemoCompanion, DemoOptions } from '../device/demo.ts';
import { EXECUTION_PROVIDERS } from '../src/onnx/providers.ts';
import type { EmbeddedBroker } from '../device/broker.ts';
import { BROKER_DEFAULTS } from '../device/broker-defaults.ts';
import { SOURCE_SPEC_HELP } from '../device/sources/spec.ts';
import { DEFAULT_MODEL_PATH } from '../src/defaults.ts';

/** What commander hands the `broker` action (undefined = not given: BROKER_DEFAULTS applies). */
interface BrokerCliOptions {
  host?: string;
  port?: number;
  wsPort?: number;
  ws?: boolean;
  users?: string;
  allowAnonymous?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  maxPacketBytes?: number;
  wsOrigin?: string[];
  maxConnections?: number;
  dashboard?: boolean;
  dashboardPort: number;
}

/** `edgeloom agent | broker | demo` (owned by the device module; never loads tfjs). */
export function registerDeviceCommands(program: Command): void {
  program.command('agent')
    .description('Run the device agent: read camera frames, classify them, publish labels over MQTT')
    .option('--source <spec>', `frame source: ${SOURCE_SPEC_HELP}`)
    .option('--mqtt-url <url>', 'broker URL (mqtt://, mqtts://, ws://, wss://)')
    .option('--device-id <id>', 'device id, used in every topic')
    .option('--camera-id <id>', 'camera id for --source (default cam0)')
    .option('--fps <n>', 'maximum frames per second per camera', parseFloatOption('--fps'))
    .option('--model <file>', `ONNX model (default ${DEFAULT_MODEL_PATH})`)
    .option('--models-dir <dir>', 'directory switch-model loads file names from (default: the directory of --model)')
    .option('--trusted-key <pub>', 'ed25519 public key (PEM, from `edgeloom keygen`); repeatable; with it, unsigned or badly signed models are refused, also at start',
      (v: string, prev: string[] = []) => [...prev, v])
    .option('--config <file>', 'YAML or JSON config file (flags and EDGELOOM_* env override it)')
    .addOption(new Option('--ep <provider>', 'execution provider (auto tries what this onnxruntime-node build has, then cpu; wasm where onnxruntime-node cannot load)').choices(EXECUTION_PROVIDERS))
    .option('--threads <n>', 'onnxruntime intra-op threads (0 = onnxruntime decides)', parseIntOption('--threads'))
    .option('--stats-interval <s>', 'seconds between stats messages', parseFloatOption('--stats-interval'))
    .option('--http-port <n>', 'serve /healthz and Prometheus /metrics on this port', parseIntOption('--http-port'))
    .option('--http-host <host>', 'interface for --http-port (default 127.0.0.1: this machine only)')
    .option('--queue-dir <dir>', 'store-and-forward queue directory')
    .option('--home-assistant', 'publish Home Assistant MQTT discovery')
    .option('--loop', 'restart finite sources (dir, file, fashion-mnist) at the end')
    .option('--max-frames <n>', 'stop after this many frames per camera', parseIntOption('--max-frames'))
    .addHelpText('after', `
Examples:
  $ edgeloom broker &
  $ edgeloom agent --source fashion-mnist:test --mqtt-url mqtt://localhost:1883 --device-id demo --fps 2 --loop
  $ edgeloom agent --source "command:rpicam-still -n -t 1 --width 640 --height 480 -o -" --mqtt-url mqtt://hub:1883 --device-id pi-kitchen
  $ edgeloom agent --config /etc/edgeloom/agent.yaml --ep auto --http-port 9464`)
    .action(action(async (opts: Record<string, unknown>) => {
      const { runAgentCommand } = await import('../device/run.ts');
      await runAgentCommand(opts);
    }));

  const broker = program.command('broker')
    .description('Run an embedded MQTT broker (aedes) on TCP and WebSocket; 127.0.0.1 only unless --host says otherwise')
    .option('--host <host>', `interface to listen on (default ${BROKER_DEFAULTS.host}; 0.0.0.0 = every interface, needs --users or --allow-anonymous)`)
    .option('--port <n>', `MQTT TCP port (default ${BROKER_DEFAULTS.port}, ${BROKER_DEFAULTS.tlsPort} with TLS)`, parseIntOption('--port'))
    .option('--ws-port <n>', `MQTT over WebSocket port, for browser dashboards (default ${BROKER_DEFAULTS.commandWsPort}, ${BROKER_DEFAULTS.commandTlsWsPort} with TLS)`, parseIntOption('--ws-port'))
    .option('--no-ws', 'no WebSocket listener')
    .option('--users <file>', 'require a user name and password from this file (write it with: edgeloom broker passwd FILE USER)')
    .option('--allow-anonymous', 'accept clients without a password on a non-loopback --host')
    .option('--tls-cert <file>', 'PEM certificate (chain): serve mqtts:// and wss:// instead of mqtt:// and ws://')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--max-packet-bytes <n>', `largest MQTT packet a client may send; bigger ones cut the connection (default ${BROKER_DEFAULTS.maxPacketBytes})`, parseIntOption('--max-packet-bytes'))
    .option('--ws-origin <origin>', 'also allow browser pages from this origin to connect over WebSocket (repeatable; \'*\' = any)', (v: string, all: string[] = []) => [...all, v])
    .option('--max-connections <n>', `open connections per listener (default ${BROKER_DEFAULTS.maxConnections})`, parseIntOption('--max-connections'))
    .option('--dashboard', 'also serve the web dashboard (see `edgeloom dashboard`) on the same interface')
    .option('--dashboard-port <n>', 'HTTP port of --dashboard', parseIntOption('--dashboard-port'), 8080)
    .addHelpText('after', `
Examples:
  $ edgeloom broker                                   # mqtt://127.0.0.1:1883, ws://127.0.0.1:8083
  $ edgeloom broker passwd /etc/edgeloom/broker.users agent-pi-kitchen
  $ edgeloom broker --host 0.0.0.0 --users /etc/edgeloom/broker.users \\
      --tls-cert /etc/edgeloom/broker.crt --tls-key /etc/edgeloom/broker.key   # mqtts 8883, wss 8084
  $ edgeloom broker --ws-origin https://dashboard.factory.example
  $ edgeloom broker --dashboard --dashboard-port 8080     # the web dashboard on http://127.0.0.1:8080
See docs/security.md.`)
    .action(action(async (opts: BrokerCliOptions) => {
      const { runBrokerCommand } = await import('../device/run.ts');
      const tls = opts.tlsCert !== undefined || opts.tlsKey !== undefined;
      await runBrokerCommand({
        host: opts.host,
        port: opts.port,
        wsPort: opts.ws === false ? null : opts.wsPort ?? (tls ? BROKER_DEFAULTS.commandTlsWsPort : BROKER_DEFAULTS.commandWsPort),
        users: opts.users,
        allowAnonymous: opts.allowAnonymous,
        tlsCert: opts.tlsCert,
        tlsKey: opts.tlsKey,
        maxPacketBytes: opts.maxPacketBytes,
        wsOrigins: opts.wsOrigin,
        maxConnections: opts.maxConnections,
      }, opts.dashboard ? async (b) => {
        const dash = await startDashboardFor(b, opts.host ?? BROKER_DEFAULTS.host, opts.dashboardPort);
        process.stderr.write(`edgeloom broker: dashboard on ${dash.url}\n`);
        return dash;
      } : undefined);
    }));

  broker.command('passwd')
    .description('Add or change a user in a broker password file (asks for the password, or reads one line from stdin)')
    .argument('<file>', 'password file (created with mode 0600 if missing)')
    .argument('<user>', 'user name')
    .option('--delete', 'remove the user instead')
    .addHelpText('after', `
Examples:
  $ edgeloom broker passwd broker.users dashboard             # prompts twice
  $ printf '%s\\n' "$PW" | edgeloom broker passwd broker.users agent-pi-kitchen
  $ edgeloom broker passwd broker.users old-user --delete`)
    .action(action(async (file: string, user: string, opts: { delete?: boolean }) => {
      const { runPasswdCommand } = await import('../device/broker-passwd.ts');
      await runPasswdCommand(file, user, opts);
    }));

  program.command('demo')
    .description('Embedded MQTT broker plus an agent classifying the Fashion-MNIST test set: labels on edgeloom/demo/# until Ctrl-C')
    .option('--model <file>', 'ONNX model', DEFAULT_MODEL_PATH)
    .option('--fps <n>', 'frames per second (default 2)', parseFloatOption('--fps'))
    .option('--port <n>', 'MQTT TCP port', parseIntOption('--port'), 1883)
    .option('--ws-port <n>', 'MQTT over WebSocket port', parseIntOption('--ws-port'), 8083)
    .option('--host <host>', `interface the broker listens on (default ${BROKER_DEFAULTS.host})`)
    .option('--allow-anonymous', 'needed with a non-loopback --host: the demo broker has no passwords')
    .option('--max-frames <n>', 'stop after this many frames', parseIntOption('--max-frames'))
    .option('--dashboard-port <n>', 'HTTP port of the web dashboard (0: no dashboard)', parseIntOption('--dashboard-port'), 8080)
    .addHelpText('after', `
Examples:
  $ edgeloom demo                      # then open the dashboard URL it prints, or: mosquitto_sub -h localhost -t 'edgeloom/#' -v
  $ edgeloom demo --model models/edgenet.int8.onnx --fps 10
  $ edgeloom demo --port 1884 --ws-port 9001 --max-frames 100`)
    .action(action(async (opts: DemoOptions & { dashboardPort: number }) => {
      const { runDemoCommand } = await import('../device/demo.ts');
      const dashboard: DemoCompanion | undefined = opts.dashboardPort === 0 ? undefined : async (broker) => {
        try {
          const dash = await startDashboardFor(broker, '127.0.0.1', opts.dashboardPort);
          return { lines: [`  dashboard:         ${dash.url}`], close: () => dash.close() };
        } catch (err) {
          // The demo runs without its dashboard (e.g. installed with --omit=dev): say why, once.
          return { lines: [`  (no dashboard: ${(err as Error).message.replace(/^dashboard: /, '')})`], close: async () => undefined };
        }
      };
      await runDemoCommand(opts, dashboard);
    }));
}

/** The dashboard for an embedded broker: the page reaches the broker's WebSocket port on the host that served it. */
async function startDashboardFor(broker: EmbeddedBroker, host: string, port: number) {
  if (broker.wsPort === null) throw new Error('dashboard: the broker has no WebSocket port (--ws-port)');
  const { startDashboard } = await loadDashboard(() => import('../dashboard/server.ts'));
  const wsHost = host === '0.0.0.0' || host === '::' ? '0.0.0.0' : host.includes(':') ? `[${host}]` : host;
  return startDashboard({ mqttUrl: `${broker.tls ? 'wss' : 'ws'}://${wsHost}:${broker.wsPort}`, host, port });
}
