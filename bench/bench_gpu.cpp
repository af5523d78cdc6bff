// The cuda backend's launchers (gramgan::cuda) next to vendor baselines at the models' real shapes, on a GPU:
// cuDNN convolution (forward, backward-data, backward-filter; the fastest FP32 FMA algorithm cudnnFind* reports,
// no tensor cores), cuBLAS for the Gram matrix (batched SGEMM and SSYRK, FP32) and device-to-device cudaMemcpy as
// the bandwidth ceiling of memory-bound kernels. The tf32 rows (Conv2d*Tf32, GramForwardTf32) run our tensor-core
// kernels (Precision::tf32) next to cuDNN with TF32 allowed (CUDNN_TENSOR_OP_MATH: the fastest algorithm, tensor
// cores or not, as PyTorch's cudnn.allow_tf32) and cuBLAS with CUBLAS_COMPUTE_32F_FAST_TF32. Every repetition is timed
// with CUDA events after a warm-up, with the L2 cache flushed before it, and reported through Google Benchmark's manual
// time. Counters: TFLOP/s or GB/s, percent of the device's peak (FP32 FMA peak from SM count x FP32 lanes x 2 x clock;
// for tf32 rows the dense TF32 tensor peak, SM count x TF32 FLOPs per SM per clock x clock; DRAM bandwidth from the
// memory clock and bus width) and, on our rows, the ratio to the baseline (baseline time / our time: 1 = parity). Built
// only with the CUDA backend; without a GPU it says so and exits 0. See bench/README.md.
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#if GRAMGAN_HAVE_CUDNN
#include <cudnn.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bench/device_buffer.h"
#include "bench/model_shapes.h"
#include "kernels/check.h"
#include "kernels/launchers.h"
#include "kernels/shapes.h"

namespace {

namespace gpu = gramgan::cuda;
using gramgan::Conv2dShape;
using gramgan::Padding;
using gramgan::Precision;
using namespace gramgan::bench;

constexpr int kWarmup = 3;               // untimed runs before the first timed one (lazy init, cuDNN plans, clocks up)
constexpr int kInlineBaselineReps = 10;  // when a ratio needs a baseline whose own row did not run

void check_cublas(cublasStatus_t status, const char* expression) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(expression) + " failed: cuBLAS status " + std::to_string(int(status)));
}
#define GG_CUBLAS_CHECK(expression) check_cublas((expression), #expression)

#if GRAMGAN_HAVE_CUDNN
void check_cudnn(cudnnStatus_t status, const char* expression) {
  if (status != CUDNN_STATUS_SUCCESS)
    throw std::runtime_error(std::string(expression) + " failed: " + cudnnGetErrorString(status));
}
#define GG_CUDNN_CHECK(expression) check_cudnn((expression), #expression)
#endif

// FP32 lanes per SM (one FMA each per clock): 64 on GP100, Volta, Turing and GA100; 128 on GP10x, GA10x, Ada,
// Hopper and Blackwell. An architecture not listed gets 128 and the header says "assumed".
int fp32_lanes_per_sm(int major, int minor, bool* known) {
  *known = true;
  if (major == 6) return minor == 0 ? 64 : 128;
  if (major == 7) return 64;
  if (major == 8) return minor == 0 ? 64 : 128;
  if (major == 9 || major == 10 || major == 12) return 128;
  *known = false;
  return 128;
}

// Dense TF32 tensor-core FLOPs per SM per clock (an m16n8k8 MMA is 2048 FLOPs): 1024 on GA100 (A100: 156
// TFLOP/s at 108 SMs and 1410 MHz), 256 on GA10x and Ada (RTX 3090: 35.6 TFLOP/s at 82 SMs and 1695 MHz), 2048
// on Hopper (H100 SXM: 495 TFLOP/s at 132 SMs and 1830 MHz). 0 (no percentage) for architectures not listed.
int tf32_flops_per_sm_clock(int major, int minor) {
  if (major == 8) return minor == 0 ? 1024 : minor == 6 || minor == 9 ? 256 : 0;
  if (major == 9) return 2048;
  return 0;
}

// The one device the suite runs on, with the handles, stream, events and L2-flush buffer every benchmark shares.
class Gpu {
 public:
  static Gpu& get() {
    static Gpu instance;
    return instance;
  }

  cudaStream_t stream() const { return stream_; }
  gramgan::cuda::StreamHandle handle() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
#if GRAMGAN_HAVE_CUDNN
  cudnnHandle_t cudnn() const { return cudnn_; }
#endif
  double peak_flops() const { return peak_flops_; }            // 0 when the clock is not reported
  double peak_tf32_flops() const { return peak_tf32_flops_; }  // 0 when the clock or the architecture is unknown
  double peak_bytes() const { return peak_bytes_; }            // 0 when the memory clock or bus width is not reported
  const std::vector<std::pair<std::string, std::string>>& context() const { return context_; }

  // Milliseconds of one run of `op`, timed by events on the stream, after a flush of the L2 cache.
  double time_ms(const std::function<void()>& op) {
    GG_CUDA_CHECK(cudaMemsetAsync(flush_, flush_count_ & 0xff, flush_bytes_, stream_));
    ++flush_count_;  // a different byte each time, so the writes cannot be elided
    GG_CUDA_CHECK(cudaEventRecord(start_, stream_));
    op();
    GG_CUDA_CHECK(cudaEventRecord(stop_, stream_));
    GG_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    GG_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return double(ms);
  }

  Gpu(const Gpu&) = delete;
  Gpu& operator=(const Gpu&) = delete;

