/**
 * The execution providers `--ep` accepts, apart from src/onnx/session.ts so that reading the list
 * (the agent's config schema, the CLI's help) loads no onnxruntime code.
 */
export const EXECUTION_PROVIDERS = ['auto', 'tensorrt', 'cuda', 'coreml', 'dml', 'webgpu', 'qnn', 'cpu', 'wasm'] as const;
export type ExecutionProviderChoice = (typeof EXECUTION_PROVIDERS)[number];

/** `auto` tries these in order, keeping only the ones this onnxruntime-node build lists; wasm if the binding cannot load. */
export const AUTO_PROVIDER_ORDER: readonly ExecutionProviderChoice[] = ['tensorrt', 'cuda', 'coreml', 'dml', 'qnn', 'cpu'];
