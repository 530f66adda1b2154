// The same seed gives the same problems on every machine.
export { seededRandom } from '@yunbian/common';
