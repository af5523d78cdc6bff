// One benchmark per launcher of kernels/ops.inc at the shapes the models run (DESIGN.md section 4), on the cpu
// backend (gramgan::sim: the simulated kernels, on simulator memory). Compute-bound ops report FLOP/s, memory-bound
// ops bytes/s (bytes the op must read and write once). The simulator is slow, so the biggest shapes run at batch 1
// (or a smaller plane); every benchmark name states the shape it ran. BM_Conv2dNaiveLoop is a plain single-thread
// direct convolution at the VGG conv3 shape, next to BM_Conv2dForward at the same shape. See bench/README.md.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench/device_buffer.h"
#include "bench/model_shapes.h"
#include "cudasim/runtime.h"
#include "kernels/check.h"
#include "kernels/launchers.h"
#include "kernels/shapes.h"

namespace {

namespace sim = gramgan::sim;
using gramgan::Conv2dShape;
using gramgan::Padding;
using namespace gramgan::bench;

// Simulator memory; random fills are drawn on the host from a generator seeded by the count.
struct SimMemory {
  static void* allocate(std::size_t bytes) {
    void* p = nullptr;
    GG_CUDA_CHECK(cudasim::cudaMalloc(&p, bytes));
    return p;
  }
  static void release(void* p) { cudasim::cudaFree(p); }
  static void fill_uniform(float* p, std::size_t count) {
    std::vector<float> host(count);
    std::mt19937 rng{static_cast<unsigned>(count)};
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (auto& x : host) x = dist(rng);
    GG_CUDA_CHECK(cudasim::cudaMemcpy(p, host.data(), sizeof(float) * count, cudasim::cudaMemcpyHostToDevice));
  }
  static void zero(float* p, std::size_t count) { GG_CUDA_CHECK(cudasim::cudaMemset(p, 0, sizeof(float) * count)); }
};
using SimBuffer = DeviceBuffer<SimMemory>;

benchmark::Counter rate(double per_iteration) {
  return benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

void set_bytes(benchmark::State& state, double bytes_per_iteration) {
  state.SetBytesProcessed(std::int64_t(double(state.iterations()) * bytes_per_iteration));
}

// ---- conv2d -----------------------------------------------------------------------------------------------------

// A 256x256 input; batch 4 where the simulator affords it, else batch 1 (named). Padding zeros for VGG and PatchGAN,
// reflection for the generator (the upsampling convs run on the nearest x2 output, hence their input size).
const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {"vgg_conv1_1_3to64_256x256_n4", conv(4, 3, 256, 64, 3, 1, 1, Padding::zeros)},
      {"vgg_conv2_1_64to128_128x128_n1", conv(1, 64, 128, 128, 3, 1, 1, Padding::zeros)},
      {"vgg_conv3_1_128to256_64x64_n1", conv(1, 128, 64, 256, 3, 1, 1, Padding::zeros)},
      {"vgg_conv3_x_256to256_64x64_n1", conv(1, 256, 64, 256, 3, 1, 1, Padding::zeros)},
      {"vgg_conv4_1_256to512_32x32_n1", conv(1, 256, 32, 512, 3, 1, 1, Padding::zeros)},
      {"vgg_conv5_1_512to512_16x16_n4", conv(4, 512, 16, 512, 3, 1, 1, Padding::zeros)},
      {"gen_c9s1_32_3to32_9x9_reflect_256x256_n1", conv(1, 3, 256, 32, 9, 1, 4, Padding::reflect)},
      {"gen_d64_32to64_s2_256x256_n1", conv(1, 32, 256, 64, 3, 2, 1, Padding::reflect)},
      {"gen_d128_64to128_s2_128x128_n1", conv(1, 64, 128, 128, 3, 2, 1, Padding::reflect)},
      {"gen_res_128to128_reflect_64x64_n1", conv(1, 128, 64, 128, 3, 1, 1, Padding::reflect)},
      {"gen_up64_128to64_128x128_n1", conv(1, 128, 128, 64, 3, 1, 1, Padding::reflect)},
      {"gen_up32_64to32_256x256_n1", conv(1, 64, 256, 32, 3, 1, 1, Padding::reflect)},
      {"gen_c9s1_3_32to3_9x9_reflect_256x256_n1", conv(1, 32, 256, 3, 9, 1, 4, Padding::reflect)},
      {"patch_c64_3to64_4x4s2_256x256_n4", conv(4, 3, 256, 64, 4, 2, 1, Padding::zeros)},
      {"patch_c128_64to128_4x4s2_128x128_n1", conv(1, 64, 128, 128, 4, 2, 1, Padding::zeros)},
      {"patch_c256_128to256_4x4s2_64x64_n1", conv(1, 128, 64, 256, 4, 2, 1, Padding::zeros)},
      {"patch_c512_256to512_4x4s2_32x32_n1", conv(1, 256, 32, 512, 4, 2, 1, Padding::zeros)},
  };
  return cases;
}

