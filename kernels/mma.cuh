// Warp-level tensor-core primitives, one spelling for both backends:
//   mma_m16n8k8_tf32(d, a, b, c)  D = A * B + C, A (16x8, row) and B (8x8, col) tf32, C and D (16x8) f32:
//                                 mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
//   to_tf32(x)                    cvt.rna.tf32.f32: x rounded to TF32, ties away from zero
//
// Fragments per lane (PTX ISA, "Matrix Fragments for mma.m16n8k8", .tf32), g = lane >> 2, t = lane % 4:
//   a[4]: a0 A(g, t), a1 A(g+8, t), a2 A(g, t+4), a3 A(g+8, t+4)
//   b[2]: b0 B(t, g), b1 B(t+4, g)
//   c[4], d[4]: c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1)
// Every lane of the warp must make the call, at the same site (a warp-collective, like a shuffle with a full mask).
// A and B may hold raw FP32 values: the tensor core ignores their low 13 bits (truncation); to_tf32 first rounds
// instead.
//
// nvcc: inline PTX, sm_80 and later. Simulator: a warp-collective operation (cudasim.h) whose arithmetic is the
// selected architecture's model of the tensor cores (cudasim/mma_model.h: products exact, terms aligned to the
// largest exponent and truncated to 24 fractional bits on sm_80/86/89 or 25 on sm_90, round toward zero; Ampere
// and Ada split k = 8 into two chained k = 4 steps). So a cpu run gives the bits the GPU of that architecture
// gives.
#pragma once

#if defined(GG_SIMULATOR)

namespace gramgan::GG_BACKEND {

// The simulator needs the call site for its diagnostics, hence the defaulted location argument.
inline void mma_m16n8k8_tf32(float (&d)[4], const float (&a)[4], const float (&b)[2], const float (&c)[4],
                             cudasim::detail::SourceLocation where = cudasim::detail::SourceLocation::current()) {
  cudasim::mma_sync_m16n8k8_tf32(d, a, b, c, where);
}
inline float to_tf32(float x) { return cudasim::cvt_rna_tf32(x); }

}  // namespace gramgan::GG_BACKEND

#else

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "kernels/mma.cuh: tf32 mma.sync needs sm_80 or later"
#endif

namespace gramgan::GG_BACKEND {

__device__ __forceinline__ void mma_m16n8k8_tf32(float (&d)[4], const float (&a)[4], const float (&b)[2],
                                                 const float (&c)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(__float_as_uint(a[0])), "r"(__float_as_uint(a[1])), "r"(__float_as_uint(a[2])), "r"(__float_as_uint(a[3])),
        "r"(__float_as_uint(b[0])), "r"(__float_as_uint(b[1])), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}

__device__ __forceinline__ float to_tf32(float x) {
  unsigned bits;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(bits) : "f"(x));
  return __uint_as_float(bits);
}

}  // namespace gramgan::GG_BACKEND

#endif