 private:
  Gpu() {
    int device = 0;
    GG_CUDA_CHECK(cudaGetDevice(&device));
    cudaDeviceProp prop{};
    GG_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    // CUDA 13 dropped the clock fields from cudaDeviceProp; the attributes remain.
    auto attribute = [device](cudaDeviceAttr a) {
      int value = 0;
      return cudaDeviceGetAttribute(&value, a, device) == cudaSuccess ? value : 0;
    };
    const int sms = attribute(cudaDevAttrMultiProcessorCount);
    const int clock_khz = attribute(cudaDevAttrClockRate);
    const int memory_clock_khz = attribute(cudaDevAttrMemoryClockRate);
    const int bus_bits = attribute(cudaDevAttrGlobalMemoryBusWidth);
    const int l2_bytes = attribute(cudaDevAttrL2CacheSize);
    bool lanes_known = true;
    const int lanes = fp32_lanes_per_sm(prop.major, prop.minor, &lanes_known);
    peak_flops_ = double(sms) * lanes * 2.0 * double(clock_khz) * 1e3;
    // The clock attribute is the maximum boost clock, so on an H100 SXM this reads above NVIDIA's 495 TFLOP/s
    // (quoted at 1830 MHz); the FP32 peak above uses the same clock.
    peak_tf32_flops_ = double(sms) * tf32_flops_per_sm_clock(prop.major, prop.minor) * double(clock_khz) * 1e3;
    peak_bytes_ = 2.0 * double(memory_clock_khz) * 1e3 * double(bus_bits) / 8.0;  // double data rate

    GG_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    GG_CUDA_CHECK(cudaEventCreate(&start_));
    GG_CUDA_CHECK(cudaEventCreate(&stop_));
    // Twice the L2, at least 64 MiB: whatever the previous repetition left in L2 is evicted.
    flush_bytes_ = std::max<std::size_t>(2 * std::size_t(std::max(l2_bytes, 0)), std::size_t(64) << 20);
    GG_CUDA_CHECK(cudaMalloc(&flush_, flush_bytes_));
    GG_CUBLAS_CHECK(cublasCreate(&cublas_));
    GG_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    // The default math mode keeps FP32 inputs and FP32 accumulation (no TF32 tensor cores).
    GG_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
    int cublas_version = 0;
    GG_CUBLAS_CHECK(cublasGetVersion(cublas_, &cublas_version));
#if GRAMGAN_HAVE_CUDNN
    GG_CUDNN_CHECK(cudnnCreate(&cudnn_));
    GG_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
#endif

    auto number = [](double v, const char* format) {
      char buffer[64];
      std::snprintf(buffer, sizeof buffer, format, v);
      return std::string(buffer);
    };
    context_ = {
      {"gpu", prop.name},
      {"gpu_compute_capability", std::to_string(prop.major) + "." + std::to_string(prop.minor)},
      {"gpu_sms", std::to_string(sms)},
      {"gpu_clock_mhz", std::to_string(clock_khz / 1000)},
      {"gpu_fp32_lanes_per_sm", std::to_string(lanes) + (lanes_known ? "" : " (assumed)")},
      {"gpu_fp32_peak_tflops", number(peak_flops_ * 1e-12, "%.1f")},
      {"gpu_tf32_peak_tflops", number(peak_tf32_flops_ * 1e-12, "%.1f")},
      {"gpu_dram_peak_gbps", number(peak_bytes_ * 1e-9, "%.0f")},
      {"gpu_l2_mib", number(double(l2_bytes) / double(1 << 20), "%.0f")},
      {"l2_flush_mib", std::to_string(flush_bytes_ >> 20)},
      {"cublas_version", std::to_string(cublas_version)},
#if GRAMGAN_HAVE_CUDNN
      {"cudnn_version", std::to_string(cudnnGetVersion())},
#else
      {"cudnn_version", "none (built without cuDNN: no convolution baselines)"},
#endif
    };
  }

  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  void* flush_ = nullptr;
  std::size_t flush_bytes_ = 0;
  unsigned flush_count_ = 0;
  cublasHandle_t cublas_ = nullptr;
#if GRAMGAN_HAVE_CUDNN
  cudnnHandle_t cudnn_ = nullptr;
#endif
  double peak_flops_ = 0, peak_tf32_flops_ = 0, peak_bytes_ = 0;
  std::vector<std::pair<std::string, std::string>> context_;
};

// Device memory on the suite's GPU; random fills come from our Philox fill, seeded by the count.
struct CudaMemory {
  static void* allocate(std::size_t bytes) {
    void* p = nullptr;
    GG_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
  }
  static void release(void* p) { cudaFree(p); }
  static void fill_uniform(float* p, std::size_t count) {
    gpu::fill_uniform(p, count, count, 0, -1.0f, 1.0f, Gpu::get().handle());
  }
  static void zero(float* p, std::size_t count) {
    GG_CUDA_CHECK(cudaMemsetAsync(p, 0, sizeof(float) * count, Gpu::get().stream()));
  }
};
using GpuBuffer = DeviceBuffer<CudaMemory>;

// Raw device bytes (cuDNN workspaces); null for zero bytes.
class DeviceBytes {
 public:
  explicit DeviceBytes(std::size_t bytes) : bytes_(bytes) {
    if (bytes_ > 0) GG_CUDA_CHECK(cudaMalloc(&data_, bytes_));
  }
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  ~DeviceBytes() { cudaFree(data_); }
  void* get() const { return data_; }
  std::size_t size() const { return bytes_; }

 private:
  std::size_t bytes_;
  void* data_ = nullptr;
};

// ---- timing and counters ------------------------------------------------------------------------------------------

// Mean milliseconds of each baseline row that ran, by the key its ours-row asks for.
std::map<std::string, double>& baseline_ms() {
  static std::map<std::string, double> table;
  return table;
}

// Warm-up, then one timed repetition per benchmark iteration; returns the mean milliseconds.
double run_timed(benchmark::State& state, const std::function<void()>& op) {
  Gpu& g = Gpu::get();
  for (int i = 0; i < kWarmup; ++i) op();
  GG_CUDA_CHECK(cudaStreamSynchronize(g.stream()));
  double total_ms = 0;
  for (auto _ : state) {
    const double ms = g.time_ms(op);
    total_ms += ms;
    state.SetIterationTime(ms * 1e-3);
  }
  return state.iterations() > 0 ? total_ms / double(state.iterations()) : 0;
}

