/**
 * OpenCV (WebAssembly build, @techstark/opencv-js) behind a narrow typed surface: only the
 * calls the OCR steps make. The package's own typings (mirada) describe a browser global
 * and every OpenCV function, which would leak loose types into this library.
 */
/**
 * A plain require on purpose: the Emscripten module fills itself in after loading, so an
 * `import * as` namespace copy would miss everything, and its typings have no default export.
 * Loaded on first use, not at import: the module and its wasm heap cost about 30 MB, and
 * processes that only read the OCR service files (or host ocr-lines) never need it.
 */
let openCvLoaded: unknown;
function openCvModule(): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  openCvLoaded ??= require('@techstark/opencv-js');
  return openCvLoaded;
}

export interface OpenCvSize {
  width: number;
  height: number;
}

export interface OpenCvRotatedRect {
  center: { x: number; y: number };
  size: OpenCvSize;
  angle: number;
}

/** A matrix living in the WebAssembly heap: it must be `delete()`d. */
export interface OpenCvMat {
  readonly rows: number;
  readonly cols: number;
  readonly data: Uint8Array;
  readonly data32S: Int32Array;
  readonly data32F: Float32Array;
  roi(rect: object): OpenCvMat;
  delete(): void;
}

export interface OpenCvMatVector {
  size(): number;
  get(index: number): OpenCvMat;
  push_back(mat: OpenCvMat): void;
  delete(): void;
}

export interface OpenCv {
  Mat: {
    new (): OpenCvMat;
    new (rows: number, cols: number, type: number): OpenCvMat;
    zeros(rows: number, cols: number, type: number): OpenCvMat;
  };
  MatVector: new () => OpenCvMatVector;
  Size: new (width: number, height: number) => OpenCvSize;
  Point: new (x: number, y: number) => object;
  Scalar: new (...values: number[]) => object;
  Rect: new (x: number, y: number, width: number, height: number) => object;
  matFromArray(rows: number, cols: number, type: number, values: ArrayLike<number>): OpenCvMat;
  findContours(image: OpenCvMat, contours: OpenCvMatVector, hierarchy: OpenCvMat, mode: number, method: number): void;
  minAreaRect(points: OpenCvMat): OpenCvRotatedRect;
  fillPoly(image: OpenCvMat, polygons: OpenCvMatVector, color: object): void;
  mean(image: OpenCvMat, mask: OpenCvMat): number[];
  getPerspectiveTransform(from: OpenCvMat, to: OpenCvMat): OpenCvMat;
  getRotationMatrix2D(center: object, angle: number, scale: number): OpenCvMat;
  warpPerspective(
    source: OpenCvMat,
    target: OpenCvMat,
    matrix: OpenCvMat,
    size: OpenCvSize,
    flags: number,
    borderMode: number,
    borderValue: object,
  ): void;
  warpAffine(
    source: OpenCvMat,
    target: OpenCvMat,
    matrix: OpenCvMat,
    size: OpenCvSize,
    flags: number,
    borderMode: number,
    borderValue: object,
  ): void;
  resize(source: OpenCvMat, target: OpenCvMat, size: OpenCvSize, fx: number, fy: number, interpolation: number): void;
  CV_8UC1: number;
  CV_8UC4: number;
  CV_32SC2: number;
  CV_32FC1: number;
  CV_32FC2: number;
  CV_64FC1: number;
  RETR_LIST: number;
  CHAIN_APPROX_SIMPLE: number;
  INTER_AREA: number;
  INTER_CUBIC: number;
  WARP_INVERSE_MAP: number;
  BORDER_REPLICATE: number;
}

interface EmscriptenModule {
  Mat?: unknown;
  onRuntimeInitialized?: () => void;
}

let ready: Promise<void> | undefined;

function whenReady(): Promise<void> {
  ready ??= new Promise<void>((resolve) => {
    const module = openCvModule() as EmscriptenModule;
    if (module.Mat) resolve();
    else module.onRuntimeInitialized = () => resolve();
  });
  return ready;
}

/**
 * Runs `work` with OpenCV once its WebAssembly runtime is up; every Mat passed to `keep`
 * is deleted afterwards, also on errors, so the wasm heap does not leak.
 *
 * The module object itself is never returned from a promise: Emscripten gives it a
 * `then` method, and resolving a promise with it never settles.
 */
export async function withOpenCv<T>(work: (cv: OpenCv, keep: <M extends Deletable>(mat: M) => M) => T): Promise<T> {
  await whenReady();
  const owned: Deletable[] = [];
  try {
    return work(openCvModule() as OpenCv, (mat) => {
      owned.push(mat);
      return mat;
    });
  } finally {
    for (const mat of owned) mat.delete();
  }
}

interface Deletable {
  delete(): void;
}
