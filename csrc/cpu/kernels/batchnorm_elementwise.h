// The elementwise batch-normalization kernels (normalize, dx), included by batchnorm.cpp inside a
// namespace that defines PairStore::template put<NT>(p, a, b), the store of two vectors of a 16-bit output
// (vstore2, or vstore2_ne in the AVX512_BF16 target region: the same bits). Included once per
// store, so no include guard; the helpers it uses (for_rows, head_to_align, vput, lanes, kPair)
// come from batchnorm.cpp before the inclusion.

template <class T, bool R, bool NT>
void span_normalize(const T* x, T* y, int64_t len, compute_t<T> mhi, compute_t<T> mlo, compute_t<T> sc,
                    compute_t<T> sh) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  using V = typename lanes<T>::V;
  constexpr int64_t L = lanes<T>::n;
  if (NT)
    for (const int64_t h = head_to_align(y, len); k < h; ++k)
      elem_store(y + k, bn_normalize(elem_load(x + k), mhi, mlo, sc, sh, R));
  const V vmhi(mhi), vmlo(mlo), vsc(sc), vsh(sh);
  for (; k + kPair<T> <= len; k += 2 * L)
    PairStore::template put<NT>(y + k, bn_normalize(vload_arith(x + k), vmhi, vmlo, vsc, vsh, R),
                   bn_normalize(vload_arith(x + k + L), vmhi, vmlo, vsc, vsh, R));
  for (; k + L <= len; k += L) vput<NT>(y + k, bn_normalize(vload_arith(x + k), vmhi, vmlo, vsc, vsh, R));
#endif
  for (; k < len; ++k) elem_store(y + k, bn_normalize(elem_load(x + k), mhi, mlo, sc, sh, R));
}

template <class T, bool R, bool NT>
void normalize_rows_t(const T* x, T* y, int64_t C, int64_t S, int64_t j0, int64_t j1, BnCoefOf<compute_t<T>> k) {
  for_rows(C, S, j0, j1, [&](int64_t j, int64_t c, int64_t len) {
    span_normalize<T, R, NT>(x + j, y + j, len, k.mhi[c], k.mlo[c], k.scale[c], k.shift[c]);
  });
}

// The cols passes walk the chunk's rows one tile of kColTile channels at a time: the
// per-channel coefficient arrays of a whole row (4, or 7 for dx, arrays of C values) outgrew L1
// at C = 2048 and were read from L2 again for every row; a tile's stay in L1 across the rows.
// A multiple of every vector pair, so a tile's vectors start where the row's did; elementwise, so
// the same bits in any order.
constexpr int64_t kColTile = 512;
// Rows of at most this many channels are one tile (tiling them ran slower: their coefficients
// fit L1 with the rows).
constexpr int64_t kColUntiled = 1024;
inline int64_t col_tile(int64_t C) { return C <= kColUntiled ? C : kColTile; }

template <class T, bool R, bool NT>
void normalize_cols_t(const T* x, T* y, int64_t C, int64_t r0, int64_t r1, BnCoefOf<compute_t<T>> k) {
  const int64_t tile = col_tile(C);
  for (int64_t c0 = 0; c0 < C; c0 += tile) {
    const int64_t c1 = c0 + tile < C ? c0 + tile : C;
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      T* yr = y + r * C;
      int64_t c = c0;
#if REGCORE_SIMD_W > 1
      constexpr int64_t L = lanes<T>::n;
      const auto at = [&](int64_t j) {
        return bn_normalize(vload_arith(xr + j), vload(k.mhi + j), vload(k.mlo + j), vload(k.scale + j),
                            vload(k.shift + j), R);
      };
      for (; c + kPair<T> <= c1; c += 2 * L) PairStore::template put<NT>(yr + c, at(c), at(c + L));
      for (; c + L <= c1; c += L) vput<NT>(yr + c, at(c));
#endif
      for (; c < c1; ++c)
        elem_store(yr + c, bn_normalize(elem_load(xr + c), k.mhi[c], k.mlo[c], k.scale[c], k.shift[c], R));
    }
  }
}

