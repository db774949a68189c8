#include "comm.hpp"

#include <cstdlib>
#include <stdexcept>

#ifdef DLNFLOW_HAS_MPI
#include <mpi.h>
#endif

namespace dlnflow::run {

namespace {

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

}  // namespace

Comm& Comm::world() {
  static Comm comm;
  return comm;
}

bool Comm::compiled() {
#ifdef DLNFLOW_HAS_MPI
  return true;
#else
  return false;
#endif
}

Comm::Comm() {
#ifdef DLNFLOW_HAS_MPI
  if (!launched_by_mpi()) return;
  int provided = 0;
  // Only the main thread calls MPI (rank 0 computes its own chunks on another thread).
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  initialized_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
#else
  (void)launched_by_mpi;
#endif
}

Comm::~Comm() { finalize(); }

void Comm::finalize() {
#ifdef DLNFLOW_HAS_MPI
  if (initialized_ && !finalized_) MPI_Finalize();
#endif
  finalized_ = true;
}

void Comm::send(int dest, int tag, const std::vector<std::int64_t>& message) {
#ifdef DLNFLOW_HAS_MPI
  MPI_Send(message.data(), static_cast<int>(message.size()), MPI_INT64_T, dest, tag, MPI_COMM_WORLD);
#else
  (void)dest, (void)tag, (void)message;
  throw std::logic_error("dlnflow: MPI send without MPI");
#endif
}

bool Comm::probe(int* source, int* tag) {
#ifdef DLNFLOW_HAS_MPI
  int flag = 0;
  MPI_Status status;
  MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status);
  if (flag) *source = status.MPI_SOURCE, *tag = status.MPI_TAG;
  return flag != 0;
#else
  (void)source, (void)tag;
  return false;
#endif
}

std::vector<std::int64_t> Comm::receive(int source, int tag) {
#ifdef DLNFLOW_HAS_MPI
  MPI_Status status;
  MPI_Probe(source, tag, MPI_COMM_WORLD, &status);
  int count = 0;
  MPI_Get_count(&status, MPI_INT64_T, &count);
  std::vector<std::int64_t> out(static_cast<std::size_t>(count));
  MPI_Recv(out.data(), count, MPI_INT64_T, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return out;
#else
  (void)source, (void)tag;
  throw std::logic_error("dlnflow: MPI receive without MPI");
#endif
}

void Comm::broadcast(std::vector<std::int64_t>& values, int root) {
#ifdef DLNFLOW_HAS_MPI
  if (size_ == 1) return;
  std::int64_t n = static_cast<std::int64_t>(values.size());
  MPI_Bcast(&n, 1, MPI_INT64_T, root, MPI_COMM_WORLD);
  values.resize(static_cast<std::size_t>(n));
  MPI_Bcast(values.data(), static_cast<int>(n), MPI_INT64_T, root, MPI_COMM_WORLD);
#else
  (void)values, (void)root;
#endif
}

void Comm::broadcast(std::string& text, int root) {
#ifdef DLNFLOW_HAS_MPI
  if (size_ == 1) return;
  std::int64_t n = static_cast<std::int64_t>(text.size());
  MPI_Bcast(&n, 1, MPI_INT64_T, root, MPI_COMM_WORLD);
  text.resize(static_cast<std::size_t>(n));
  MPI_Bcast(text.data(), static_cast<int>(n), MPI_CHAR, root, MPI_COMM_WORLD);
#else
  (void)text, (void)root;
#endif
}

void Comm::abort(int code) {
#ifdef DLNFLOW_HAS_MPI
  if (initialized_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace dlnflow::run
