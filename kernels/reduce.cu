// Telemetry reductions of x (count elements) to one element `out`, as fixed-order trees
// (kernels/reduce_tree.cuh): the same input gives the same bits on every run of one backend; across backends the
// results agree within tolerance (sum_squares' x^2 may be contracted into the add on one backend and not the other).
//
//   sum, mean = sum / count, sum_squares = sum x^2, min, max, count_nonfinite = #{x : NaN or +-Inf} (as a T).
// NaN: sum, mean and sum_squares follow IEEE arithmetic (a NaN anywhere gives NaN); min and max propagate NaN
// too (any NaN element gives NaN) whatever the order they meet it in; count_nonfinite counts NaN and +-Inf.
// Empty input: sum, sum_squares and count_nonfinite give 0; mean, min and max throw (they are undefined).
// count_nonfinite is exact while the count fits T's significand (2^24 elements for float).
#include <limits>
#include <stdexcept>

#include "kernels/launch.h"
#include "kernels/launchers.h"
#include "kernels/reduce_tree.cuh"

namespace gramgan::GG_BACKEND {
namespace {

using detail::kReduceThreads;

// NaN-propagating min and max: `a` is the running value, so a NaN already met stays, and a NaN met now wins.
struct NanMinOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return b < a || b != b ? b : a;
  }
};
struct NanMaxOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return b > a || b != b ? b : a;
  }
};

struct Identity {
  template <class T>
  __device__ __forceinline__ T operator()(T x) const {
    return x;
  }
};
struct Square {
  template <class T>
  __device__ __forceinline__ T operator()(T x) const {
    return x * x;
  }
};
struct NonFinite {
  template <class T>
  __device__ __forceinline__ T operator()(T x) const {
    return isfinite(x) ? T(0) : T(1);
  }
};

template <class T, class Map, class Op>
__global__ void __launch_bounds__(kReduceThreads)
    reduce_partials_kernel(std::size_t count, const T* x, Map map, Op op, T identity, T* partials) {
  GG_KERNEL_BOUNDS(kReduceThreads);
  T acc = identity;
  for (std::size_t i = detail::reduce_first_item(); i < count; i += detail::reduce_item_stride())
    acc = op(acc, map(x[i]));
  acc = block_reduce<kReduceThreads>(acc, op);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

template <class T, class Map, class Op>
void run(std::size_t count, const T* x, Map map, Op op, T identity, T scale, T* out, T* workspace,
         StreamHandle stream) {
  const std::size_t blocks = detail::reduce_blocks(count);
  launch<reduce_partials_kernel<T, Map, Op>>(dim3(unsigned(blocks)), dim3(kReduceThreads), 0, stream, count, x, map, op,
                                             identity, workspace);
  launch<detail::reduce_finalize_kernel<T, Op>>(dim3(1), dim3(kReduceThreads), 0, stream,
                                                static_cast<const T*>(workspace), blocks, scale, std::size_t(0), T(0),
                                                op, identity, out);
}

}  // namespace

std::size_t reduce_workspace(std::size_t count, StreamHandle) { return detail::reduce_blocks(count); }

template <class T>
void reduce(Reduction reduction, std::size_t count, const T* x, T* out, T* workspace, StreamHandle stream) {
  if (out == nullptr || workspace == nullptr || (count > 0 && x == nullptr))
    throw std::invalid_argument("reduce: null device pointer");
  const bool needs_elements =
      reduction == Reduction::mean || reduction == Reduction::min || reduction == Reduction::max;
  if (count == 0 && needs_elements)
    throw std::invalid_argument("reduce: mean, min and max of an empty input are undefined (count is 0)");
  constexpr T inf = std::numeric_limits<T>::infinity();
  switch (reduction) {
    case Reduction::sum: return run(count, x, Identity{}, SumOp{}, T(0), T(1), out, workspace, stream);
    case Reduction::mean:
      return run(count, x, Identity{}, SumOp{}, T(0), T(1.0 / double(count)), out, workspace, stream);
    case Reduction::sum_squares: return run(count, x, Square{}, SumOp{}, T(0), T(1), out, workspace, stream);
    case Reduction::min: return run(count, x, Identity{}, NanMinOp{}, inf, T(1), out, workspace, stream);
    case Reduction::max: return run(count, x, Identity{}, NanMaxOp{}, -inf, T(1), out, workspace, stream);
    case Reduction::count_nonfinite: return run(count, x, NonFinite{}, SumOp{}, T(0), T(1), out, workspace, stream);
  }
  throw std::invalid_argument("reduce: unknown Reduction value");
}

template void reduce<float>(Reduction, std::size_t, const float*, float*, float*, StreamHandle);
template void reduce<double>(Reduction, std::size_t, const double*, double*, double*, StreamHandle);

}  // namespace gramgan::GG_BACKEND
