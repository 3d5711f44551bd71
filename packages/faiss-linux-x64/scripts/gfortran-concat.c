/*
 * The one routine of the GNU Fortran runtime that the LAPACK inside Debian's static OpenBLAS needs
 * once faiss is linked against it: _gfortran_concat_string, the string concatenation `a // b` that
 * sgesvd, sormqr and their kin use to build the option string they pass to ilaenv. libgfortran.a
 * cannot go into a shared object (its async I/O unit uses local-exec TLS: "relocation R_X86_64_TPOFF32
 * ... can not be used when making a shared object"), and libgfortran.so.5 plus libquadmath.so.0
 * would add 3 MB and two libraries for this one copy. The semantics are those of the runtime
 * (libgfortran/intrinsics/string_intrinsics_inc.c, gfortran >= 8, where lengths are size_t): copy
 * s1 then s2 into dest, truncate at destlen, pad with blanks. scripts/build-addon fails the build if
 * the link needs any other _gfortran_ symbol.
 */
#include <stddef.h>
#include <string.h>

void _gfortran_concat_string(size_t destlen, char *dest, size_t len1, const char *s1, size_t len2,
                             const char *s2) {
  if (len1 >= destlen) {
    memcpy(dest, s1, destlen);
    return;
  }
  memcpy(dest, s1, len1);
  dest += len1;
  destlen -= len1;
  if (len2 >= destlen) {
    memcpy(dest, s2, destlen);
    return;
  }
  memcpy(dest, s2, len2);
  memset(dest + len2, ' ', destlen - len2);
}
