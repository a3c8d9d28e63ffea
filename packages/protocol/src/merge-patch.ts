/**
 * JSON Merge Patch (RFC 7396).
 */
import type { JsonObject, JsonValue } from './json.js';
import { cloneJson, defineMember, isJsonObject, ownMember } from './json.js';

/**
 * Applies a JSON Merge Patch: members of an object patch replace the target's members, `null`
 * removes them, nested objects merge recursively, and any other patch (an array, a string, ...)
 * replaces the target whole.
 *
 * Neither input is changed, and the result shares no objects or arrays with them. Keys such as
 * `__proto__` become ordinary members; they never change a prototype.
 */
export function applyMergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  // RFC 7396 section 2, MergePatch(Target, Patch):
  //   if Patch is an Object:
  //     if Target is not an Object: Target = {}
  //     for each Name/Value pair in Patch:
  //       if Value is null: if Name exists in Target: remove the Name/Value pair from Target
  //       else: Target[Name] = MergePatch(Target[Name], Value)
  //     return Target
  //   else: return Patch
  if (!isJsonObject(patch)) return cloneJson(patch);
  const result: JsonObject = isJsonObject(target) ? cloneJson(target) : {};
  for (const name of Object.keys(patch)) {
    const value = patch[name] as JsonValue;
    if (value === null) {
      delete result[name];
    } else {
      // A member missing from Target merges like a non-object Target: into a fresh {}.
      defineMember(result, name, applyMergePatch(ownMember(result, name) ?? null, value));
    }
  }
  return result;
}
