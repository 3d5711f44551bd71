// faiss 1.7.3 (Debian 12) names the id type faiss::Index::idx_t; faiss-node's source expects
// faiss::idx_t (faiss >= 1.7.4). Force-included into the build.
#pragma once
#include <faiss/Index.h>
#include <faiss/MetricType.h>
#if !defined(FAISS_VERSION_MINOR) || (FAISS_VERSION_MAJOR == 1 && FAISS_VERSION_MINOR == 7 && FAISS_VERSION_PATCH < 4)
namespace faiss {
using idx_t = Index::idx_t;
}
#endif