void BM_Conv2dForward(benchmark::State& state, Conv2dShape s) {
  SimBuffer x(x_count(s)), w(w_count(s)), b(std::size_t(s.out_channels)), y(y_count(s), false);
  for (auto _ : state) sim::conv2d_forward(s, x.get(), w.get(), b.get(), y.get(), nullptr);
  state.counters["FLOP/s"] = rate(conv_flops(s));
}

void BM_Conv2dBackwardData(benchmark::State& state, Conv2dShape s) {
  SimBuffer dy(y_count(s)), w(w_count(s)), dx(x_count(s), false);
  for (auto _ : state) sim::conv2d_backward_data(s, dy.get(), w.get(), dx.get(), nullptr);
  state.counters["FLOP/s"] = rate(conv_flops(s));
}

void BM_Conv2dBackwardWeight(benchmark::State& state, Conv2dShape s) {
  SimBuffer x(x_count(s)), dy(y_count(s)), dw(w_count(s), false), db(std::size_t(s.out_channels), false),
      workspace(sim::conv2d_backward_weight_workspace(s), false);
  for (auto _ : state) sim::conv2d_backward_weight(s, x.get(), dy.get(), dw.get(), db.get(), workspace.get(), nullptr);
  state.counters["FLOP/s"] = rate(conv_flops(s));
}

// The VGG conv3 shape (256 -> 256, 3x3, pad 1, 64x64, batch 1) as a plain direct convolution, one thread, float:
// the baseline a naive CPU implementation gets.
const Conv2dShape kConv3 = conv(1, 256, 64, 256, 3, 1, 1, Padding::zeros);

