// A team of std::threads meeting at a std::barrier: runs the device code on the host with
// several members, so that its split of work and every barrier are exercised without a GPU
// (the host emulation and the device-math tests). Host-only (C++20), never seen by nvcc.
#pragma once

#include <barrier>
#include <thread>
#include <vector>

#include "team.cuh"

namespace dlnflow::device {

struct ThreadTeam {
  int r, s;
  std::barrier<>* b;
  int rank() const { return r; }
  int size() const { return s; }
  void sync() const { b->arrive_and_wait(); }
};

// Runs body(team) on `members` threads forming one team (a HostTeam when members == 1).
template <class Body>
void on_team(int members, Body&& body) {
  if (members <= 1) return body(HostTeam{});
  std::barrier<> barrier(members);
  std::vector<std::thread> threads;
  for (int r = 0; r < members; ++r) threads.emplace_back([&, r] { body(ThreadTeam{r, members, &barrier}); });
  for (auto& t : threads) t.join();
}

}  // namespace dlnflow::device
