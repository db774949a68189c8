// The processes of one run. Without MPI (or not started by an MPI launcher) there is one; under
// `mpirun`/`srun` in a build with MPI, every rank of MPI_COMM_WORLD. Only small integer messages
// cross it: rank 0 hands out chunks and collects what each rank finished; the numbers themselves
// travel through the checkpoint files on the shared results folder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlnflow::run {

class Comm {
 public:
  // Initializes MPI on first use when the process was started by an MPI launcher
  // (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the environment).
  static Comm& world();
  ~Comm();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // among the ranks on this machine
  int local_size() const { return local_size_; }
  bool distributed() const { return size_ > 1; }

  void send(int dest, int tag, const std::vector<std::int64_t>& message);
  // A message waiting for this rank, without blocking: its source and tag.
  bool probe(int* source, int* tag);
  std::vector<std::int64_t> receive(int source, int tag);
  void broadcast(std::vector<std::int64_t>& values, int root);
  void broadcast(std::string& text, int root);
  [[noreturn]] void abort(int code);
  void finalize();

  static bool compiled();  // whether this build has MPI

 private:
  Comm();
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  bool initialized_ = false, finalized_ = false;
};

}  // namespace dlnflow::run