void BM_Conv2dNaiveLoop(benchmark::State& state) {
  const Conv2dShape s = kConv3;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(x_count(s)), w(w_count(s)), b(std::size_t(s.out_channels)), y(y_count(s));
  for (auto* v : {&x, &w, &b})
    for (auto& e : *v) e = dist(rng);
  const int oh_count = s.out_height(), ow_count = s.out_width(), k = s.kernel_h;
  for (auto _ : state) {
    for (int n = 0; n < s.batch; ++n)
      for (int co = 0; co < s.out_channels; ++co)
        for (int oh = 0; oh < oh_count; ++oh)
          for (int ow = 0; ow < ow_count; ++ow) {
            float sum = b[std::size_t(co)];
            for (int ci = 0; ci < s.in_channels; ++ci)
              for (int kh = 0; kh < k; ++kh) {
                const int ih = oh * s.stride - s.pad + kh;
                if (ih < 0 || ih >= s.height) continue;
                for (int kw = 0; kw < k; ++kw) {
                  const int iw = ow * s.stride - s.pad + kw;
                  if (iw < 0 || iw >= s.width) continue;
                  sum += w[((std::size_t(co) * s.in_channels + ci) * k + kh) * k + kw] *
                         x[((std::size_t(n) * s.in_channels + ci) * s.height + ih) * s.width + iw];
                }
              }
            y[((std::size_t(n) * s.out_channels + co) * oh_count + oh) * ow_count + ow] = sum;
          }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOP/s"] = rate(conv_flops(s));
}
BENCHMARK(BM_Conv2dNaiveLoop)
    ->Name("BM_Conv2dNaiveLoop/vgg_conv3_x_256to256_64x64_n1")
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---- Gram at the five style layers (VGG-19 on a 256x256 input, batch 4) -------------------------------------------

// Nominal 2 N C^2 plane (the full F F^T; the kernels compute the upper tiles only, about half).
double gram_flops(const GramCase& g) { return 2.0 * g.batch * double(g.channels) * g.channels * g.plane; }

void BM_GramForward(benchmark::State& state, GramCase g) {
  const std::size_t features = std::size_t(g.batch) * g.channels * g.plane;
  SimBuffer f(features), gram(std::size_t(g.batch) * g.channels * g.channels, false),
      workspace(sim::gram_forward_workspace({g.batch, g.channels, g.plane}), false);
  for (auto _ : state) sim::gram_forward({g.batch, g.channels, g.plane}, f.get(), gram.get(), workspace.get(), nullptr);
  state.counters["FLOP/s"] = rate(gram_flops(g));
}

void BM_GramBackward(benchmark::State& state, GramCase g) {
  const std::size_t features = std::size_t(g.batch) * g.channels * g.plane;
  SimBuffer f(features), dgram(std::size_t(g.batch) * g.channels * g.channels), df(features, false);
  for (auto _ : state) sim::gram_backward(g.batch, g.channels, g.plane, f.get(), dgram.get(), df.get(), nullptr);
  state.counters["FLOP/s"] = rate(gram_flops(g));
}

void BM_GramMseForwardBackward(benchmark::State& state, GramCase g) {
  const std::size_t features = std::size_t(g.batch) * g.channels * g.plane;
  SimBuffer f(features), target(std::size_t(g.channels) * g.channels), value(1, false), df(features, false),
      workspace(sim::gram_mse_workspace(g.batch, g.channels, g.plane), false);
  for (auto _ : state)
    sim::gram_mse_forward_backward(g.batch, g.channels, g.plane, f.get(), target.get(), false, value.get(), df.get(),
                                   workspace.get(), nullptr);
  state.counters["FLOP/s"] = rate(2.0 * gram_flops(g));  // the Gram and the gradient's (E F) product
}

// ---- memory-bound ops ---------------------------------------------------------------------------------------------
// At the models' sizes (model_shapes.h).

void BM_InstanceNormForward(benchmark::State& state) {
  const std::size_t count = std::size_t(kNormBatch) * kNormChannels * kNormPlane;
  SimBuffer x(count), gamma(kNormChannels), beta(kNormChannels), y(count, false),
      mean(std::size_t(kNormBatch) * kNormChannels, false), inv_std(std::size_t(kNormBatch) * kNormChannels, false);
  for (auto _ : state)
    sim::instance_norm_forward(kNormBatch, kNormChannels, kNormPlane, 1e-5f, x.get(), gamma.get(), beta.get(), y.get(),
                               mean.get(), inv_std.get(), nullptr);
  set_bytes(state, 2.0 * count * sizeof(float));
}
BENCHMARK(BM_InstanceNormForward)
    ->Name("BM_InstanceNormForward/4x128x64x64")
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_InstanceNormBackward(benchmark::State& state) {
  const std::size_t count = std::size_t(kNormBatch) * kNormChannels * kNormPlane;
  const std::size_t stats = std::size_t(kNormBatch) * kNormChannels;
  SimBuffer x(count), dy(count), gamma(kNormChannels), mean(stats), inv_std(stats), dx(count, false),
      dgamma(kNormChannels, false), dbeta(kNormChannels, false),
      workspace(sim::instance_norm_backward_workspace(kNormBatch, kNormChannels), false);
  for (auto _ : state)
    sim::instance_norm_backward(kNormBatch, kNormChannels, kNormPlane, x.get(), dy.get(), gamma.get(), mean.get(),
                                inv_std.get(), dx.get(), dgamma.get(), dbeta.get(), workspace.get(), nullptr);
  set_bytes(state, 3.0 * count * sizeof(float));
}
BENCHMARK(BM_InstanceNormBackward)
    ->Name("BM_InstanceNormBackward/4x128x64x64")
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_ActivationForward(benchmark::State& state, gramgan::Activation activation) {
  SimBuffer x(kActCount), y(kActCount, false);
  for (auto _ : state) sim::activation_forward(activation, 0.2f, kActCount, x.get(), y.get(), nullptr);
  set_bytes(state, 2.0 * kActCount * sizeof(float));
}

void BM_ActivationBackward(benchmark::State& state, gramgan::Activation activation) {
  SimBuffer x(kActCount), y(kActCount), dy(kActCount), dx(kActCount, false);
  for (auto _ : state)
    sim::activation_backward(activation, 0.2f, kActCount, x.get(), y.get(), dy.get(), dx.get(), nullptr);
  set_bytes(state, 4.0 * kActCount * sizeof(float));
}

void BM_Pool2x2Forward(benchmark::State& state, gramgan::Pool pool) {
  const std::size_t in = std::size_t(kPoolPlanes) * kPoolSize * kPoolSize;
  SimBuffer x(in), y(in / 4, false);
  for (auto _ : state) sim::pool2x2_forward(pool, kPoolPlanes, kPoolSize, kPoolSize, x.get(), y.get(), nullptr);
  set_bytes(state, 1.25 * in * sizeof(float));
}

void BM_Pool2x2Backward(benchmark::State& state, gramgan::Pool pool) {
  const std::size_t in = std::size_t(kPoolPlanes) * kPoolSize * kPoolSize;
  SimBuffer x(in), dy(in / 4), dx(in, false);
  for (auto _ : state)
    sim::pool2x2_backward(pool, kPoolPlanes, kPoolSize, kPoolSize, x.get(), dy.get(), dx.get(), nullptr);
  set_bytes(state, 2.25 * in * sizeof(float));
}

void BM_Upsample2xForward(benchmark::State& state) {
  const std::size_t in = std::size_t(kUpPlanes) * kUpSize * kUpSize;
  SimBuffer x(in), y(4 * in, false);
  for (auto _ : state) sim::upsample2x_forward(kUpPlanes, kUpSize, kUpSize, x.get(), y.get(), nullptr);
  set_bytes(state, 5.0 * in * sizeof(float));
}
BENCHMARK(BM_Upsample2xForward)
    ->Name("BM_Upsample2xForward/512x64x64")
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_Upsample2xBackward(benchmark::State& state) {
  const std::size_t in = std::size_t(kUpPlanes) * kUpSize * kUpSize;
  SimBuffer dy(4 * in), dx(in, false);
  for (auto _ : state) sim::upsample2x_backward(kUpPlanes, kUpSize, kUpSize, dy.get(), dx.get(), nullptr);
  set_bytes(state, 5.0 * in * sizeof(float));
}
BENCHMARK(BM_Upsample2xBackward)
    ->Name("BM_Upsample2xBackward/512x128x128")
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_TvForwardBackward(benchmark::State& state, gramgan::TvMode mode) {
  const std::size_t count = std::size_t(kImageBatch) * kImageChannels * kImageSize * kImageSize;
  SimBuffer x(count), value(1, false), dx(count, false),
      workspace(sim::tv_workspace(kImageBatch, kImageChannels, kImageSize, kImageSize), false);
  for (auto _ : state)
    sim::tv_forward_backward(mode, 1e-8f, kImageBatch, kImageChannels, kImageSize, kImageSize, x.get(), value.get(),
                             dx.get(), workspace.get(), nullptr);
  set_bytes(state, 2.0 * count * sizeof(float));
}

void BM_ChannelAffineForward(benchmark::State& state) {
  const int plane = kImageSize * kImageSize;
  const std::size_t count = std::size_t(kImageBatch) * kImageChannels * plane;
  SimBuffer x(count), scale(kImageChannels), shift(kImageChannels), y(count, false);
  for (auto _ : state)
    sim::channel_affine_forward(kImageBatch, kImageChannels, plane, x.get(), scale.get(), shift.get(), y.get(),
                                nullptr);
  set_bytes(state, 2.0 * count * sizeof(float));
}
BENCHMARK(BM_ChannelAffineForward)
    ->Name("BM_ChannelAffineForward/4x3x256x256")
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_MseForwardBackward(benchmark::State& state) {
  SimBuffer p(kContentCount), t(kContentCount), value(1, false), dp(kContentCount, false),
      workspace(sim::mse_workspace(kContentCount), false);
  for (auto _ : state)
    sim::mse_forward_backward(kContentCount, p.get(), t.get(), value.get(), dp.get(), workspace.get(), nullptr);
  set_bytes(state, 3.0 * kContentCount * sizeof(float));
}
BENCHMARK(BM_MseForwardBackward)
    ->Name("BM_MseForwardBackward/relu4_2_4x512x32x32")
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// PatchGAN output map for a 256x256 batch of 4: (4, 1, 16, 16) with the C512 layer at stride 2, real and fake.
constexpr std::size_t kPatchCount = std::size_t(4) * 16 * 16;

void BM_LsganDForwardBackward(benchmark::State& state) {
  SimBuffer real(kPatchCount), fake(kPatchCount), value(1, false), dreal(kPatchCount, false), dfake(kPatchCount, false),
      workspace(sim::lsgan_workspace(kPatchCount, kPatchCount), false);
  for (auto _ : state)
    sim::lsgan_d_forward_backward(kPatchCount, real.get(), kPatchCount, fake.get(), value.get(), dreal.get(),
                                  dfake.get(), workspace.get(), nullptr);
  set_bytes(state, 4.0 * kPatchCount * sizeof(float));
}
BENCHMARK(BM_LsganDForwardBackward)
    ->Name("BM_LsganDForwardBackward/2x4x16x16")
    ->Iterations(10)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_AdamStep(benchmark::State& state) {
  SimBuffer param(kAdamCount), grad(kAdamCount), m(kAdamCount, false), v(kAdamCount, false);
  gramgan::AdamConfig config;
  for (auto _ : state) {
    sim::adam_step(config, kAdamCount, param.get(), grad.get(), m.get(), v.get(), nullptr);
    ++config.step;
  }
  set_bytes(state, 7.0 * kAdamCount * sizeof(float));  // read param, grad, m, v; write param, m, v
}
BENCHMARK(BM_AdamStep)->Name("BM_AdamStep/2M")->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_ReduceSum(benchmark::State& state) {
  SimBuffer x(kActCount), out(1, false), workspace(sim::reduce_workspace(kActCount), false);
  for (auto _ : state) sim::reduce(gramgan::Reduction::sum, kActCount, x.get(), out.get(), workspace.get(), nullptr);
  set_bytes(state, 1.0 * kActCount * sizeof(float));
}
BENCHMARK(BM_ReduceSum)->Name("BM_ReduceSum/8M")->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);