// The baseline's mean time: from its own row when that ran, else measured here.
double baseline_time(const std::string& key, const std::function<void()>& baseline) {
  const auto it = baseline_ms().find(key);
  if (it != baseline_ms().end()) return it->second;
  Gpu& g = Gpu::get();
  for (int i = 0; i < kWarmup; ++i) baseline();
  double total = 0;
  for (int i = 0; i < kInlineBaselineReps; ++i) total += g.time_ms(baseline);
  return baseline_ms()[key] = total / kInlineBaselineReps;
}

// A tf32 row's percentage is of the TF32 tensor peak (pct_tf32_peak), any other's of the FP32 FMA peak.
void flop_counters(benchmark::State& state, double flops, double ms, Precision precision = Precision::fp32) {
  if (ms <= 0) return;
  const double rate = flops / (ms * 1e-3);
  state.counters["TFLOP/s"] = rate * 1e-12;
  if (precision == Precision::tf32) {
    if (Gpu::get().peak_tf32_flops() > 0) state.counters["pct_tf32_peak"] = 100.0 * rate / Gpu::get().peak_tf32_flops();
  } else if (Gpu::get().peak_flops() > 0) {
    state.counters["pct_fp32_peak"] = 100.0 * rate / Gpu::get().peak_flops();
  }
}

void byte_counters(benchmark::State& state, double bytes, double ms) {
  if (ms <= 0) return;
  const double rate = bytes / (ms * 1e-3);
  state.counters["GB/s"] = rate * 1e-9;
  if (Gpu::get().peak_bytes() > 0) state.counters["pct_dram_peak"] = 100.0 * rate / Gpu::get().peak_bytes();
}

