#include "util/crc32.h"

#include <zlib.h>

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace octavo {
namespace {

uint32_t Crc32Zlib(uint32_t crc, const uint8_t* p, size_t n) {
  uLong c = crc;
  while (n > 0) {  // zlib takes uInt lengths
    const uInt k = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    c = crc32(c, p, k);
    p += k;
    n -= k;
  }
  return static_cast<uint32_t>(c);
}

#if defined(__x86_64__)
#define OCTAVO_CLMUL __attribute__((target("pclmul,sse4.1")))

OCTAVO_CLMUL inline __m128i Load(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// acc folded 128 bits forward by the constants k, plus the next 16 bytes.
OCTAVO_CLMUL inline __m128i Fold(__m128i acc, __m128i next, __m128i k) {
  const __m128i lo = _mm_clmulepi64_si128(acc, k, 0x00);
  acc = _mm_clmulepi64_si128(acc, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(acc, next), lo);
}

OCTAVO_CLMUL uint32_t FoldPclmulTail(__m128i x1, __m128i x2, __m128i x3, __m128i x4, const uint8_t* buf, size_t n);

// Folding with PCLMULQDQ over 64-byte blocks, then a Barrett reduction: the method of Intel's
// "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ" (Gopal et al., 2009), with
// its bit-reflected constants for the CRC-32 polynomial 0x04C11DB7. Takes and returns the
// raw (uninverted) register; n >= 64 and a multiple of 16.
OCTAVO_CLMUL uint32_t FoldPclmul(const uint8_t* buf, size_t n, uint32_t crc) {
  alignas(16) static const uint64_t k1k2[] = {0x0154442bd4, 0x01c6e41596};

  __m128i x1 = Load(buf), x2 = Load(buf + 16), x3 = Load(buf + 32), x4 = Load(buf + 48);
  x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128(static_cast<int>(crc)));
  __m128i k = _mm_load_si128(reinterpret_cast<const __m128i*>(k1k2));
  buf += 64;
  n -= 64;
  while (n >= 64) {  // four independent 128-bit lanes, each folded 512 bits forward
    __m128i a1 = _mm_clmulepi64_si128(x1, k, 0x00), a2 = _mm_clmulepi64_si128(x2, k, 0x00);
    __m128i a3 = _mm_clmulepi64_si128(x3, k, 0x00), a4 = _mm_clmulepi64_si128(x4, k, 0x00);
    x1 = _mm_clmulepi64_si128(x1, k, 0x11);
    x2 = _mm_clmulepi64_si128(x2, k, 0x11);
    x3 = _mm_clmulepi64_si128(x3, k, 0x11);
    x4 = _mm_clmulepi64_si128(x4, k, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, a1), Load(buf));
    x2 = _mm_xor_si128(_mm_xor_si128(x2, a2), Load(buf + 16));
    x3 = _mm_xor_si128(_mm_xor_si128(x3, a3), Load(buf + 32));
    x4 = _mm_xor_si128(_mm_xor_si128(x4, a4), Load(buf + 48));
    buf += 64;
    n -= 64;
  }
  return FoldPclmulTail(x1, x2, x3, x4, buf, n);
}

// The four 128-bit lanes into one, the remaining 16-byte blocks, then down to 32 bits.
OCTAVO_CLMUL uint32_t FoldPclmulTail(__m128i x1, __m128i x2, __m128i x3, __m128i x4, const uint8_t* buf, size_t n) {
  alignas(16) static const uint64_t k3k4[] = {0x01751997d0, 0x00ccaa009e};
  alignas(16) static const uint64_t k5k0[] = {0x0163cd6124, 0x0000000000};
  alignas(16) static const uint64_t poly[] = {0x01db710641, 0x01f7011641};
  __m128i k = _mm_load_si128(reinterpret_cast<const __m128i*>(k3k4));
  x1 = Fold(x1, x2, k);
  x1 = Fold(x1, x3, k);
  x1 = Fold(x1, x4, k);
  while (n >= 16) {
    x1 = Fold(x1, Load(buf), k);
    buf += 16;
    n -= 16;
  }
  // 128 -> 64 bits.
  x2 = _mm_clmulepi64_si128(x1, k, 0x10);
  x3 = _mm_setr_epi32(~0, 0, ~0, 0);
  x1 = _mm_srli_si128(x1, 8);
  x1 = _mm_xor_si128(x1, x2);
  k = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(k5k0));
  x2 = _mm_srli_si128(x1, 4);
  x1 = _mm_and_si128(x1, x3);
  x1 = _mm_clmulepi64_si128(x1, k, 0x00);
  x1 = _mm_xor_si128(x1, x2);
  // Barrett reduction to 32 bits.
  k = _mm_load_si128(reinterpret_cast<const __m128i*>(poly));
  x2 = _mm_and_si128(x1, x3);
  x2 = _mm_clmulepi64_si128(x2, k, 0x10);
  x2 = _mm_and_si128(x2, x3);
  x2 = _mm_clmulepi64_si128(x2, k, 0x00);
  x1 = _mm_xor_si128(x1, x2);
  return static_cast<uint32_t>(_mm_extract_epi32(x1, 1));
}