template <class T, bool R, bool NT>
void span_grad_apply(const T* dy, const T* x, T* dx, int64_t len, compute_t<T> mhi, compute_t<T> mlo, compute_t<T> sc,
                     compute_t<T> sh, compute_t<T> ka, compute_t<T> kb, compute_t<T> kc) {
  int64_t k = 0;
#if REGCORE_SIMD_W > 1
  using V = typename lanes<T>::V;
  constexpr int64_t L = lanes<T>::n;
  if (NT)
    for (const int64_t h = head_to_align(dx, len); k < h; ++k) {
      const compute_t<T> xc = bn_center(elem_load(x + k), mhi, mlo);
      elem_store(dx + k, bn_backward_dx(bn_masked_dy(elem_load(dy + k), xc, sc, sh, R), xc, ka, kb, kc));
    }
  const V vmhi(mhi), vmlo(mlo), vsc(sc), vsh(sh), vka(ka), vkb(kb), vkc(kc);
  const auto at = [&](int64_t j) {
    const V xc = bn_center(vload_arith(x + j), vmhi, vmlo);
    return bn_backward_dx(bn_masked_dy(vload_arith(dy + j), xc, vsc, vsh, R), xc, vka, vkb, vkc);
  };
  for (; k + kPair<T> <= len; k += 2 * L) PairStore::template put<NT>(dx + k, at(k), at(k + L));
  for (; k + L <= len; k += L) vput<NT>(dx + k, at(k));
#endif
  for (; k < len; ++k) {
    const compute_t<T> xc = bn_center(elem_load(x + k), mhi, mlo);
    elem_store(dx + k, bn_backward_dx(bn_masked_dy(elem_load(dy + k), xc, sc, sh, R), xc, ka, kb, kc));
  }
}

template <class T, bool R, bool NT>
void grad_apply_rows_t(const T* dy, const T* x, T* dx, int64_t C, int64_t S, int64_t j0, int64_t j1,
                       BnCoefOf<compute_t<T>> k, BnGradCoefOf<compute_t<T>> g) {
  for_rows(C, S, j0, j1, [&](int64_t j, int64_t c, int64_t len) {
    span_grad_apply<T, R, NT>(dy + j, x + j, dx + j, len, k.mhi[c], k.mlo[c], k.scale[c], k.shift[c],
                              g.ka[c], g.kb[c], g.kc[c]);
  });
}
template <class T, bool R, bool NT>
void grad_apply_cols_t(const T* dy, const T* x, T* dx, int64_t C, int64_t r0, int64_t r1, BnCoefOf<compute_t<T>> k,
                       BnGradCoefOf<compute_t<T>> g) {
  const int64_t tile = col_tile(C);   // tiles of channels, as normalize_cols_t
  for (int64_t c0 = 0; c0 < C; c0 += tile) {
    const int64_t c1 = c0 + tile < C ? c0 + tile : C;
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      const T* dr = dy + r * C;
      T* or_ = dx + r * C;
      int64_t c = c0;
#if REGCORE_SIMD_W > 1
      using V = typename lanes<T>::V;
      constexpr int64_t L = lanes<T>::n;
      const auto at = [&](int64_t j) {
        const V xc = bn_center(vload_arith(xr + j), vload(k.mhi + j), vload(k.mlo + j));
        const V d = bn_masked_dy(vload_arith(dr + j), xc, vload(k.scale + j), vload(k.shift + j), R);
        return bn_backward_dx(d, xc, vload(g.ka + j), vload(g.kb + j), vload(g.kc + j));
      };
      for (; c + kPair<T> <= c1; c += 2 * L) PairStore::template put<NT>(or_ + c, at(c), at(c + L));
      for (; c + L <= c1; c += L) vput<NT>(or_ + c, at(c));
#endif
      for (; c < c1; ++c) {
        const compute_t<T> xc = bn_center(elem_load(xr + c), k.mhi[c], k.mlo[c]);
        const compute_t<T> d = bn_masked_dy(elem_load(dr + c), xc, k.scale[c], k.shift[c], R);
        elem_store(or_ + c, bn_backward_dx(d, xc, g.ka[c], g.kb[c], g.kc[c]));
      }
    }
  }
}