// Runs a benchmark body; a failure (no memory, a launcher's precondition, a library status) skips that benchmark
// with the message instead of ending the suite.
void guarded(benchmark::State& state, const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// ---- conv2d -------------------------------------------------------------------------------------------------------

enum class ConvPass { forward, backward_data, backward_weight };
const char* pass_name(ConvPass p) {
  return p == ConvPass::forward         ? "Conv2dForward"
         : p == ConvPass::backward_data ? "Conv2dBackwardData"
                                        : "Conv2dBackwardWeight";
}
// The row's op: the pass, with "Tf32" for the tensor-core rows (their own table rows, next to cuDNN with TF32).
std::string op_name(ConvPass p, Precision precision) {
  return std::string(pass_name(p)) + (precision == Precision::tf32 ? "Tf32" : "");
}
Conv2dShape with_precision(Conv2dShape s, Precision precision) {
  s.precision = precision;
  return s;
}

// Every distinct convolution of the three networks on a 256x256 batch of 4 (apps/gan/models.cpp, vgg.cpp).
const std::vector<ConvCase>& conv_cases() {
  constexpr Padding zeros = Padding::zeros, reflect = Padding::reflect;
  static const std::vector<ConvCase> cases = {
      {"vgg_conv1_1_3to64_256x256", conv(4, 3, 256, 64, 3, 1, 1, zeros)},
      {"vgg_conv1_2_64to64_256x256", conv(4, 64, 256, 64, 3, 1, 1, zeros)},
      {"vgg_conv2_1_64to128_128x128", conv(4, 64, 128, 128, 3, 1, 1, zeros)},
      {"vgg_conv2_2_128to128_128x128", conv(4, 128, 128, 128, 3, 1, 1, zeros)},
      {"vgg_conv3_1_128to256_64x64", conv(4, 128, 64, 256, 3, 1, 1, zeros)},
      {"vgg_conv3_x_256to256_64x64", conv(4, 256, 64, 256, 3, 1, 1, zeros)},
      {"vgg_conv4_1_256to512_32x32", conv(4, 256, 32, 512, 3, 1, 1, zeros)},
      {"vgg_conv4_x_512to512_32x32", conv(4, 512, 32, 512, 3, 1, 1, zeros)},
      {"vgg_conv5_1_512to512_16x16", conv(4, 512, 16, 512, 3, 1, 1, zeros)},
      {"gen_c9s1_32_3to32_9x9_reflect_256x256", conv(4, 3, 256, 32, 9, 1, 4, reflect)},
      {"gen_d64_32to64_s2_reflect_256x256", conv(4, 32, 256, 64, 3, 2, 1, reflect)},
      {"gen_d128_64to128_s2_reflect_128x128", conv(4, 64, 128, 128, 3, 2, 1, reflect)},
      {"gen_res_128to128_reflect_64x64", conv(4, 128, 64, 128, 3, 1, 1, reflect)},
      {"gen_up64_128to64_reflect_128x128", conv(4, 128, 128, 64, 3, 1, 1, reflect)},
      {"gen_up32_64to32_reflect_256x256", conv(4, 64, 256, 32, 3, 1, 1, reflect)},
      {"gen_c9s1_3_32to3_9x9_reflect_256x256", conv(4, 32, 256, 3, 9, 1, 4, reflect)},
      {"patch_c64_3to64_4x4s2_256x256", conv(4, 3, 256, 64, 4, 2, 1, zeros)},
      {"patch_c128_64to128_4x4s2_128x128", conv(4, 64, 128, 128, 4, 2, 1, zeros)},
      {"patch_c256_128to256_4x4s2_64x64", conv(4, 128, 64, 256, 4, 2, 1, zeros)},
      {"patch_c512_256to512_4x4s1_32x32", conv(4, 256, 32, 512, 4, 1, 1, zeros)},
      {"patch_out_512to1_4x4s1_31x31", conv(4, 512, 31, 1, 4, 1, 1, zeros)},
  };
  return cases;
}

// The buffers of one pass; ours and cuDNN's run on the same ones.
struct ConvBuffers {
  explicit ConvBuffers(const Conv2dShape& s)
      : x(x_count(s)), w(w_count(s)), y(y_count(s)), workspace(gpu::conv2d_backward_weight_workspace(s), false) {}
  GpuBuffer x, w, y, workspace;  // y doubles as dy; x as dx; w as dw
};

// Ours without bias and bias gradient: cuDNN's convolution calls compute neither.
std::function<void()> our_conv(ConvPass pass, const Conv2dShape& s, ConvBuffers& b) {
  const gramgan::cuda::StreamHandle stream = Gpu::get().handle();
  switch (pass) {
    case ConvPass::forward:
      return [&, s, stream] { gpu::conv2d_forward<float>(s, b.x.get(), b.w.get(), nullptr, b.y.get(), stream); };
    case ConvPass::backward_data:
      return [&, s, stream] { gpu::conv2d_backward_data<float>(s, b.y.get(), b.w.get(), b.x.get(), stream); };
    case ConvPass::backward_weight:
      return [&, s, stream] {
        gpu::conv2d_backward_weight<float>(s, b.x.get(), b.y.get(), b.w.get(), nullptr, b.workspace.get(), stream);
      };
  }
  throw std::logic_error("our_conv: unknown pass");
}

#if GRAMGAN_HAVE_CUDNN

// cuDNN's legacy convolution API (deprecated in cuDNN 9 but present in its cnn library), FP32 data and compute.
// fp32: CUDNN_FMA_MATH, only FMA kernels, so neither tensor cores nor TF32. tf32: CUDNN_TENSOR_OP_MATH, which
// lets cuDNN run FP32 data on TF32 tensor cores on Ampere and later (as CUDNN_DEFAULT_MATH does there, unless
// NVIDIA_TF32_OVERRIDE=0), and the fastest algorithm is taken, tensor cores or FMA: what PyTorch gets with
// cudnn.allow_tf32 and benchmark mode. Conversions to FP16 (CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) are never taken.
// cuDNN has no reflection padding: the generator's layers run with zero padding of the same width, which is the same
// work (frameworks pad in a separate kernel).
class CudnnConv {
 public:
  // `key` names the pass and shape: cudnnFind runs once per key, although Google Benchmark calls a benchmark
  // several times while it sizes the iteration count.
  CudnnConv(const std::string& key, ConvPass pass, const Conv2dShape& s, ConvBuffers& b)
      : pass_(pass), tf32_(s.precision == Precision::tf32), b_(b) {
    GG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_));
    GG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_));
    GG_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_));
    GG_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_));
    GG_CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(x_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.batch, s.in_channels, s.height, s.width));
    GG_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s.out_channels, s.in_channels,
                                              s.kernel_h, s.kernel_w));
    GG_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_, s.pad, s.pad, s.stride, s.stride, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    GG_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_, tf32_ ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    int n = 0, c = 0, h = 0, w = 0;
    GG_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv_, x_, w_, &n, &c, &h, &w));
    if (n != s.batch || c != s.out_channels || h != s.out_height() || w != s.out_width())
      throw std::logic_error("cuDNN's output shape differs from Conv2dShape's");
    GG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));

    static std::map<std::string, std::pair<int, std::size_t>> found;
    if (const auto it = found.find(key); it != found.end()) {
      std::tie(algo_, workspace_bytes_) = it->second;
    } else {
      find(pass, b);
      found[key] = {algo_, workspace_bytes_};
    }
    workspace_ = std::make_unique<DeviceBytes>(workspace_bytes_);
  }
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;
  ~CudnnConv() {
    cudnnDestroyConvolutionDescriptor(conv_);
    cudnnDestroyFilterDescriptor(w_);
    cudnnDestroyTensorDescriptor(y_);
    cudnnDestroyTensorDescriptor(x_);
  }

  int algo() const { return algo_; }
  std::size_t workspace_bytes() const { return workspace_bytes_; }

  void run() const {
    const cudnnHandle_t handle = Gpu::get().cudnn();
    const float one = 1.0f, zero = 0.0f;
    void* ws = workspace_->get();
    switch (pass_) {
      case ConvPass::forward:
        GG_CUDNN_CHECK(cudnnConvolutionForward(handle, &one, x_, b_.x.get(), w_, b_.w.get(), conv_,
                                               cudnnConvolutionFwdAlgo_t(algo_), ws, workspace_bytes_, &zero, y_,
                                               b_.y.get()));
        break;
      case ConvPass::backward_data:
        GG_CUDNN_CHECK(cudnnConvolutionBackwardData(handle, &one, w_, b_.w.get(), y_, b_.y.get(), conv_,
                                                    cudnnConvolutionBwdDataAlgo_t(algo_), ws, workspace_bytes_, &zero,
                                                    x_, b_.x.get()));
        break;
      case ConvPass::backward_weight:
        GG_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle, &one, x_, b_.x.get(), y_, b_.y.get(), conv_,
                                                      cudnnConvolutionBwdFilterAlgo_t(algo_), ws, workspace_bytes_,
                                                      &zero, w_, b_.w.get()));
        break;
    }
  }

 private:
  // cudnnFind*Ex times every algorithm on these buffers; algorithms needing more scratch than this report
  // CUDNN_STATUS_ALLOC_FAILED and drop out.
  void find(ConvPass pass, ConvBuffers& b) {
    const cudnnHandle_t handle = Gpu::get().cudnn();
    std::size_t free_bytes = 0, total_bytes = 0;
    GG_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    DeviceBytes search(std::min<std::size_t>(std::size_t(1) << 30, free_bytes / 4));
    int returned = 0;
    switch (pass) {
      case ConvPass::forward: {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        GG_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(handle, x_, b.x.get(), w_, b.w.get(), conv_, y_,
                                                              b.y.get(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned,
                                                              perf, search.get(), search.size()));
        const auto& best = pick(perf, returned, tf32_);
        algo_ = int(best.algo);
        workspace_bytes_ = best.memory;
        break;
      }
      case ConvPass::backward_data: {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        GG_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(handle, w_, b.w.get(), y_, b.y.get(), conv_, x_,
                                                                   b.x.get(), CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                                   &returned, perf, search.get(), search.size()));
        const auto& best = pick(perf, returned, tf32_);
        algo_ = int(best.algo);
        workspace_bytes_ = best.memory;
        break;
      }
      case ConvPass::backward_weight: {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        GG_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(handle, x_, b.x.get(), y_, b.y.get(), conv_, w_,
                                                                     b.w.get(), CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                                     &returned, perf, search.get(), search.size()));
        const auto& best = pick(perf, returned, tf32_);
        algo_ = int(best.algo);
        workspace_bytes_ = best.memory;
        break;
      }
    }
  }

  // The fastest algorithm that succeeded (results come sorted by time): without tensor-op math for fp32, with or
  // without it for tf32; never one converting to FP16.
  template <class Perf>
  static const Perf& pick(const Perf* perf, int count, bool tf32) {
    for (int i = 0; i < count; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && (tf32 || perf[i].mathType != CUDNN_TENSOR_OP_MATH) &&
          perf[i].mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
        return perf[i];
    throw std::runtime_error(std::string("cudnnFind*: no ") + (tf32 ? "FP32 or TF32" : "FP32 FMA") +
                             " algorithm succeeded for this shape");
  }

  ConvPass pass_;
  bool tf32_;
  ConvBuffers& b_;
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  int algo_ = -1;
  std::size_t workspace_bytes_ = 0;
  std::unique_ptr<DeviceBytes> workspace_;
};

