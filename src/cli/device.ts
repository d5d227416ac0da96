import { Option, type Command } from 'commander';
import { action, parseFloatOption, parseIntOption } from './output.ts';
import type { DemoOptions } from '../../device/demo.ts';

const EP_CHOICES = ['auto', 'tensorrt', 'cuda', 'coreml', 'dml', 'webgpu', 'qnn', 'cpu'];

/** `edgeloom agent | broker | demo` (owned by the device module; never loads tfjs). */
export function registerDeviceCommands(program: Command): void {
  program.command('agent')
    .description('Run the device agent: read camera frames, classify them, publish labels over MQTT')
    .option('--source <spec>', 'frame source: webcam[:DEVICE] | command:CMD | http(s)://URL | mjpeg:URL | rtsp://URL | dir:PATH | file:PATH | fashion-mnist:test')
    .option('--mqtt-url <url>', 'broker URL (mqtt://, mqtts://, ws://, wss://)')
    .option('--device-id <id>', 'device id, used in every topic')
    .option('--camera-id <id>', 'camera id for --source (default cam0)')
    .option('--fps <n>', 'maximum frames per second per camera', parseFloatOption('--fps'))
    .option('--model <file>', 'ONNX model (default models/default.onnx)')
    .option('--models-dir <dir>', 'directory switch-model loads file names from (default: the directory of --model)')
    .option('--trusted-key <pub>', 'ed25519 public key (PEM, from `edgeloom keygen`); repeatable; with it, unsigned or badly signed models are refused, also at start', (v: string, prev: string[] = []) => [...prev, v])
    .option('--config <file>', 'YAML or JSON config file (flags and EDGELOOM_* env override it)')
    .addOption(new Option('--ep <provider>', 'execution provider (auto tries what this onnxruntime build has, then cpu)').choices(EP_CHOICES))
    .option('--threads <n>', 'onnxruntime intra-op threads (0 = onnxruntime decides)', parseIntOption('--threads'))
    .option('--stats-interval <s>', 'seconds between stats messages', parseFloatOption('--stats-interval'))
    .option('--http-port <n>', 'serve /healthz and Prometheus /metrics on this port', parseIntOption('--http-port'))
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
      const { runAgentCommand } = await import('../../device/run.ts');
      await runAgentCommand(opts);
    }));

  program.command('broker')
    .description('Run an embedded MQTT broker (aedes) on TCP and WebSocket')
    .option('--port <n>', 'MQTT TCP port', parseIntOption('--port'), 1883)
    .option('--ws-port <n>', 'MQTT over WebSocket port (for browser dashboards)', parseIntOption('--ws-port'), 8083)
    .option('--host <host>', 'interface to listen on', '0.0.0.0')
    .addHelpText('after', '\nExamples:\n  $ edgeloom broker\n  $ edgeloom broker --port 1884 --ws-port 9001')
    .action(action(async (opts: { port: number; wsPort: number; host: string }) => {
      const { runBrokerCommand } = await import('../../device/run.ts');
      await runBrokerCommand(opts);
    }));

  program.command('demo')
    .description('Embedded MQTT broker plus an agent classifying the Fashion-MNIST test set: labels on edgeloom/demo/# until Ctrl-C')
    .option('--model <file>', 'ONNX model', 'models/default.onnx')
    .option('--fps <n>', 'frames per second (default 2)', parseFloatOption('--fps'))
    .option('--port <n>', 'MQTT TCP port', parseIntOption('--port'), 1883)
    .option('--ws-port <n>', 'MQTT over WebSocket port', parseIntOption('--ws-port'), 8083)
    .option('--max-frames <n>', 'stop after this many frames', parseIntOption('--max-frames'))
    .addHelpText('after', `
Examples:
  $ edgeloom demo                      # then: mosquitto_sub -h localhost -t 'edgeloom/#' -v
  $ edgeloom demo --model models/edgenet.int8.onnx --fps 10
  $ edgeloom demo --port 1884 --ws-port 9001 --max-frames 100`)
    .action(action(async (opts: DemoOptions) => {
      const { runDemoCommand } = await import('../../device/demo.ts');
      await runDemoCommand(opts);
    }));
}
