// cuBLAS and cuSOLVER are loaded when the GPU backend first calls them, not when a program starts
// (kernels/cuda_libraries.cpp says why); these say which and check that they load.
#pragma once

#include <string>
#include <vector>

namespace dlnflow::kernels {

// The sonames the GPU backend loads (those of the toolkit dlnflow was built with); none without CUDA.
std::vector<std::string> cuda_library_sonames();

// Loads them and resolves every entry point the GPU backend forwards to them; returns how many.
// Throws GpuError naming the library or symbol that fails. (Needs no GPU.)
int resolve_cuda_libraries();

}  // namespace dlnflow::kernels
