// One trajectory's scratch, described once and used twice (the two-phase pattern of CUB's
// TempStorage): a layout function takes its arrays from a Workspace; run on a measuring
// Workspace it counts the entries, run on one over a block of that size it hands out the
// pointers. The layout is then the only description of the scratch, and a size query can never
// drift from the carving it sizes.
#pragma once

#include "team.hpp"

namespace dlnflow::integrator {

template <class T>
class Workspace {
 public:
  // Counts what take() is asked for; hands out null pointers.
  DLNFLOW_HD static Workspace measure(int align = 1) { return Workspace(nullptr, align); }
  // Hands out consecutive arrays of `base`, which holds at least the measured count. Each array
  // starts at a multiple of `align` entries from base (the CPU aligns them as Eigen aligns its
  // vectors, so that Eigen's vectorized reductions sum in the same order; shared memory on the
  // GPU is too scarce to pad).
  DLNFLOW_HD explicit Workspace(T* base, int align = 1) : base_(base), align_(align > 1 ? align : 1) {}

  DLNFLOW_HD T* take(long long count) {
    used_ = (used_ + align_ - 1) / align_ * align_;
    T* p = base_ ? base_ + used_ : nullptr;
    used_ += count > 0 ? count : 0;
    return p;
  }
  DLNFLOW_HD long long used() const { return used_; }

 private:
  T* base_;
  long long align_;
  long long used_ = 0;
};

}  // namespace dlnflow::integrator
