// The batched path (see batched_deep.hpp). Products are cuBLAS strided-batched GEMMs whose
// operands sit at the same offset in every trajectory's slice (stride = one trajectory's
// entries; stride 0 broadcasts the loss data); the elementwise stage combinations and the
// per-trajectory divergence checks are small kernels; one whole step is captured as a CUDA
// Graph and replayed, so a step costs one launch however many GEMMs it holds.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cub/block/block_reduce.cuh>

#include <algorithm>
#include <cmath>
#include <string>

#include "batched_deep.hpp"
#include "dlnflow/codes.hpp"
#include "integrator/step_control.hpp"
#include "integrator/steppers.hpp"
#include "cuda_handles.hpp"
#include "dlnflow/gpu_error.hpp"

namespace dlnflow::kernels {
namespace {

// A code as the output block stores it (doubles).
__host__ __device__ inline double code(Status s) { return static_cast<double>(static_cast<int>(s)); }
__host__ __device__ inline double code(StopReason r) { return static_cast<double>(static_cast<int>(r)); }

constexpr int kThreads = 256;
unsigned blocks_for(size_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }
// The per-trajectory reductions (one block of kThreads per trajectory).
using BlockSum = cub::BlockReduce<double, kThreads>;

// G_b -= C (C broadcast to every trajectory), or with a scale: A_b += s C.
__global__ void add_broadcast(size_t total, int m, double* G, double s, const double* C) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < total) G[i] += s * C[i % m];
}

__global__ void negate(size_t total, double* x) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < total) x[i] = -x[i];
}

// Vs_b = V_b diag(w_b^{-1/2}) (eigenvectors in the columns of V); a non-positive eigenvalue
// marks the trajectory failed (its matrix was not positive definite).
__global__ void inv_sqrt_scale(size_t total, int d, const double* V, const double* w, double* Vs, unsigned char* failed) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= total) return;
  const size_t b = i / (static_cast<size_t>(d) * d);
  const int col = static_cast<int>((i % (static_cast<size_t>(d) * d)) / d);
  const double lam = w[b * d + col];
  if (!(lam > 0)) failed[b] = 1;
  Vs[i] = lam > 0 ? V[i] / std::sqrt(lam) : 0.0;
}

__global__ void minus_identity(size_t total, int d, double* T) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= total) return;
  const size_t e = i % (static_cast<size_t>(d) * d);
  if (e % d == e / d) T[i] -= 1.0;
}

__global__ void mark_info(int batch, const int* info, unsigned char* failed) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b < batch && info[b] != 0) failed[b] = 1;
}

// One block per trajectory: accept y1 if finite and bounded, else freeze the trajectory as
// diverged at t1; failures from the eigensolver freeze it as failed.
__global__ void accept(int n, double* y, const double* y1, unsigned char* active, const unsigned char* failed,
                       double* header, int stride, double t0, double t1, double blowup) {
  const size_t b = blockIdx.x;
  if (!active[b]) return;
  int mine = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    if (!(std::fabs(y1[b * n + i]) <= blowup)) mine = 1;  // NaN fails the comparison too
  const int bad = __syncthreads_or(mine);
  double* h = header + b * stride;
  if (failed[b]) {
    if (threadIdx.x == 0)  // status failed at the last good time, reason: a matrix function
      active[b] = 0, h[OutputLayout::kStatus] = code(Status::Failed), h[OutputLayout::kTEnd] = t0,
      h[OutputLayout::kReason] = code(StopReason::MatrixFunction);
    return;
  }
  if (bad) {
    if (threadIdx.x == 0)  // status diverged at t1, reason: not finite or beyond blowup_norm
      active[b] = 0, h[OutputLayout::kStatus] = code(Status::Diverged), h[OutputLayout::kTEnd] = t1,
      h[OutputLayout::kReason] = code(StopReason::NotFinite);
    return;
  }
  for (int i = threadIdx.x; i < n; i += blockDim.x) y[b * n + i] = y1[b * n + i];
  if (threadIdx.x == 0) h[OutputLayout::kSteps] += 1.0, h[OutputLayout::kTEnd] = t1;
}

// One block per trajectory: sum of products of two slices (for the loss values).
__global__ void __launch_bounds__(kThreads) slice_dot(int m, const double* x, const double* z, double* out, double scale,
                                                      double add) {
  __shared__ typename BlockSum::TempStorage storage;
  const size_t b = blockIdx.x;
  double s = 0;
  for (int i = threadIdx.x; i < m; i += blockDim.x) s += x[b * m + i] * z[b * m + i];
  const double total = BlockSum(storage).Sum(s);
  if (threadIdx.x == 0) out[b] = scale * total + add;
}

__global__ void init_headers(int B, double* out, int stride) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  double* h = out + static_cast<size_t>(b) * stride;
  for (int i = 0; i < OutputLayout::kHeaderSize; ++i) h[i] = 0;
}

