// Whether this build has CUDA and which devices it sees. Without nvcc (or linked with the
// CPU-only library) the stubs in src/core/cuda_stub.cpp say so.
#pragma once

#include <string>

namespace dlnflow {

bool cuda_compiled();
// Number of usable CUDA devices; 0 with the reason in *why when there are none.
int cuda_device_count(std::string* why = nullptr);
// Name of the calling thread's current device ("" without one).
std::string cuda_device_name();
// Makes device `index` current for the calling thread (MPI ranks share a machine's GPUs by local
// rank). False with the reason in *why when it cannot.
bool cuda_set_device(int index, std::string* why = nullptr);

}  // namespace dlnflow