// The same folding four 512-bit registers at a time (VPCLMULQDQ): 256 bytes per round, each
// register folded 2048 bits forward (constants x^(2048+32), x^(2048-32) mod P, reflected;
// the 512-bit ones above are x^(512+32), x^(512-32)). The four are then folded into one,
// whose four 128-bit lanes are the x1..x4 of FoldPclmul's 64-byte loop; n >= 256, a multiple of 16.
#define OCTAVO_VCLMUL __attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul,sse4.1")))

OCTAVO_VCLMUL inline __m512i Load512(const uint8_t* p) { return _mm512_loadu_si512(p); }

OCTAVO_VCLMUL inline __m512i Fold512(__m512i acc, __m512i next, __m512i k) {
  const __m512i lo = _mm512_clmulepi64_epi128(acc, k, 0x00);
  const __m512i hi = _mm512_clmulepi64_epi128(acc, k, 0x11);
  return _mm512_ternarylogic_epi64(lo, hi, next, 0x96);  // lo ^ hi ^ next
}

OCTAVO_VCLMUL uint32_t FoldVpclmul(const uint8_t* buf, size_t n, uint32_t crc) {
  __m512i z0 = Load512(buf), z1 = Load512(buf + 64), z2 = Load512(buf + 128), z3 = Load512(buf + 192);
  z0 = _mm512_xor_si512(z0, _mm512_castsi128_si512(_mm_cvtsi32_si128(static_cast<int>(crc))));
  buf += 256;
  n -= 256;
  const __m512i k2048 = _mm512_broadcast_i32x4(_mm_set_epi64x(0x1322d1430, 0x11542778a));
  while (n >= 256) {
    z0 = Fold512(z0, Load512(buf), k2048);
    z1 = Fold512(z1, Load512(buf + 64), k2048);
    z2 = Fold512(z2, Load512(buf + 128), k2048);
    z3 = Fold512(z3, Load512(buf + 192), k2048);
    buf += 256;
    n -= 256;
  }
  const __m512i k512 = _mm512_broadcast_i32x4(_mm_set_epi64x(0x01c6e41596, 0x0154442bd4));
  z0 = Fold512(z0, z1, k512);
  z0 = Fold512(z0, z2, k512);
  z0 = Fold512(z0, z3, k512);
  while (n >= 64) {
    z0 = Fold512(z0, Load512(buf), k512);
    buf += 64;
    n -= 64;
  }
  // Hand the four lanes (and what is left, under 64 bytes) to the 128-bit code's tail.
  alignas(64) uint8_t lanes[64];
  _mm512_store_si512(lanes, z0);
  return FoldPclmulTail(Load(lanes), Load(lanes + 16), Load(lanes + 32), Load(lanes + 48), buf, n);
}

bool HaveVpclmul() {
  static const bool have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                           __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul") &&
                           __builtin_cpu_supports("sse4.1");
  return have;
}

bool HavePclmul() {
  static const bool have = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  return have;
}
#endif

}  // namespace

uint32_t Crc32(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
#if defined(__x86_64__)
  if (n >= 256 && HaveVpclmul()) {
    const size_t bulk = n & ~size_t{15};
    crc = ~FoldVpclmul(p, bulk, ~crc);
    p += bulk;
    n -= bulk;
  } else if (n >= 64 && HavePclmul()) {
    const size_t bulk = n & ~size_t{15};
    crc = ~FoldPclmul(p, bulk, ~crc);
    p += bulk;
    n -= bulk;
  }
#endif
  return n ? Crc32Zlib(crc, p, n) : crc;
}

}  // namespace octavo