// Final loss and the CPU's evaluation count. Fixed steps: one evaluation at the start, `stages`
// per accepted step (the last is the evaluation at the new state) and the stages before the
// check of a step that diverged. Dormand-Prince: one at the start, one for the starting step
// unless given, six per attempted step (FSAL), rejected ones included.
__global__ void finish_headers(int B, double* out, int stride, const double* loss, Method method, bool starting_eval) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  double* h = out + static_cast<size_t>(b) * stride;
  const Status status = static_cast<Status>(static_cast<int>(h[OutputLayout::kStatus]));
  const double steps = h[OutputLayout::kSteps], rejected = h[OutputLayout::kRejected];
  if (method == Method::DormandPrince54) {
    h[OutputLayout::kRhsEvals] = 1 + (starting_eval ? 1 : 0) + 6 * (steps + rejected);
  } else {
    const int stages = method == Method::RK4 ? 4 : 1;
    h[OutputLayout::kRhsEvals] = 1 + stages * steps + (status == Status::Diverged ? stages - 1 : 0);
  }
  h[OutputLayout::kFinalLoss] = status != Status::Diverged && status != Status::Failed ? loss[b] : NAN;
  h[OutputLayout::kFinalRank] = -1;  // the host fills it in (src/gpu/batch.cpp): no batched SVD here
  h[OutputLayout::kFinalCritical] = -1;
  h[OutputLayout::kFinalCriticalDistance] = NAN;
}

// One row of a tableau (integrator/tableaux.hpp) with its stage vectors: the nonzero
// coefficients in order.
struct Row {
  int count = 0;
  double c[integrator::kMaxStages] = {};
  const double* k[integrator::kMaxStages] = {};
  double divisor = 1;
};
Row row(const double* coef, int count, double divisor, const double* const* k) {
  Row r;
  for (int j = 0; j < count; ++j)
    if (coef[j] != 0) r.c[r.count] = coef[j], r.k[r.count++] = k[j];
  r.divisor = divisor;
  return r;
}

// out_b = (y_b or 0) + the row's increment with the step of each trajectory (h_each) or one step
// for all (h), rounded as integrator::combine rounds it on every other backend; a frozen
// trajectory keeps y (so that its stages stay finite).
__global__ void stage_combine(size_t total, int n, double* out, const double* y, const double* h_each, double h, Row r,
                              const unsigned char* active) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= total) return;
  const size_t b = i / n;
  if (!active[b]) {
    out[i] = y ? y[i] : 0.0;
    return;
  }
  const double hb = h_each ? h_each[b] : h;
  double v;
  if (r.count == 1 && r.divisor == 1) {
    v = (hb * r.c[0]) * r.k[0][i];
  } else {
    double acc = r.c[0] * r.k[0][i];
    for (int j = 1; j < r.count; ++j) acc = acc + r.c[j] * r.k[j][i];
    v = (r.divisor == 1 ? hb : hb / r.divisor) * acc;
  }
  out[i] = y ? y[i] + v : v;
}

// One block per trajectory: the adaptive pair's scaled error norm (integrator/steppers.hpp error_norm).
__global__ void __launch_bounds__(kThreads) batch_error_norm(int n, const double* err, const double* y0, const double* y1,
                                                             integrator::StepConfig c, double* out) {
  __shared__ typename BlockSum::TempStorage storage;
  const size_t b = blockIdx.x;
  double sum = 0;
  int bad = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const double q2 = integrator::scaled_error_sq(c, err[b * n + i], y0[b * n + i], y1[b * n + i]);
    if (q2 < 0.0) bad = 1;
    else sum += q2;
  }
  const int any_bad = __syncthreads_or(bad);
  const double total = BlockSum(storage).Sum(sum);
  if (threadIdx.x == 0) out[b] = any_bad ? INFINITY : integrator::error_from_sum(total, n);
}

// Per trajectory: the starting step from the three norms (integrator/steppers.hpp starting_step).
__global__ void starting_steps(int B, integrator::StepConfig c, double t_span, const double* d0, const double* d1,
                               double* h0, bool second, const double* d2, integrator::StepClock<double>* clock) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  if (!second) {
    h0[b] = integrator::first_guess(d0[b], d1[b], t_span);
    return;
  }
  clock[b] = integrator::StepClock<double>{};
  clock[b].h = c.dt_initial > 0 ? c.dt_initial : integrator::starting_step(c, h0[b], d1[b], d2[b] / h0[b], t_span);
}

