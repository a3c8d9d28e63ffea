/**
 * @truce/runtime: settings of a Node.js process that runs a Truce server or gateway. Not for
 * libraries: V8 flags are process-wide, so only the program that owns the process applies them.
 */
export {
  boundYoungGeneration,
  semiSpaceSetAtStart,
  youngGenerationBytes,
  YOUNG_GENERATION_MB,
} from './heap.js';