void BM_ConvCudnn(benchmark::State& state, ConvPass pass, ConvCase c, Precision precision) {
  guarded(state, [&] {
    const Conv2dShape s = with_precision(c.shape, precision);
    ConvBuffers buffers(s);
    const std::string key = op_name(pass, precision) + "/" + c.name;
    const CudnnConv cudnn(key, pass, s, buffers);
    const double ms = run_timed(state, [&] { cudnn.run(); });
    baseline_ms()[key] = ms;
    flop_counters(state, conv_flops(s), ms, precision);
    state.counters["algo"] = cudnn.algo();
    state.counters["workspace_MiB"] = double(cudnn.workspace_bytes()) / double(1 << 20);
  });
}

#endif  // GRAMGAN_HAVE_CUDNN

void BM_ConvOurs(benchmark::State& state, ConvPass pass, ConvCase c, Precision precision) {
  guarded(state, [&] {
    const Conv2dShape s = with_precision(c.shape, precision);
    ConvBuffers buffers(s);
    const double ms = run_timed(state, our_conv(pass, s, buffers));
    flop_counters(state, conv_flops(s), ms, precision);
#if GRAMGAN_HAVE_CUDNN
    const std::string key = op_name(pass, precision) + "/" + c.name;
    double reference = 0;
    if (baseline_ms().count(key) == 0) {
      const CudnnConv cudnn(key, pass, s, buffers);
      reference = baseline_time(key, [&] { cudnn.run(); });
    } else {
      reference = baseline_ms()[key];
    }
    if (ms > 0) state.counters["of_cudnn"] = reference / ms;
#endif
  });
}

// ---- Gram at the five style layers (VGG-19, 256x256, batch 4) -----------------------------------------------------

// The forward's useful work: the C (C + 1) / 2 distinct entries of each symmetric Gram, 2 plane FLOPs each. Our
// kernel and SSYRK compute about that; SGEMM computes all C^2 entries, twice this, and is charged only this.
double gram_forward_flops(const GramCase& g) {
  return double(g.batch) * double(g.channels) * double(g.channels + 1) * double(g.plane);
}
// The backward's product (dgram + dgram^T) F: 2 N C^2 plane.
double gram_backward_flops(const GramCase& g) { return 2.0 * g.batch * double(g.channels) * g.channels * g.plane; }

enum class GramBaseline { sgemm, ssyrk, gemm_tf32 };