// Per trajectory: whether it may step and the size (integrator/step_control.hpp plan_step); a trajectory
// whose step collapsed or that reached max_steps is frozen with that status.
__global__ void plan_steps(int B, integrator::StepConfig c, long long max_steps, double t_final,
                           const integrator::StepClock<double>* clock, double* hs, unsigned char* last,
                           unsigned char* active, double* header, int stride) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B || !active[b]) return;
  double h = 0;
  bool l = false;
  const integrator::StepPlan p = integrator::plan_step(c, max_steps, t_final, clock[b], h, l);
  hs[b] = h, last[b] = l;
  if (p == integrator::StepPlan::Go) return;
  double* hd = header + static_cast<size_t>(b) * stride;
  active[b] = 0;
  hd[OutputLayout::kTEnd] = clock[b].t;
  hd[OutputLayout::kStatus] = code(p == integrator::StepPlan::Underflow ? Status::StepUnderflow : Status::MaxSteps);
  if (p == integrator::StepPlan::Underflow)
    hd[OutputLayout::kReason] = code(StopReason::StepCollapsed), hd[OutputLayout::kReasonValue] = clock[b].h;
}

// One block per trajectory: accept or reject the step (integrator/step_control.hpp conclude_step); an
// accepted state must be finite and bounded; failures of the eigensolver freeze it as failed.
__global__ void conclude_steps(int n, integrator::StepConfig c, double t_final, double blowup,
                               integrator::StepClock<double>* clock, const double* hs, const unsigned char* last,
                               const double* err, double* y, const double* y1, double* f0, const double* f1,
                               unsigned char* active, const unsigned char* failed, double* header, int stride,
                               int* remaining) {
  const size_t b = blockIdx.x;
  if (!active[b]) return;
  double* hd = header + b * stride;
  if (failed[b]) {
    if (threadIdx.x == 0)
      active[b] = 0, hd[OutputLayout::kStatus] = code(Status::Failed), hd[OutputLayout::kTEnd] = clock[b].t,
      hd[OutputLayout::kReason] = code(StopReason::MatrixFunction);
    return;
  }
  integrator::StepClock<double> k = clock[b];  // every thread decides the same
  const bool accepted = integrator::conclude_step(c, t_final, hs[b], last[b] != 0, err[b], k);
  int mine = 0;
  if (accepted)
    for (int i = threadIdx.x; i < n; i += blockDim.x)
      if (!(std::fabs(y1[b * n + i]) <= blowup)) mine = 1;
  const int bad = __syncthreads_or(mine);
  if (accepted && !bad)
    for (int i = threadIdx.x; i < n; i += blockDim.x) y[b * n + i] = y1[b * n + i], f0[b * n + i] = f1[b * n + i];
  if (threadIdx.x != 0) return;
  clock[b] = k;
  hd[OutputLayout::kSteps] = static_cast<double>(k.steps), hd[OutputLayout::kRejected] = static_cast<double>(k.rejected);
  hd[OutputLayout::kTEnd] = k.t;
  bool done = false;
  if (accepted && bad) hd[OutputLayout::kStatus] = code(Status::Diverged), hd[OutputLayout::kReason] = code(StopReason::NotFinite), done = true;
  else if (accepted && !(k.t < t_final)) hd[OutputLayout::kStatus] = code(Status::Completed), done = true;
  if (done) active[b] = 0;
  else atomicAdd(remaining, 1);
}

__global__ void copy_states(size_t total, int n, const double* y, double* out, int stride) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < total) out[(i / n) * stride + OutputLayout::kHeaderSize + i % n] = y[i];
}

__global__ void fill_value(int B, double* x, double v) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < B) x[i] = v;
}

__global__ void add_vectors(int B, const double* a, const double* b, double* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < B) out[i] = a[i] + b[i];
}

