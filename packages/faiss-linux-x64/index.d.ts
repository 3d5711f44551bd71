// faiss-node's own declarations, copied into dist/ by scripts/build-addon.
export * from './dist/faiss-node';

/** How the addon was built (dist/build-info.json). */
export interface BuildInfo {
  /** The faiss-node version whose src/faiss.cc was compiled. */
  readonly faissNode: string;
  /** The version of Debian's libfaiss-dev linked in. */
  readonly faiss: string;
  /** The OpenBLAS version linked in (BLAS and LAPACK). */
  readonly openblas: string;
  /** The Debian package it came from: libopenblas-pthread-dev. */
  readonly openblasPackage: string;
  /** The version of the bundled libgomp.so.1. */
  readonly libgomp: string;
  readonly compiler: string;
  /** What is linked in and what is bundled. */
  readonly linked: string;
  /** The addon's NEEDED libraries. */
  readonly needed: readonly string[];
  /** The oldest glibc it loads with. */
  readonly glibc: string;
  /** Hash of the build's inputs. */
  readonly inputs: string;
}
export declare const build: BuildInfo;
