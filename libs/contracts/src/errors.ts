/**
 * Error codes carried in structured error replies over NATS and in REST error bodies, and
 * the body itself: part of the wire contract, so defined in the SDK package.
 */
export { ErrorCodes, type ErrorCode, type ErrorBody } from '../../../packages/service-sdk/src/vocabulary';