class Batch {
 public:
  Batch(const PackedRun& run, size_t B, const double* values) : run_(run), f_(run.flow), B_(B) {
    DLNFLOW_CUDA_CHECK(cublasCreate(blas_.out()));
    DLNFLOW_CUDA_CHECK(cudaStreamCreate(stream_.out()));
    DLNFLOW_CUDA_CHECK(cublasSetStream(blas_.get(), stream_.get()));
    const int d0 = f_.widths[0], N = f_.depth, n = f_.state;
    int stack = 0;
    for (int j = 1; j <= N; ++j) offset_[j] = j == 1 ? 0 : offset_[j - 1] + f_.widths[j - 1] * f_.widths[j - 2];
    for (int j = 1; j <= N; ++j) stack_off_[j] = stack, stack += f_.widths[j] * d0;
    stack_ = stack;
    prefix_.reset(B * stack), back_.reset(B * stack), G_.reset(B * rc());
    for (auto* v : {&y_, &y1_, &f0_, &k2_, &k3_, &k4_, &tmp_}) v->reset(B * n);
    if (run.config.step.method == Method::DormandPrince54)
      for (auto* v : {&k5_, &k6_, &f1_, &err_}) v->reset(B * n);
    active_.reset(B), failed_.reset(B);
    DLNFLOW_CUDA_CHECK(cudaMemset(active_.p, 1, B));
    DLNFLOW_CUDA_CHECK(cudaMemset(failed_.p, 0, B));
    auto at = [&](long long o) { return o < 0 ? nullptr : values + o; };
    cxx_ = at(run.cxx), cyx_ = at(run.cyx), w_opt_ = at(run.w_opt), s0_ = at(run.sigma0), sq_ = at(run.sqrt_sigma0);
    if (bw()) {
      const int d = f_.rows;
      M_.reset(B * rc()), A_.reset(B * d * d), R_.reset(B * d * d), T_.reset(B * d * d), Vs_.reset(B * d * d);
      ev_.reset(B * d);
      info_.reset(B);
      DLNFLOW_CUDA_CHECK(cusolverDnCreate(solver_.out()));
      DLNFLOW_CUDA_CHECK(cusolverDnSetStream(solver_.get(), stream_.get()));
      if (d <= 32) {
        DLNFLOW_CUDA_CHECK(cusolverDnCreateSyevjInfo(syevj_.out()));
        int lwork = 0;
        DLNFLOW_CUDA_CHECK(cusolverDnDsyevjBatched_bufferSize(solver_.get(), CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, d, A_.p, d,
                                              ev_.p, &lwork, syevj_.get(), static_cast<int>(B)));
        work_.reset(lwork);
        lwork_ = lwork;
      } else {
        DLNFLOW_CUDA_CHECK(cusolverDnCreateParams(params_.out()));
        size_t dev_bytes = 0, host_bytes = 0;
        DLNFLOW_CUDA_CHECK(cusolverDnXsyevBatched_bufferSize(solver_.get(), params_.get(), CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, d,
                                             CUDA_R_64F, A_.p, d, CUDA_R_64F, ev_.p, CUDA_R_64F, &dev_bytes,
                                             &host_bytes, static_cast<int64_t>(B)));
        work_.reset(dev_bytes / sizeof(double) + 1);
        xdev_bytes_ = dev_bytes;
        xhost_.resize(host_bytes + 1);
      }
    } else {
      M_.reset(B * rc());  // D = W - W* and D Cxx for the loss value
      A_.reset(B * rc());
    }
    loss_.reset(B);
  }
  double* y() { return y_.p; }

  // Integrates every step; writes headers, final states and losses into the device `out`.
  void run(const std::vector<double>& steps, double* out, int stride) {
    const int n = f_.state;
    init_headers<<<blocks_for(B_), kThreads, 0, stream_.get()>>>(static_cast<int>(B_), out, stride);
    DLNFLOW_CUDA_CHECK(cudaGetLastError());
    rhs(y_.p, f0_.p);
    if (run_.config.step.method == Method::DormandPrince54) {
      run_adaptive(out, stride);
    } else {
      run_fixed(steps, out, stride);
    }
    final_loss();
    finish_headers<<<blocks_for(B_), kThreads, 0, stream_.get()>>>(static_cast<int>(B_), out, stride, loss_.p,
                                                             run_.config.step.method,
                                                             !(run_.config.step.dt_initial > 0));
    DLNFLOW_CUDA_CHECK(cudaGetLastError());
    copy_states<<<blocks_for(B_ * n), kThreads, 0, stream_.get()>>>(B_ * n, n, y_.p, out, stride);
    DLNFLOW_CUDA_CHECK(cudaGetLastError());
    DLNFLOW_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  }

