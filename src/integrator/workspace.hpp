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
  DLNFLOW_HD static Workspace measure() { return Workspace(nullptr); }
  // Hands out consecutive arrays of `base`, which holds at least the measured count.
  DLNFLOW_HD explicit Workspace(T* base) : base_(base) {}

  DLNFLOW_HD T* take(long long count) {
    T* p = base_ ? base_ + used_ : nullptr;
    used_ += count > 0 ? count : 0;
    return p;
  }
  DLNFLOW_HD long long used() const { return used_; }
  DLNFLOW_HD bool measuring() const { return base_ == nullptr; }

 private:
  T* base_;
  long long used_ = 0;
};

// Entries a layout takes: layout(ws) run on a measuring workspace.
template <class T, class Layout>
DLNFLOW_HD long long measure(Layout&& layout) {
  Workspace<T> ws = Workspace<T>::measure();
  layout(ws);
  return ws.used();
}

}  // namespace dlnflow::integrator
