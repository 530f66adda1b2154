export * from './types';
export * from './parameters';
export * from './models';
export { decodeImage, assertRgbaImage, resizeImage, rotateImage180 } from './image';
export { detectionGeometry, prepareDetectionInput, detectText } from './detection';
export { extractTextBoxes, sortBoxes } from './boxes';
export { cropTextBoxes } from './crop';
export { classifyDirections, applyDirections } from './direction';
export {
  prepareRecognitionBatches,
  resizeForRecognition,
  runRecognition,
  decodeRecognition,
  recogniseCrops,
  type RecognitionBatch,
} from './recognition';
export { assembleLines } from './lines';
export { recognise, type RecogniseOptions, type OcrStep } from './pipeline';
export { editDistance, characterAccuracy, type AccuracyTally } from './accuracy';
export * from './wire';