 private:
  void run_fixed(const std::vector<double>& steps, double* out, int stride) {
    const int n = f_.state;
    double t = 0, c = 0;  // the CPU's Kahan clock
    double graph_h = -1;
    for (size_t s = 0; s < steps.size(); ++s) {
      const double h = steps[s], t0 = t;
      const double yk = h - c, sk = t + yk;
      c = (sk - t) - yk;
      t = s + 1 == steps.size() ? run_.config.t_final : sk;
      // BW steps call cuSOLVER, which is not captured: they run eagerly.
      if (!bw() && h == graph_h) {
        DLNFLOW_CUDA_CHECK(cudaGraphLaunch(graph_exec_.get(), stream_.get()));
      } else if (!bw() && s + 1 < steps.size()) {
        graph_exec_.reset();
        Graph graph;
        DLNFLOW_CUDA_CHECK(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeThreadLocal));
        step(h);
        DLNFLOW_CUDA_CHECK(cudaStreamEndCapture(stream_.get(), graph.out()));
        DLNFLOW_CUDA_CHECK(cudaGraphInstantiate(graph_exec_.out(), graph.get(), 0));
        graph_h = h;
        DLNFLOW_CUDA_CHECK(cudaGraphLaunch(graph_exec_.get(), stream_.get()));
      } else {
        step(h);
      }
      accept<<<static_cast<unsigned>(B_), 128, 0, stream_.get()>>>(n, y_.p, y1_.p, active_.p, failed_.p, out, stride, t0, t,
                                                                run_.config.blowup_norm);
      DLNFLOW_CUDA_CHECK(cudaGetLastError());
      rhs(y_.p, f0_.p);  // rhs at the accepted state: the next step's first stage
    }
  }

  // The adaptive pair with a step size per trajectory: all trajectories take their own step in
  // lockstep iterations; the controller (integrator/step_control.hpp) accepts, rejects or
  // freezes each. The stages are the tableau's rows (integrator/tableaux.hpp).
  void run_adaptive(double* out, int stride) {
    const integrator::Tableau t = integrator::tableau(Method::DormandPrince54);
    const int n = f_.state, B = static_cast<int>(B_);
    const size_t total = B_ * n;
    const unsigned g = blocks_for(total), gb = blocks_for(B_);
    const integrator::StepConfig& c = run_.config.step;
    const double Tf = run_.config.t_final;
    DeviceBuffer<integrator::StepClock<double>> clock(B_);
    DeviceBuffer<double> hs(B_), err(B_), d0(B_), d1(B_), d2(B_), h0(B_), ones(B_);
    DeviceBuffer<unsigned char> last(B_);
    DeviceBuffer<int> remaining(1);
    fill_value<<<gb, kThreads, 0, stream_.get()>>>(B, ones.p, 1.0);
    // Starting step: norms of y0 and f0, one trial evaluation, the norm of the difference.
    batch_error_norm<<<B, kThreads, 0, stream_.get()>>>(n, y_.p, y_.p, y_.p, c, d0.p);
    batch_error_norm<<<B, kThreads, 0, stream_.get()>>>(n, f0_.p, y_.p, y_.p, c, d1.p);
    starting_steps<<<gb, kThreads, 0, stream_.get()>>>(B, c, Tf, d0.p, d1.p, h0.p, false, nullptr, nullptr);
    if (!(c.dt_initial > 0)) {
      const double one[1] = {1.0}, difference[2] = {1.0, -1.0};
      const double* f0[1] = {f0_.p};
      const double* k2_f0[2] = {k2_.p, f0_.p};
      stage_combine<<<g, kThreads, 0, stream_.get()>>>(total, n, tmp_.p, y_.p, h0.p, 0, row(one, 1, 1, f0), active_.p);
      rhs(tmp_.p, k2_.p);
      stage_combine<<<g, kThreads, 0, stream_.get()>>>(total, n, err_.p, nullptr, ones.p, 0, row(difference, 2, 1, k2_f0),
                                                  active_.p);
      batch_error_norm<<<B, kThreads, 0, stream_.get()>>>(n, err_.p, y_.p, y_.p, c, d2.p);
    }
    starting_steps<<<gb, kThreads, 0, stream_.get()>>>(B, c, Tf, d0.p, d1.p, h0.p, true, d2.p, clock.p);
    DLNFLOW_CUDA_CHECK(cudaGetLastError());
    if (!(Tf > 0)) return;  // nothing to integrate: every trajectory completes at t = 0
    // k_1 .. k_7 of a step: f(y), the stages, and f(y1) (FSAL).
    const double* k[integrator::kMaxStages] = {f0_.p, k2_.p, k3_.p, k4_.p, k5_.p, k6_.p, f1_.p};
    double* stage[integrator::kMaxStages] = {nullptr, k2_.p, k3_.p, k4_.p, k5_.p, k6_.p, f1_.p};
    for (;;) {
      plan_steps<<<gb, kThreads, 0, stream_.get()>>>(B, c, run_.config.max_steps, Tf, clock.p, hs.p, last.p, active_.p, out,
                                               stride);
      const unsigned char* a = active_.p;
      for (int i = 1; i < t.stages - 1; ++i) {
        stage_combine<<<g, kThreads, 0, stream_.get()>>>(total, n, tmp_.p, y_.p, hs.p, 0, row(t.a[i], i, t.a_divisor[i], k), a);
        rhs(tmp_.p, stage[i]);
      }
      stage_combine<<<g, kThreads, 0, stream_.get()>>>(total, n, y1_.p, y_.p, hs.p, 0, row(t.b, t.stages - 1, t.b_divisor, k), a);
      rhs(y1_.p, f1_.p);
      stage_combine<<<g, kThreads, 0, stream_.get()>>>(total, n, err_.p, nullptr, hs.p, 0, row(t.e, t.stages, 1, k), a);
      batch_error_norm<<<B, kThreads, 0, stream_.get()>>>(n, err_.p, y_.p, y1_.p, c, err.p);
      DLNFLOW_CUDA_CHECK(cudaMemsetAsync(remaining.p, 0, sizeof(int), stream_.get()));
      conclude_steps<<<B, 128, 0, stream_.get()>>>(n, c, Tf, run_.config.blowup_norm, clock.p, hs.p, last.p, err.p, y_.p,
                                             y1_.p, f0_.p, f1_.p, active_.p, failed_.p, out, stride, remaining.p);
      DLNFLOW_CUDA_CHECK(cudaGetLastError());
      int left = 0;
      DLNFLOW_CUDA_CHECK(cudaMemcpyAsync(&left, remaining.p, sizeof(int), cudaMemcpyDeviceToHost, stream_.get()));
      DLNFLOW_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
      if (left == 0) break;
    }
  }

  int rc() const { return f_.rows * f_.cols; }
  bool bw() const { return f_.loss == device::LossKind::BuresWasserstein; }


  // C_b = op(A_b) op(B_b) * alpha + beta C_b over the batch.
  void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, double alpha, const double* A, int lda,
            long long sa, const double* Bm, int ldb, long long sb, double beta, double* C, int ldc, long long sc) {
    DLNFLOW_CUDA_CHECK(cublasDgemmStridedBatched(blas_.get(), ta, tb, m, n, k, &alpha, A, lda, sa, Bm, ldb, sb, &beta, C, ldc, sc,
                                 static_cast<int>(B_)));
  }

  // dstate = -grad over the batch (src/cpu/model.cpp rhs_deep, one GEMM per product for all).
  void rhs(const double* Y, double* F) {
    const int N = f_.depth, d0 = f_.widths[0], n = f_.state;
    const auto opN = CUBLAS_OP_N, opT = CUBLAS_OP_T;
    DLNFLOW_CUDA_CHECK(cudaMemcpy2DAsync(prefix_.p, sizeof(double) * stack_, Y, sizeof(double) * n, sizeof(double) * f_.widths[1] * d0,
                         B_, cudaMemcpyDeviceToDevice, stream_.get()));
    for (int j = 2; j <= N; ++j)
      gemm(opN, opN, f_.widths[j], d0, f_.widths[j - 1], 1.0, Y + offset_[j], f_.widths[j], n,
           prefix_.p + stack_off_[j - 1], f_.widths[j - 1], stack_, 0.0, prefix_.p + stack_off_[j], f_.widths[j],
           stack_);
    const double* W = prefix_.p + stack_off_[N];
    loss_gradient(W, stack_);
    // back_N = G, back_j = W_{j+1}^T back_{j+1}
    DLNFLOW_CUDA_CHECK(cudaMemcpy2DAsync(back_.p + stack_off_[N], sizeof(double) * stack_, G_.p, sizeof(double) * rc(),
                         sizeof(double) * rc(), B_, cudaMemcpyDeviceToDevice, stream_.get()));
    for (int j = N - 1; j >= 1; --j)
      gemm(opT, opN, f_.widths[j], d0, f_.widths[j + 1], 1.0, Y + offset_[j + 1], f_.widths[j + 1], n,
           back_.p + stack_off_[j + 1], f_.widths[j + 1], stack_, 0.0, back_.p + stack_off_[j], f_.widths[j], stack_);
    for (int j = 1; j <= N; ++j) {
      if (j == 1) {
        DLNFLOW_CUDA_CHECK(cudaMemcpy2DAsync(F, sizeof(double) * n, back_.p, sizeof(double) * stack_,
                             sizeof(double) * f_.widths[1] * d0, B_, cudaMemcpyDeviceToDevice, stream_.get()));
      } else {
        gemm(opN, opT, f_.widths[j], f_.widths[j - 1], d0, 1.0, back_.p + stack_off_[j], f_.widths[j], stack_,
             prefix_.p + stack_off_[j - 1], f_.widths[j - 1], stack_, 0.0, F + offset_[j], f_.widths[j], n);
      }
    }
    negate<<<blocks_for(B_ * n), kThreads, 0, stream_.get()>>>(B_ * n, F);
    DLNFLOW_CUDA_CHECK(cudaGetLastError());
  }

  // G = grad L(W) for the batch of end-to-end matrices W (slices `ws` apart).
  void loss_gradient(const double* W, long long ws) {
    const int d = f_.rows, c = f_.cols;
    const auto opN = CUBLAS_OP_N, opT = CUBLAS_OP_T;
    if (!bw()) {  // G = W Cxx - Cyx
      gemm(opN, opN, d, c, c, 1.0, W, d, ws, cxx_, c, 0, 0.0, G_.p, d, rc());
      add_broadcast<<<blocks_for(B_ * rc()), kThreads, 0, stream_.get()>>>(B_ * rc(), rc(), G_.p, -1.0, cyx_);
      DLNFLOW_CUDA_CHECK(cudaGetLastError());
      return;
    }
    // Smooth BW: M = S^{1/2} W, A = M M^T + tau S, R = A^{-1/2}, T = S^{1/2} R S^{1/2} - I, G = -2 T W.
    const long long dd = static_cast<long long>(d) * d;
    gemm(opN, opN, d, c, d, 1.0, sq_, d, 0, W, d, ws, 0.0, M_.p, d, rc());
    gemm(opN, opT, d, d, c, 1.0, M_.p, d, rc(), M_.p, d, rc(), 0.0, A_.p, d, dd);
    add_broadcast<<<blocks_for(B_ * dd), kThreads, 0, stream_.get()>>>(B_ * dd, static_cast<int>(dd), A_.p, f_.tau, s0_);
    DLNFLOW_CUDA_CHECK(cudaGetLastError());
    if (syevj_.get()) {
      DLNFLOW_CUDA_CHECK(cusolverDnDsyevjBatched(solver_.get(), CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, d, A_.p, d, ev_.p, work_.p,
                                 lwork_, info_.p, syevj_.get(), static_cast<int>(B_)));
    } else {
      DLNFLOW_CUDA_CHECK(cusolverDnXsyevBatched(solver_.get(), params_.get(), CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, d, CUDA_R_64F, A_.p,
                                d, CUDA_R_64F, ev_.p, CUDA_R_64F, work_.p, xdev_bytes_, xhost_.data(), xhost_.size(),
                                info_.p, static_cast<int64_t>(B_)));
    }
    mark_info<<<blocks_for(B_), kThreads, 0, stream_.get()>>>(static_cast<int>(B_), info_.p, failed_.p);
    inv_sqrt_scale<<<blocks_for(B_ * dd), kThreads, 0, stream_.get()>>>(B_ * dd, d, A_.p, ev_.p, Vs_.p, failed_.p);
    DLNFLOW_CUDA_CHECK(cudaGetLastError());
    gemm(opN, opT, d, d, d, 1.0, Vs_.p, d, dd, A_.p, d, dd, 0.0, R_.p, d, dd);     // R = V diag(w^-1/2) V^T
    gemm(opN, opN, d, d, d, 1.0, sq_, d, 0, R_.p, d, dd, 0.0, A_.p, d, dd);           // S^{1/2} R
    gemm(opN, opN, d, d, d, 1.0, A_.p, d, dd, sq_, d, 0, 0.0, T_.p, d, dd);           // ... S^{1/2}
    minus_identity<<<blocks_for(B_ * dd), kThreads, 0, stream_.get()>>>(B_ * dd, d, T_.p);
    DLNFLOW_CUDA_CHECK(cudaGetLastError());
    gemm(opN, opN, d, c, d, -2.0, T_.p, d, dd, W, d, ws, 0.0, G_.p, d, rc());        // G = -2 T W
  }

  // One fixed step of size h for every active trajectory: the tableau's rows (Euler or RK4).
  void step(double h) {
    const integrator::Tableau t = integrator::tableau(run_.config.step.method);
    const int n = f_.state;
    const size_t total = B_ * n;
    const unsigned g = blocks_for(total);
    const double* k[integrator::kMaxStages] = {f0_.p, k2_.p, k3_.p, k4_.p};
    double* stage[integrator::kMaxStages] = {nullptr, k2_.p, k3_.p, k4_.p};
    for (int i = 1; i < t.stages; ++i) {
      stage_combine<<<g, kThreads, 0, stream_.get()>>>(total, n, tmp_.p, y_.p, nullptr, h, row(t.a[i], i, t.a_divisor[i], k),
                                                  active_.p);
      rhs(tmp_.p, stage[i]);
    }
    stage_combine<<<g, kThreads, 0, stream_.get()>>>(total, n, y1_.p, y_.p, nullptr, h, row(t.b, t.stages, t.b_divisor, k),
                                                active_.p);
    DLNFLOW_CUDA_CHECK(cudaGetLastError());
  }

  // L at the final states, in the CPU's forms: centred square loss, or ||T W||^2 + tau ||T||^2.
  void final_loss() {
    const int d = f_.rows, c = f_.cols, N = f_.depth;
    rhs(y_.p, f0_.p);  // leaves W in the prefix stack and, for BW, T in T_
    const double* W = prefix_.p + stack_off_[N];
    if (bw()) {
      const long long dd = static_cast<long long>(d) * d;
      gemm(CUBLAS_OP_N, CUBLAS_OP_N, d, c, d, 1.0, T_.p, d, dd, W, d, stack_, 0.0, M_.p, d, rc());  // T W
      DeviceBuffer<double> a(B_), b(B_);
      slice_dot<<<static_cast<unsigned>(B_), kThreads, 0, stream_.get()>>>(rc(), M_.p, M_.p, a.p, 1.0, 0.0);
      slice_dot<<<static_cast<unsigned>(B_), kThreads, 0, stream_.get()>>>(static_cast<int>(dd), T_.p, T_.p, b.p, f_.tau, 0.0);
      add_vectors<<<blocks_for(B_), kThreads, 0, stream_.get()>>>(static_cast<int>(B_), a.p, b.p, loss_.p);
      DLNFLOW_CUDA_CHECK(cudaGetLastError());
      DLNFLOW_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
      return;
    }
    if (w_opt_) {  // 1/2 <(W - W*) Cxx, W - W*> + L*
      DLNFLOW_CUDA_CHECK(cudaMemcpy2DAsync(M_.p, sizeof(double) * rc(), W, sizeof(double) * stack_, sizeof(double) * rc(), B_,
                           cudaMemcpyDeviceToDevice, stream_.get()));
      add_broadcast<<<blocks_for(B_ * rc()), kThreads, 0, stream_.get()>>>(B_ * rc(), rc(), M_.p, -1.0, w_opt_);
      gemm(CUBLAS_OP_N, CUBLAS_OP_N, d, c, c, 1.0, M_.p, d, rc(), cxx_, c, 0, 0.0, A_.p, d, rc());
      slice_dot<<<static_cast<unsigned>(B_), kThreads, 0, stream_.get()>>>(rc(), M_.p, A_.p, loss_.p, 0.5, f_.l_opt);
    } else {  // 1/2 (<G, W> - <Cyx, W> + yy) with G = W Cxx - Cyx
      DLNFLOW_CUDA_CHECK(cudaMemcpy2DAsync(M_.p, sizeof(double) * rc(), W, sizeof(double) * stack_, sizeof(double) * rc(), B_,
                           cudaMemcpyDeviceToDevice, stream_.get()));
      add_broadcast<<<blocks_for(B_ * rc()), kThreads, 0, stream_.get()>>>(B_ * rc(), rc(), G_.p, -1.0, cyx_);  // G - Cyx
      slice_dot<<<static_cast<unsigned>(B_), kThreads, 0, stream_.get()>>>(rc(), G_.p, M_.p, loss_.p, 0.5, 0.5 * f_.yy);
    }
    DLNFLOW_CUDA_CHECK(cudaGetLastError());
  }

  const PackedRun& run_;
  const device::FlowData<double>& f_;
  size_t B_;
  // Declared before the buffers: released after them, the stream last.
  Stream stream_;
  Cublas blas_;
  Cusolver solver_;
  SyevjInfo syevj_;
  SolverParams params_;
  GraphExec graph_exec_;
  int offset_[device::kMaxDepth + 1] = {}, stack_off_[device::kMaxDepth + 1] = {};
  long long stack_ = 0;
  DeviceBuffer<double> prefix_, back_, G_, y_, y1_, f0_, f1_, k2_, k3_, k4_, k5_, k6_, tmp_, err_, M_, A_, R_, T_, Vs_, ev_, work_, loss_;
  DeviceBuffer<int> info_;
  DeviceBuffer<unsigned char> active_, failed_;
  int lwork_ = 0;
  size_t xdev_bytes_ = 0;
  std::vector<char> xhost_;
  const double *cxx_ = nullptr, *cyx_ = nullptr, *w_opt_ = nullptr, *s0_ = nullptr, *sq_ = nullptr;
};

}  // namespace

