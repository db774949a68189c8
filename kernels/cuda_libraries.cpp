// cuBLAS and cuSOLVER, loaded when the GPU path first calls them rather than when a program
// starts. Linked the usual way, the two libraries (and cuBLASLt, cuSPARSE and nvJitLink behind
// them, about a gigabyte) are mapped and relocated before main() on every start: 80 ms of a
// command that never touches a GPU (`dlnflow --help` took 0.08 s instead of 0.00 s on a 2-core
// Intel Xeon; a program linking only those two libraries, 0.07-0.10 s), a tenth of the CPU
// time of a small run, and every test of the command paid it. So dlnflow_cuda defines the few
// entry points kernels/*.cu call itself (their declarations come from the toolkit's headers, so
// the compiler checks every signature here against them), and each forwards to the real one,
// found with dlopen/dlsym by the library's soname of the toolkit dlnflow was built with (on the
// loader's path, else in that toolkit's library folder).
// A library that cannot be loaded, or lacks one of those entry points, is a GpuError naming it
// and why, thrown by the first call into it (a handle's create, inside DLNFLOW_CUDA_CHECK).
#include "cuda_libraries.hpp"

#include <cublas_v2.h>
#include <cusolverDn.h>
#include <dlfcn.h>

#include <mutex>
#include <string>
#include <vector>

#include "dlnflow/gpu_error.hpp"

namespace dlnflow::kernels {
namespace {

struct Library;
// Every forwarded entry point (filled before main by the definitions at the end of this file).
struct Forwarded {
  Library& (*lib)();
  const char* name;
};
std::vector<Forwarded>& forwarded() {
  static std::vector<Forwarded> all;
  return all;
}
struct Register {
  Register(Library& (*lib)(), const char* name) { forwarded().push_back({lib, name}); }
};

struct Library {
  explicit Library(const char* name) : soname(name) {}
  const char* soname;
  void* handle = nullptr;
  std::once_flag once;
  std::string error;

