import type { InferenceSession } from 'onnxruntime-node';

/**
 * How nodes create onnxruntime sessions (threads aside, which instances may set). The model
 * registry inspects every upload with the same options: graph optimisations such as
 * constant folding run at load time and can turn a model of a few hundred bytes into
 * gigabytes of tensors, so checking a model under other options would say nothing about
 * what a node will go through.
 */
export const MODEL_SESSION_OPTIONS = {
  graphOptimizationLevel: 'all',
  intraOpNumThreads: 1,
} as const satisfies InferenceSession.SessionOptions;