LaunchReport launch_batched(const BatchedLaunch& L) {
  const cudaDeviceProp prop = current_device_properties();
  const PackedRun& run = *L.run;
  LaunchReport rep;
  rep.device = prop.name;
  const int n = run.flow.state, stride = run.output_stride();
  DeviceBuffer<double> values(run.values.size());
  if (!run.values.empty())
    DLNFLOW_CUDA_CHECK(cudaMemcpy(values.p, run.values.data(), run.values.size() * sizeof(double), cudaMemcpyHostToDevice));
  // Memory per trajectory: about 12 state-sized vectors, the two product stacks and the BW
  // matrices; chunks fit 80% of what is free.
  const int d = run.flow.rows;
  int stack = 0;
  for (int j = 1; j <= run.flow.depth; ++j) stack += run.flow.widths[j] * run.flow.widths[0];
  const size_t per = sizeof(double) * (12ull * n + 2ull * stack + 6ull * d * d + 4ull * run.flow.rows * run.flow.cols +
                                       stride + 64);
  size_t free_b = 0, total_b = 0;
  DLNFLOW_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const size_t chunk = std::min(L.batch, std::max<size_t>(1, static_cast<size_t>(0.8 * free_b) / per));
  DeviceBuffer<double> out(chunk * stride);
  DeviceTimer timer;
  for (size_t first = 0; first < L.batch; first += chunk) {
    const size_t B = std::min(chunk, L.batch - first);
    Batch batch(run, B, values.p);
    DLNFLOW_CUDA_CHECK(cudaMemcpy(batch.y(), L.y0 + first * n, B * n * sizeof(double), cudaMemcpyHostToDevice));
    DLNFLOW_CUDA_CHECK(cudaMemset(out.p, 0, B * stride * sizeof(double)));
    rep.kernel_ms += timer.milliseconds([&] { batch.run(L.steps, out.p, stride); });
    ++rep.chunks;
    DLNFLOW_CUDA_CHECK(cudaMemcpy(L.out + first * stride, out.p, B * stride * sizeof(double), cudaMemcpyDeviceToHost));
  }
  return rep;
}

}  // namespace dlnflow::kernels
