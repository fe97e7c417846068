/**
 * Finds the prebuilt addon the npm tarball carries (prebuilds/<platform>-<arch>/, made by
 * scripts/prebuild.mjs) with node-gyp-build's own matching: platform and arch, Node-API, and
 * libc (a glibc binary never matches on musl/Alpine). Only the prebuilds/ directory is
 * searched here; addon.ts tries a local build/ after it.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { join } from 'node:path';

interface Tags { file: string }
interface Tuple { name: string }
interface GypBuild {
  parseTuple(name: string): Tuple | undefined;
  matchTuple(platform: string, arch: string): (t: Tuple | undefined) => boolean;
  compareTuples(a: Tuple, b: Tuple): number;
  parseTags(file: string): Tags | undefined;
  matchTags(runtime: string, abi: string): (t: Tags | undefined) => boolean;
  compareTags(runtime: string): (a: Tags, b: Tags) => number;
}

export interface PrebuildMatch {
  /** The binary to load, or null when none matches this platform. */
  path: string | null;
  /** Which platform directory matched, or why none did. */
  reason: string;
}

export function findPrebuild(root: string): PrebuildMatch {
  const target = `${platform()}-${arch()}`;
  const dir = join(root, 'prebuilds');
  if (!existsSync(dir)) return { path: null, reason: 'this package has no prebuilds/ (a source checkout)' };
  const gyp = createRequire(import.meta.url)('node-gyp-build') as GypBuild;
  const tuples = readdirSync(dir).map((n) => gyp.parseTuple(n))
    .filter(gyp.matchTuple(platform(), arch())) as Tuple[];
  const tuple = tuples.sort(gyp.compareTuples)[0];
  if (!tuple) {
    return { path: null, reason: `no prebuilt binary for ${target} (shipped: ${readdirSync(dir).join(', ') || 'none'})` };
  }
  const files = readdirSync(join(dir, tuple.name)).map((f) => gyp.parseTags(f))
    .filter(gyp.matchTags('node', process.versions.modules)) as Tags[];
  const winner = files.sort(gyp.compareTags('node'))[0];
  if (!winner) {
    return { path: null, reason: `prebuilds/${tuple.name} has no binary for this C library (glibc builds only; musl builds from source)` };
  }
  return { path: join(dir, tuple.name, winner.file), reason: `prebuilt binary for ${target}` };
}