  void* open() {
    std::call_once(once, [&] {
      handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
      if (!handle) {
        const char* e = dlerror();
        error = e ? e : "unknown error";
#ifdef DLNFLOW_CUDA_LIBRARY_DIR
        // Not on the loader's path: the toolkit dlnflow was built with, where the build found it.
        handle = dlopen((std::string(DLNFLOW_CUDA_LIBRARY_DIR) + "/" + soname).c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
      }
      // Every entry point forwarded to this library is checked now, at its first use (a create
      // call inside DLNFLOW_CUDA_CHECK): a later call, a handle's destroy in a destructor
      // among them, then cannot fail to resolve.
      for (const Forwarded& f : forwarded())
        if (handle && &f.lib() == this && !dlsym(handle, f.name)) {
          error = std::string("it has no ") + f.name + " (a toolkit older than the one dlnflow was built with?)";
          dlclose(handle);
          handle = nullptr;
        }
    });
    if (!handle)
      throw GpuError(std::string("could not load ") + soname + " (the CUDA toolkit's library the GPU backend needs): " +
                     error);
    return handle;
  }
  void* symbol(const char* name) { return dlsym(open(), name); }  // checked by open()
};

#define DLNFLOW_STR2(x) #x
#define DLNFLOW_STR(x) DLNFLOW_STR2(x)
Library& cublas() {
  static Library lib("libcublas.so." DLNFLOW_STR(CUBLAS_VER_MAJOR));
  return lib;
}
Library& cusolver() {
  static Library lib("libcusolver.so." DLNFLOW_STR(CUSOLVER_VER_MAJOR));
  return lib;
}

template <class F>
F resolve(Library& lib, const char* name) {
  return reinterpret_cast<F>(lib.symbol(name));
}

}  // namespace

std::vector<std::string> cuda_library_sonames() { return {cublas().soname, cusolver().soname}; }

int resolve_cuda_libraries() {
  for (const Forwarded& f : forwarded()) f.lib().symbol(f.name);
  return static_cast<int>(forwarded().size());
}

}  // namespace dlnflow::kernels

using dlnflow::kernels::cublas;
using dlnflow::kernels::cusolver;
using dlnflow::kernels::Register;
using dlnflow::kernels::resolve;

// One forwarding definition per entry point: the real function, resolved on the first call.
// Hidden: in a shared object (the Python module) they must not stand in for the real library's
// entry points for anything else in the process (a framework that links cuBLAS itself).
#define DLNFLOW_FORWARD(lib, ret, name, params, args)                \
  static const Register register_##name(lib, #name);                 \
  extern "C" __attribute__((visibility("hidden"))) ret name params { \
    static const auto real = resolve<decltype(&name)>(lib(), #name); \
    return real args;                                                \
  }

DLNFLOW_FORWARD(cublas, cublasStatus_t, cublasCreate_v2, (cublasHandle_t * handle), (handle))
DLNFLOW_FORWARD(cublas, cublasStatus_t, cublasDestroy_v2, (cublasHandle_t handle), (handle))
DLNFLOW_FORWARD(cublas, cublasStatus_t, cublasSetStream_v2, (cublasHandle_t handle, cudaStream_t stream),
                (handle, stream))
DLNFLOW_FORWARD(cublas, const char*, cublasGetStatusString, (cublasStatus_t status), (status))
DLNFLOW_FORWARD(cublas, cublasStatus_t, cublasDgemmStridedBatched,
                (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                 const double* alpha, const double* A, int lda, long long int strideA, const double* B, int ldb,
                 long long int strideB, const double* beta, double* C, int ldc, long long int strideC, int batchCount),
                (handle, transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC,
                 batchCount))

DLNFLOW_FORWARD(cusolver, cusolverStatus_t, cusolverDnCreate, (cusolverDnHandle_t * handle), (handle))
DLNFLOW_FORWARD(cusolver, cusolverStatus_t, cusolverDnDestroy, (cusolverDnHandle_t handle), (handle))
DLNFLOW_FORWARD(cusolver, cusolverStatus_t, cusolverDnSetStream, (cusolverDnHandle_t handle, cudaStream_t stream),
                (handle, stream))
DLNFLOW_FORWARD(cusolver, cusolverStatus_t, cusolverDnCreateSyevjInfo, (syevjInfo_t * info), (info))
DLNFLOW_FORWARD(cusolver, cusolverStatus_t, cusolverDnDestroySyevjInfo, (syevjInfo_t info), (info))
DLNFLOW_FORWARD(cusolver, cusolverStatus_t, cusolverDnDsyevjBatched_bufferSize,
                (cusolverDnHandle_t handle, cusolverEigMode_t jobz, cublasFillMode_t uplo, int n, const double* A,
                 int lda, const double* W, int* lwork, syevjInfo_t params, int batchSize),
                (handle, jobz, uplo, n, A, lda, W, lwork, params, batchSize))
DLNFLOW_FORWARD(cusolver, cusolverStatus_t, cusolverDnDsyevjBatched,
                (cusolverDnHandle_t handle, cusolverEigMode_t jobz, cublasFillMode_t uplo, int n, double* A, int lda,
                 double* W, double* work, int lwork, int* info, syevjInfo_t params, int batchSize),
                (handle, jobz, uplo, n, A, lda, W, work, lwork, info, params, batchSize))
DLNFLOW_FORWARD(cusolver, cusolverStatus_t, cusolverDnCreateParams, (cusolverDnParams_t * params), (params))
DLNFLOW_FORWARD(cusolver, cusolverStatus_t, cusolverDnDestroyParams, (cusolverDnParams_t params), (params))
DLNFLOW_FORWARD(cusolver, cusolverStatus_t, cusolverDnXsyevBatched_bufferSize,
                (cusolverDnHandle_t handle, cusolverDnParams_t params, cusolverEigMode_t jobz, cublasFillMode_t uplo,
                 int64_t n, cudaDataType dataTypeA, const void* A, int64_t lda, cudaDataType dataTypeW, const void* W,
                 cudaDataType computeType, size_t* workspaceInBytesOnDevice, size_t* workspaceInBytesOnHost,
                 int64_t batchSize),
                (handle, params, jobz, uplo, n, dataTypeA, A, lda, dataTypeW, W, computeType, workspaceInBytesOnDevice,
                 workspaceInBytesOnHost, batchSize))
DLNFLOW_FORWARD(cusolver, cusolverStatus_t, cusolverDnXsyevBatched,
                (cusolverDnHandle_t handle, cusolverDnParams_t params, cusolverEigMode_t jobz, cublasFillMode_t uplo,
                 int64_t n, cudaDataType dataTypeA, void* A, int64_t lda, cudaDataType dataTypeW, void* W,
                 cudaDataType computeType, void* bufferOnDevice, size_t workspaceInBytesOnDevice, void* bufferOnHost,
                 size_t workspaceInBytesOnHost, int* info, int64_t batchSize),
                (handle, params, jobz, uplo, n, dataTypeA, A, lda, dataTypeW, W, computeType, bufferOnDevice,
                 workspaceInBytesOnDevice, bufferOnHost, workspaceInBytesOnHost, info, batchSize))
