// Block-wide reductions for blocks of up to 1024 threads (a multiple of 32). Every thread gets the
// result; each call uses its own 32-float shared array and starts with a barrier, so calls may follow
// each other.
#pragma once
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
  return v;
}
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float s[32];
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) s[w] = v;
  __syncthreads();
  return warp_sum(lane < nw ? s[lane] : 0.0f);
}
__device__ __forceinline__ float block_max(float v) {
  __shared__ float s[32];
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) s[w] = v;
  __syncthreads();
  return warp_max(lane < nw ? s[lane] : -INFINITY);
}
