/**
 * The reference OCR, @gutenye/ocr-node (a dev dependency), run for comparisons only: by the
 * accuracy spec and the benchmark. It is an ES module built on sharp; plain Node loads it
 * with require(), Jest's module loader cannot, so specs run it in a child Node process.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** One line of the reference's output. */
export interface ReferenceLine {
  text: string;
  mean: number;
  box?: number[][];
}

/** What the reference's `Ocr` instance offers (its typings say `Promise<any>`). */
export interface ReferenceEngine {
  /** Takes a file path or, through sharp, encoded image bytes. */
  detect(image: string | Buffer): Promise<ReferenceLine[]>;
}

interface ReferenceModule {
  default: { create(): Promise<ReferenceEngine> };
}

/** Loads the reference in this process (plain Node only, not under Jest). */
export async function createReferenceEngine(): Promise<ReferenceEngine> {
  const module = (await import('@gutenye/ocr-node')) as unknown as ReferenceModule;
  return module.default.create();
}

export interface ReferenceRun {
  lines: string[];
  /** Wall time of `detect` on the image, in the child process. */
  ms: number;
}

// Runs in the child: loads the reference once, reads every file given, prints one JSON result.
const CHILD_SCRIPT = `
const [entry, ...files] = process.argv.slice(1);
(async () => {
  const Ocr = require(entry).default;
  const ocr = await Ocr.create();
  const runs = [];
  for (const file of files) {
    const started = performance.now();
    const lines = await ocr.detect(file);
    runs.push({ lines: lines.map((line) => line.text), ms: performance.now() - started });
  }
  process.stdout.write(JSON.stringify(runs));
})().catch((err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });
`;

/** Runs the reference on image files in a child Node process, in order. */
export async function runReferenceInChildProcess(files: readonly string[]): Promise<ReferenceRun[]> {
  const entry = require.resolve('@gutenye/ocr-node');
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', CHILD_SCRIPT, entry, ...files], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(stdout) as ReferenceRun[];
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(
      `the reference OCR (@gutenye/ocr-node) failed in its child process: ${stderr || (err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}