// Features F_n, (C, plane) row-major, are the column-major (plane x C) matrix F_n^T with leading dimension plane.
// gram_n = (F_n^T)^T F_n^T / (C plane).
void cublas_gram(GramBaseline which, const GramCase& g, const float* f, float* gram) {
  const cublasHandle_t handle = Gpu::get().cublas();
  const float alpha = float(1.0 / (double(g.channels) * double(g.plane))), beta = 0.0f;
  const long long f_stride = 1LL * g.channels * g.plane, g_stride = 1LL * g.channels * g.channels;
  if (which == GramBaseline::gemm_tf32) {  // SGEMM's product with TF32 tensor cores allowed
    GG_CUBLAS_CHECK(cublasGemmStridedBatchedEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, g.channels, g.channels, g.plane,
                                               &alpha, f, CUDA_R_32F, g.plane, f_stride, f, CUDA_R_32F, g.plane,
                                               f_stride, &beta, gram, CUDA_R_32F, g.channels, g_stride, g.batch,
                                               CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
    return;
  }
  if (which == GramBaseline::sgemm) {
    GG_CUBLAS_CHECK(cublasSgemmStridedBatched(handle, CUBLAS_OP_T, CUBLAS_OP_N, g.channels, g.channels, g.plane, &alpha,
                                              f, g.plane, f_stride, f, g.plane, f_stride, &beta, gram, g.channels,
                                              g_stride, g.batch));
    return;
  }
  for (int n = 0; n < g.batch; ++n)  // cuBLAS has no batched SSYRK
    GG_CUBLAS_CHECK(cublasSsyrk(handle, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, g.channels, g.plane, &alpha,
                                f + n * f_stride, g.plane, &beta, gram + n * g_stride, g.channels));
}

// dF_n = S_n F_n with S_n = dgram_n, as column-major dF_n^T (plane x C) = F_n^T S_n^T: the row-major S_n read
// column-major is S_n^T already. Our kernel uses S_n = dgram_n + dgram_n^T; the baseline skips that C x C addition.
void cublas_gram_backward(const GramCase& g, const float* f, const float* dgram, float* df) {
  const float alpha = float(1.0 / (double(g.channels) * double(g.plane))), beta = 0.0f;
  const long long f_stride = 1LL * g.channels * g.plane, g_stride = 1LL * g.channels * g.channels;
  GG_CUBLAS_CHECK(cublasSgemmStridedBatched(Gpu::get().cublas(), CUBLAS_OP_N, CUBLAS_OP_N, g.plane, g.channels,
                                            g.channels, &alpha, f, g.plane, f_stride, dgram, g.channels, g_stride,
                                            &beta, df, g.plane, f_stride, g.batch));
}

struct GramBuffers {
  explicit GramBuffers(const GramCase& g)
      : f(std::size_t(g.batch) * g.channels * g.plane),
        gram(std::size_t(g.batch) * g.channels * g.channels),
        df(std::size_t(g.batch) * g.channels * g.plane, false),
        workspace(gpu::gram_forward_workspace({g.batch, g.channels, g.plane}), false) {}
  GpuBuffer f, gram, df, workspace;  // gram doubles as dgram
};

std::string gram_baseline_key(GramBaseline which) {
  return which == GramBaseline::sgemm ? "GramSgemm/" : which == GramBaseline::ssyrk ? "GramSsyrk/" : "GramGemmTf32/";
}

void BM_GramForwardCublas(benchmark::State& state, GramBaseline which, GramCase g) {
  guarded(state, [&] {
    GramBuffers b(g);
    const double ms = run_timed(state, [&] { cublas_gram(which, g, b.f.get(), b.gram.get()); });
    baseline_ms()[gram_baseline_key(which) + g.name] = ms;
    flop_counters(state, gram_forward_flops(g), ms,
                  which == GramBaseline::gemm_tf32 ? Precision::tf32 : Precision::fp32);
  });
}

void BM_GramForwardOurs(benchmark::State& state, GramCase g, Precision precision) {
  guarded(state, [&] {
    GramBuffers b(g);
    const gramgan::cuda::StreamHandle stream = Gpu::get().handle();
    const double ms = run_timed(state, [&] {
      gpu::gram_forward<float>({g.batch, g.channels, g.plane, precision}, b.f.get(), b.gram.get(), b.workspace.get(),
                               stream);
    });
    flop_counters(state, gram_forward_flops(g), ms, precision);
    if (precision == Precision::tf32) {  // against cuBLAS's GEMM with TF32 allowed
      const double tf32 = baseline_time(gram_baseline_key(GramBaseline::gemm_tf32) + g.name,
                                        [&] { cublas_gram(GramBaseline::gemm_tf32, g, b.f.get(), b.gram.get()); });
      if (ms > 0) state.counters["of_cublas"] = tf32 / ms;
      return;
    }
    // Against the faster of the two cuBLAS formulations.
    const double sgemm = baseline_time(std::string("GramSgemm/") + g.name,
                                       [&] { cublas_gram(GramBaseline::sgemm, g, b.f.get(), b.gram.get()); });
    const double ssyrk = baseline_time(std::string("GramSsyrk/") + g.name,
                                       [&] { cublas_gram(GramBaseline::ssyrk, g, b.f.get(), b.gram.get()); });
    if (ms > 0) state.counters["of_cublas"] = std::min(sgemm, ssyrk) / ms;
  });
}

void BM_GramBackwardCublas(benchmark::State& state, GramCase g) {
  guarded(state, [&] {
    GramBuffers b(g);
    const double ms = run_timed(state, [&] { cublas_gram_backward(g, b.f.get(), b.gram.get(), b.df.get()); });
    baseline_ms()[std::string("GramBackwardSgemm/") + g.name] = ms;
    flop_counters(state, gram_backward_flops(g), ms);
  });
}

void BM_GramBackwardOurs(benchmark::State& state, GramCase g) {
  guarded(state, [&] {
    GramBuffers b(g);
    const gramgan::cuda::StreamHandle stream = Gpu::get().handle();
    const double ms = run_timed(state, [&] {
      gpu::gram_backward<float>(g.batch, g.channels, g.plane, b.f.get(), b.gram.get(), b.df.get(), stream);
    });
    flop_counters(state, gram_backward_flops(g), ms);
    const double sgemm = baseline_time(std::string("GramBackwardSgemm/") + g.name,
                                       [&] { cublas_gram_backward(g, b.f.get(), b.gram.get(), b.df.get()); });
    if (ms > 0) state.counters["of_cublas"] = sgemm / ms;
  });
}

// ---- memory-bound ops at the models' sizes (batch 4, 256x256), against cudaMemcpy of the same traffic -------------

// One memory-bound op: the bytes it must read and write once, and how to run it on buffers it allocates.
struct MemoryOp {
  std::string name;
  double bytes;
  // Allocates the op's buffers into `keep` and returns one run of it on `stream`.
  std::function<std::function<void()>(std::vector<std::unique_ptr<GpuBuffer>>& keep,
                                      gramgan::cuda::StreamHandle stream)>
      make;
};

std::function<void()> memcpy_op(double bytes, std::vector<std::unique_ptr<GpuBuffer>>& keep) {
  // A copy of half the traffic reads and writes the whole of it.
  const std::size_t half = std::size_t(bytes / 2) / sizeof(float);
  keep.push_back(std::make_unique<GpuBuffer>(half));
  keep.push_back(std::make_unique<GpuBuffer>(half, false));
  float* src = keep[keep.size() - 2]->get();
  float* dst = keep.back()->get();
  const cudaStream_t stream = Gpu::get().stream();
  return [=] { GG_CUDA_CHECK(cudaMemcpyAsync(dst, src, half * sizeof(float), cudaMemcpyDeviceToDevice, stream)); };
}

std::vector<MemoryOp> memory_ops() {
  using Buffers = std::vector<std::unique_ptr<GpuBuffer>>;
  auto buffer = [](Buffers& keep, std::size_t count, bool random = true) {
    keep.push_back(std::make_unique<GpuBuffer>(count, random));
    return keep.back()->get();
  };
  std::vector<MemoryOp> ops;

  const std::size_t norm = std::size_t(kNormBatch) * kNormChannels * kNormPlane;
  const std::size_t stats = std::size_t(kNormBatch) * kNormChannels;
  ops.push_back({"InstanceNormForward/4x128x64x64", 2.0 * norm * 4,
                 [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                   float *x = buffer(k, norm), *gamma = buffer(k, kNormChannels), *beta = buffer(k, kNormChannels),
                         *y = buffer(k, norm, false), *mean = buffer(k, stats, false), *inv = buffer(k, stats, false);
                   return [=] {
                     gpu::instance_norm_forward<float>(kNormBatch, kNormChannels, kNormPlane, 1e-5f, x, gamma, beta, y,
                                                       mean, inv, stream);
                   };
                 }});
  ops.push_back({"InstanceNormBackward/4x128x64x64", 3.0 * norm * 4,
                 [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                   float *x = buffer(k, norm), *dy = buffer(k, norm), *gamma = buffer(k, kNormChannels),
                         *mean = buffer(k, stats), *inv = buffer(k, stats), *dx = buffer(k, norm, false),
                         *dgamma = buffer(k, kNormChannels, false), *dbeta = buffer(k, kNormChannels, false),
                         *ws = buffer(k, gpu::instance_norm_backward_workspace(kNormBatch, kNormChannels), false);
                   return [=] {
                     gpu::instance_norm_backward<float>(kNormBatch, kNormChannels, kNormPlane, x, dy, gamma, mean, inv,
                                                        dx, dgamma, dbeta, ws, stream);
                   };
                 }});

  const std::pair<const char*, gramgan::Activation> activations[] = {{"relu", gramgan::Activation::relu},
                                                                     {"leaky_relu", gramgan::Activation::leaky_relu},
                                                                     {"tanh_unit", gramgan::Activation::tanh_unit}};
  for (const auto& [name, activation] : activations) {
    const gramgan::Activation a = activation;
    ops.push_back({std::string("ActivationForward/") + name + "/8M", 2.0 * kActCount * 4,
                   [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                     float *x = buffer(k, kActCount), *y = buffer(k, kActCount, false);
                     return [=] { gpu::activation_forward<float>(a, 0.2f, kActCount, x, y, stream); };
                   }});
    ops.push_back({std::string("ActivationBackward/") + name + "/8M", 4.0 * kActCount * 4,
                   [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                     float *x = buffer(k, kActCount), *y = buffer(k, kActCount), *dy = buffer(k, kActCount),
                           *dx = buffer(k, kActCount, false);
                     return [=] { gpu::activation_backward<float>(a, 0.2f, kActCount, x, y, dy, dx, stream); };
                   }});
  }
  ops.push_back(
      {"Add/8M", 3.0 * kActCount * 4, [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
         float *a = buffer(k, kActCount), *b = buffer(k, kActCount), *y = buffer(k, kActCount, false);
         return [=] { gpu::add<float>(kActCount, a, b, y, stream); };
       }});

  const std::size_t pool_in = std::size_t(kPoolPlanes) * kPoolSize * kPoolSize;
  ops.push_back({"Pool2x2Forward/max/256x256x256", 1.25 * pool_in * 4,
                 [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                   float *x = buffer(k, pool_in), *y = buffer(k, pool_in / 4, false);
                   return [=] {
                     gpu::pool2x2_forward<float>(gramgan::Pool::max, kPoolPlanes, kPoolSize, kPoolSize, x, y, stream);
                   };
                 }});
  ops.push_back({"Pool2x2Backward/max/256x256x256", 2.25 * pool_in * 4,
                 [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                   float *x = buffer(k, pool_in), *dy = buffer(k, pool_in / 4), *dx = buffer(k, pool_in, false);
                   return [=] {
                     gpu::pool2x2_backward<float>(gramgan::Pool::max, kPoolPlanes, kPoolSize, kPoolSize, x, dy, dx,
                                                  stream);
                   };
                 }});

  const std::size_t up_in = std::size_t(kUpPlanes) * kUpSize * kUpSize;
  ops.push_back({"Upsample2xForward/512x64x64", 5.0 * up_in * 4,
                 [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                   float *x = buffer(k, up_in), *y = buffer(k, 4 * up_in, false);
                   return [=] { gpu::upsample2x_forward<float>(kUpPlanes, kUpSize, kUpSize, x, y, stream); };
                 }});
  ops.push_back({"Upsample2xBackward/512x128x128", 5.0 * up_in * 4,
                 [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                   float *dy = buffer(k, 4 * up_in), *dx = buffer(k, up_in, false);
                   return [=] { gpu::upsample2x_backward<float>(kUpPlanes, kUpSize, kUpSize, dy, dx, stream); };
                 }});

  const std::size_t image = std::size_t(kImageBatch) * kImageChannels * kImageSize * kImageSize;
  ops.push_back({"TvForwardBackward/sqrt/4x3x256x256", 2.0 * image * 4,
                 [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                   float *x = buffer(k, image), *value = buffer(k, 1, false), *dx = buffer(k, image, false),
                         *ws = buffer(k, gpu::tv_workspace(kImageBatch, kImageChannels, kImageSize, kImageSize), false);
                   return [=] {
                     gpu::tv_forward_backward<float>(gramgan::TvMode::sqrt, 1e-8f, kImageBatch, kImageChannels,
                                                     kImageSize, kImageSize, x, value, dx, ws, stream);
                   };
                 }});
  ops.push_back({"ChannelAffineForward/4x3x256x256", 2.0 * image * 4,
                 [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                   float *x = buffer(k, image), *scale = buffer(k, kImageChannels), *shift = buffer(k, kImageChannels),
                         *y = buffer(k, image, false);
                   return [=] {
                     gpu::channel_affine_forward<float>(kImageBatch, kImageChannels, kImageSize * kImageSize, x, scale,
                                                        shift, y, stream);
                   };
                 }});

  ops.push_back({"MseForwardBackward/relu4_2_4x512x32x32", 3.0 * kContentCount * 4,
                 [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                   float *p = buffer(k, kContentCount), *t = buffer(k, kContentCount), *value = buffer(k, 1, false),
                         *dp = buffer(k, kContentCount, false),
                         *ws = buffer(k, gpu::mse_workspace(kContentCount), false);
                   return [=] { gpu::mse_forward_backward<float>(kContentCount, p, t, value, dp, ws, stream); };
                 }});

  ops.push_back({"AdamStep/2M", 7.0 * kAdamCount * 4,
                 [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                   float *param = buffer(k, kAdamCount), *grad = buffer(k, kAdamCount),
                         *m = buffer(k, kAdamCount, false), *v = buffer(k, kAdamCount, false);
                   auto config = std::make_shared<gramgan::AdamConfig>();
                   return [=] {
                     gpu::adam_step<float>(*config, kAdamCount, param, grad, m, v, stream);
                     ++config->step;
                   };
                 }});

  ops.push_back({"ReduceSum/8M", 1.0 * kActCount * 4,
                 [=](Buffers& k, gramgan::cuda::StreamHandle stream) -> std::function<void()> {
                   float *x = buffer(k, kActCount), *out = buffer(k, 1, false),
                         *ws = buffer(k, gpu::reduce_workspace(kActCount), false);
                   return [=] { gpu::reduce<float>(gramgan::Reduction::sum, kActCount, x, out, ws, stream); };
                 }});
  return ops;
}

void BM_MemcpyD2D(benchmark::State& state, std::string key, double bytes) {
  guarded(state, [&] {
    std::vector<std::unique_ptr<GpuBuffer>> keep;
    const double ms = run_timed(state, memcpy_op(bytes, keep));
    baseline_ms()["Memcpy/" + key] = ms;
    byte_counters(state, bytes, ms);
  });
}

void BM_MemoryOurs(benchmark::State& state, std::size_t index) {
  guarded(state, [&] {
    const MemoryOp op = memory_ops().at(index);
    std::vector<std::unique_ptr<GpuBuffer>> keep;
    const double ms = run_timed(state, op.make(keep, Gpu::get().handle()));
    byte_counters(state, op.bytes, ms);
    std::vector<std::unique_ptr<GpuBuffer>> copy_buffers;
    const double copy = baseline_time("Memcpy/" + op.name, memcpy_op(op.bytes, copy_buffers));
    if (ms > 0) state.counters["of_memcpy"] = copy / ms;
  });
}

// ---- registration -------------------------------------------------------------------------------------------------

// Seconds each benchmark runs at least: 0.2 by default, GRAMGAN_BENCH_MIN_TIME=S to change it (the GPU kit runs
// with less to fit its time budget). An explicit MinTime overrides --benchmark_min_time, hence the variable.
double min_time_seconds() {
  const char* text = std::getenv("GRAMGAN_BENCH_MIN_TIME");
  if (text == nullptr || *text == '\0') return 0.2;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  if (*end != '\0' || !(seconds > 0.0 && seconds <= 60.0)) {
    std::fprintf(stderr, "bench_gpu: GRAMGAN_BENCH_MIN_TIME='%s' is not a number of seconds in (0, 60]\n", text);
    std::exit(2);
  }
  return seconds;
}

template <class... Args>
void register_bench(const std::string& name, Args&&... args) {
  static const double min_time = min_time_seconds();
  benchmark::RegisterBenchmark(name.c_str(), std::forward<Args>(args)...)
      ->UseManualTime()
      ->MinTime(min_time)
      ->Unit(benchmark::kMicrosecond);
}

// The baseline's row comes right before ours, so our ratio reuses its time.
void register_all() {
  for (const ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_weight})
    for (const ConvCase& c : conv_cases()) {
      for (const Precision precision : {Precision::fp32, Precision::tf32}) {
        const std::string name = "BM_" + op_name(pass, precision) + "/" + c.name;
#if GRAMGAN_HAVE_CUDNN
        register_bench(name + (precision == Precision::tf32 ? "/cudnn_tf32" : "/cudnn"), BM_ConvCudnn, pass, c,
                       precision);
#endif
        register_bench(name + "/gramgan", BM_ConvOurs, pass, c, precision);
      }
    }
  for (const GramCase& g : gram_cases()) {
    const std::string name = std::string("BM_GramForward/") + g.name;
    register_bench(name + "/cublas_sgemm", BM_GramForwardCublas, GramBaseline::sgemm, g);
    register_bench(name + "/cublas_ssyrk", BM_GramForwardCublas, GramBaseline::ssyrk, g);
    register_bench(name + "/gramgan", BM_GramForwardOurs, g, Precision::fp32);
    const std::string tf32 = std::string("BM_GramForwardTf32/") + g.name;
    register_bench(tf32 + "/cublas_tf32", BM_GramForwardCublas, GramBaseline::gemm_tf32, g);
    register_bench(tf32 + "/gramgan", BM_GramForwardOurs, g, Precision::tf32);
  }
  for (const GramCase& g : gram_cases()) {
    const std::string name = std::string("BM_GramBackward/") + g.name;
    register_bench(name + "/cublas_sgemm", BM_GramBackwardCublas, g);
    register_bench(name + "/gramgan", BM_GramBackwardOurs, g);
  }
  const std::vector<MemoryOp> ops = memory_ops();
  for (std::size_t i = 0; i < ops.size(); ++i) {
    register_bench("BM_" + ops[i].name + "/memcpy_d2d", BM_MemcpyD2D, ops[i].name, ops[i].bytes);
    register_bench("BM_" + ops[i].name + "/gramgan", BM_MemoryOurs, i);
  }
}

bool listing_only(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--benchmark_list_tests") == 0 || std::strcmp(argv[i], "--benchmark_list_tests=true") == 0)
      return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const bool list = listing_only(argc, argv);
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  const bool have_gpu = status == cudaSuccess && devices > 0;
  if (!have_gpu && !list) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    const std::string reason = status != cudaSuccess
                                   ? std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status)
                                   : std::string("no CUDA device");
    // On stderr, so that a --benchmark_format=json consumer sees empty output rather than text it cannot parse.
    std::fprintf(stderr,
                 "bench_gpu: no GPU (%s); nothing measured. These benchmarks need an NVIDIA GPU; the cpu backend's "
                 "figures are bench_ops and bench_train.\n",
                 reason.c_str());
    return 0;
  }
  register_all();
  try {
    if (have_gpu)
      for (const auto& [key, value] : Gpu::get().context()) benchmark::AddCustomContext(key, value);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu: GPU setup failed: %s\n", e.what());
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("backend", "cuda (gramgan::cuda) vs cuDNN / cuBLAS / cudaMemcpy");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
