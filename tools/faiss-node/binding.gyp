{
  "targets": [
    {
      "target_name": "faiss-node",
      "sources": ["src/faiss.cc"],
      "include_dirs": ["<!(echo $ADDON_API_DIR)"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++14"],
      "cflags_cc": ["-std=c++17", "-fopenmp", "-fexceptions", "-O2", "-w", "-include", "<(module_root_dir)/faiss-compat.h"],
      "libraries": ["/usr/lib/<!(uname -m)-linux-gnu/libfaiss.a", "-lopenblas", "-lgomp", "-llapack"]
    }
  ]
}