void register_all() {
  for (const auto& c : conv_cases()) {
    const std::string name(c.name);
    benchmark::RegisterBenchmark(("BM_Conv2dForward/" + name).c_str(), BM_Conv2dForward, c.shape)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("BM_Conv2dBackwardData/" + name).c_str(), BM_Conv2dBackwardData, c.shape)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("BM_Conv2dBackwardWeight/" + name).c_str(), BM_Conv2dBackwardWeight, c.shape)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  // The same passes in tf32 on the simulator's emulated tensor cores, at the VGG conv3 shape: what verifying the
  // tensor-core kernels on cpu costs next to the fp32 rows above.
  Conv2dShape tf32 = kConv3;
  tf32.precision = gramgan::Precision::tf32;
  using Pass = void (*)(benchmark::State&, Conv2dShape);
  const std::pair<const char*, Pass> passes[] = {{"Forward", BM_Conv2dForward},
                                                 {"BackwardData", BM_Conv2dBackwardData},
                                                 {"BackwardWeight", BM_Conv2dBackwardWeight}};
  for (const auto& [pass, run] : passes)
    benchmark::RegisterBenchmark(("BM_Conv2d" + std::string(pass) + "/tf32/vgg_conv3_x_256to256_64x64_n1").c_str(), run,
                                 tf32)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  for (const auto& g : gram_cases()) {
    const std::string name(g.name);
    benchmark::RegisterBenchmark(("BM_GramForward/" + name).c_str(), BM_GramForward, g)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("BM_GramBackward/" + name).c_str(), BM_GramBackward, g)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("BM_GramMseForwardBackward/" + name).c_str(), BM_GramMseForwardBackward, g)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  using gramgan::Activation;
  const std::pair<const char*, Activation> activations[] = {
      {"relu", Activation::relu}, {"leaky_relu", Activation::leaky_relu}, {"tanh_unit", Activation::tanh_unit}};
  for (const auto& [name, activation] : activations) {
    benchmark::RegisterBenchmark((std::string("BM_ActivationForward/") + name + "/8M").c_str(), BM_ActivationForward,
                                 activation)
        ->Iterations(3)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("BM_ActivationBackward/") + name + "/8M").c_str(), BM_ActivationBackward,
                                 activation)
        ->Iterations(3)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  const std::pair<const char*, gramgan::Pool> pools[] = {{"max", gramgan::Pool::max},
                                                         {"average", gramgan::Pool::average}};
  for (const auto& [name, pool] : pools) {
    benchmark::RegisterBenchmark((std::string("BM_Pool2x2Forward/") + name + "/256x256x256").c_str(), BM_Pool2x2Forward,
                                 pool)
        ->Iterations(3)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("BM_Pool2x2Backward/") + name + "/256x256x256").c_str(),
                                 BM_Pool2x2Backward, pool)
        ->Iterations(3)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("BM_TvForwardBackward/sqrt/4x3x256x256", BM_TvForwardBackward, gramgan::TvMode::sqrt)
      ->Iterations(3)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_TvForwardBackward/squared/4x3x256x256", BM_TvForwardBackward,
                               gramgan::TvMode::squared)
      ->Iterations(3)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("cudasim_workers", std::to_string(cudasim::worker_count()));
  benchmark::AddCustomContext("backend", "cpu (gramgan::sim, simulated kernels)");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
