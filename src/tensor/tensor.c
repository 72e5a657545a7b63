/* tensor.c — descriptor helpers and dtype conversions. */
#include "tensor.h"

#include <stdio.h>
#include <string.h>

size_t dtype_size(ts_dtype d) {
  switch (d) {
    case DT_F32: return 4;
    case DT_BF16: return 2;
    case DT_F16: return 2;
    case DT_I32: return 4;
    default: return 0;
  }
}

const char *dtype_name(ts_dtype d) {
  switch (d) {
    case DT_F32: return "F32";
    case DT_BF16: return "BF16";
    case DT_F16: return "F16";
    case DT_I32: return "I32";
    default: return "?";
  }
}

int64_t tensor_numel(const tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->ne[i];
  return n;
}

size_t tensor_nbytes(const tensor *t) { return (size_t)tensor_numel(t) * dtype_size(t->dtype); }

tensor tensor_f32(float *data, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
  tensor t;
  memset(&t, 0, sizeof t);
  t.data = data;
  t.dtype = DT_F32;
  t.device = DEV_CPU;
  t.ndim = ndim;
  int64_t d[4] = {d0, d1, d2, d3};
  for (int i = 0; i < ndim && i < 4; i++) t.ne[i] = d[i];
  return t;
}

tensor tensor_dev(ts_device dev, float *data, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
  tensor t = tensor_f32(data, ndim, d0, d1, d2, d3);
  t.device = dev;
  return t;
}

const char *tensor_shape_str(const tensor *t, char *buf, size_t n) {
  size_t off = 0;
  off += (size_t)snprintf(buf + off, n - off, "[");
  for (int i = 0; i < t->ndim && off < n; i++)
    off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)t->ne[i]);
  if (off < n) snprintf(buf + off, n - off, "]");
  return buf;
}

int tensor_same_shape(const tensor *a, const tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->ne[i] != b->ne[i]) return 0;
  return 1;
}

float bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu)) return (uint16_t)((u >> 16) | 0x40); /* NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else { /* subnormal: normalise */
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while (!(man & 0x400u));
      u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (man << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000u;
  int32_t exp = (int32_t)((u >> 23) & 0xff) - 127 + 15;
  uint32_t man = u & 0x7fffffu;
  if (((u >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
  if (exp >= 31) return (uint16_t)(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return (uint16_t)sign;
    man |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - exp);
    uint32_t half = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t h = sign | ((uint32_t)exp << 10) | (man >> 13);
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
  return (uint16_t)h;
}

void dtype_to_f32(ts_dtype src_dt, const void *src, float *dst, int64_t n) {
  switch (src_dt) {
    case DT_F32: memmove(dst, src, (size_t)n * 4); break;
    case DT_BF16: {
      const uint16_t *s = src;
      for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
    } break;
    case DT_F16: {
      const uint16_t *s = src;
      for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
    } break;
    case DT_I32: {
      const int32_t *s = src;
      for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i];
    } break;
    default: break;
  }
}

void dtype_from_f32(ts_dtype dst_dt, const float *src, void *dst, int64_t n) {
  switch (dst_dt) {
    case DT_F32: memmove(dst, src, (size_t)n * 4); break;
    case DT_BF16: {
      uint16_t *d = dst;
      for (int64_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
    } break;
    case DT_F16: {
      uint16_t *d = dst;
      for (int64_t i = 0; i < n; i++) d[i] = f32_to_f16(src[i]);
    } break;
    case DT_I32: {
      int32_t *d = dst;
      for (int64_t i = 0; i < n; i++) d[i] = (int32_t)src[i];
    } break;
    default: break;
  }
}
