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

constexpr int kColGroup = 4;   // rows per step of the cols passes' vector part (below)
#if REGCORE_SIMD_W > 1
// In passes that stay in the caches, or whose rows are short enough that a group of them is one
// contiguous run (`grouped`: cols_mode in batchnorm_api.cpp), the vector part of a tile runs kColGroup rows at a time: each step loads the per-channel
// coefficients of one column step once for the group's rows. Loaded per row, the coefficient
// vectors (4 per data vector for normalize, 7 for dx) were most of the loads and the passes ran at
// about half the copy bandwidth. (Coefficients held in registers while a block of channels walks
// down the rows loads even fewer, but walks the rows with their stride: at C = 1024 float32, 4 KiB,
// every row of a block falls in the same L1 sets and the passes ran slower than before.)
// A step loads its rows before it stores any: the rows of a (M, 1024) float32 array are 4 KiB
// apart, and a load issued after a store to an address with the same low 12 bits waits for it
// (4K aliasing: dx of 64x1024 ran at half the speed of the row loop with a store per row).
// A step is kColStep<T> elements: a whole 64-byte line of output (and whole 16-bit pairs), so the
// group's interleaved rows never leave partly written lines (grouped outputs of narrow rows
// from 8 MiB on are written with streaming stores).
template <class T> constexpr int kColU = 64 / (lanes<T>::n * int64_t(sizeof(T))) > 1
                                             ? int(64 / (lanes<T>::n * int64_t(sizeof(T)))) : 1;
template <class T> constexpr int64_t kColStep = kColU<T> * lanes<T>::n;

// Stores U vectors of a row: 16-bit outputs a pair at a time (U is even for them), as the row loop.
template <bool NT, int U, class T, class V> REGCORE_HD void put_step(T* p, const V* v) {
  if constexpr (sizeof(T) == 2) {
    for (int u = 0; u < U; u += 2) PairStore::template put<NT>(p + u * lanes<T>::n, v[u], v[u + 1]);
  } else {
    for (int u = 0; u < U; ++u) vput<NT>(p + u * lanes<T>::n, v[u]);
  }
}
#endif

// Row r of a cols pass over channels [c0, c1). Inlined, with the coefficients by value: called per
// row, the row loop of the large passes ran 10% slower than when it was written inline.
template <class T, bool R, bool NT>
REGCORE_HD void normalize_cols_row(const T* x, T* y, int64_t C, int64_t r, int64_t c0, int64_t c1,
                                   BnCoefOf<compute_t<T>> k) {
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

template <class T, bool R, bool NT>
void normalize_cols_t(const T* x, T* y, int64_t C, int64_t r0, int64_t r1, BnCoefOf<compute_t<T>> k, bool grouped) {
  const int64_t tile = col_tile(C);
  for (int64_t c0 = 0; c0 < C; c0 += tile) {
    const int64_t c1 = c0 + tile < C ? c0 + tile : C;
    int64_t r = r0;
#if REGCORE_SIMD_W > 1
    using V = typename lanes<T>::V;
    constexpr int64_t L = lanes<T>::n;
    constexpr int U = kColU<T>;
    const int64_t cv = c0 + (c1 - c0) / kColStep<T> * kColStep<T>;
    for (; grouped && r + kColGroup <= r1; r += kColGroup) {
      for (int64_t c = c0; c < cv; c += kColStep<T>) {
        V mhi[U], mlo[U], sc[U], sh[U];
        for (int u = 0; u < U; ++u) {
          const int64_t j = c + u * L;
          mhi[u] = vload(k.mhi + j), mlo[u] = vload(k.mlo + j), sc[u] = vload(k.scale + j), sh[u] = vload(k.shift + j);
        }
        V v[kColGroup][U];
        for (int g = 0; g < kColGroup; ++g)
          for (int u = 0; u < U; ++u)
            v[g][u] = bn_normalize(vload_arith(x + (r + g) * C + c + u * L), mhi[u], mlo[u], sc[u], sh[u], R);
        for (int g = 0; g < kColGroup; ++g) put_step<NT, U>(y + (r + g) * C + c, v[g]);
      }
      for (int g = 0; g < kColGroup && cv < c1; ++g) normalize_cols_row<T, R, NT>(x, y, C, r + g, cv, c1, k);
    }
#endif
    for (; r < r1; ++r) normalize_cols_row<T, R, NT>(x, y, C, r, c0, c1, k);
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
// Channel c's channel-flat elements [i0, i1): the channel-by-channel backward (batchnorm_api.cpp).
template <class T, bool R, bool NT>
void grad_apply_chan_t(const T* dy, const T* x, T* dx, int64_t C, int64_t S, int64_t c, int64_t i0, int64_t i1,
                       BnCoefOf<compute_t<T>> k, BnGradCoefOf<compute_t<T>> g) {
  for_runs(C, S, c, i0, i1, [&](int64_t j, int64_t len) {
    span_grad_apply<T, R, NT>(dy + j, x + j, dx + j, len, k.mhi[c], k.mlo[c], k.scale[c], k.shift[c],
                              g.ka[c], g.kb[c], g.kc[c]);
  });
}
template <class T, bool R, bool NT>
REGCORE_HD void grad_apply_cols_row(const T* dy, const T* x, T* dx, int64_t C, int64_t r, int64_t c0, int64_t c1,
                                    BnCoefOf<compute_t<T>> k, BnGradCoefOf<compute_t<T>> g) {
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

template <int G, class T, bool R, bool NT>
void grad_apply_cols_g(const T* dy, const T* x, T* dx, int64_t C, int64_t r0, int64_t r1, BnCoefOf<compute_t<T>> k,
                       BnGradCoefOf<compute_t<T>> g, bool grouped) {
  const int64_t tile = col_tile(C);   // tiles of channels and groups of rows, as normalize_cols_t
  for (int64_t c0 = 0; c0 < C; c0 += tile) {
    const int64_t c1 = c0 + tile < C ? c0 + tile : C;
    int64_t r = r0;
#if REGCORE_SIMD_W > 1
    using V = typename lanes<T>::V;
    constexpr int64_t L = lanes<T>::n;
    constexpr int U = kColU<T>;
    const int64_t cv = c0 + (c1 - c0) / kColStep<T> * kColStep<T>;
    for (; grouped && r + G <= r1; r += G) {
      for (int64_t c = c0; c < cv; c += kColStep<T>) {
        V mhi[U], mlo[U], sc[U], sh[U], ka[U], kb[U], kc[U];
        for (int u = 0; u < U; ++u) {
          const int64_t j = c + u * L;
          mhi[u] = vload(k.mhi + j), mlo[u] = vload(k.mlo + j), sc[u] = vload(k.scale + j), sh[u] = vload(k.shift + j);
          ka[u] = vload(g.ka + j), kb[u] = vload(g.kb + j), kc[u] = vload(g.kc + j);
        }
        V v[G][U];
        for (int q = 0; q < G; ++q)
          for (int u = 0; u < U; ++u) {
            const int64_t o = (r + q) * C + c + u * L;
            const V xc = bn_center(vload_arith(x + o), mhi[u], mlo[u]);
            v[q][u] = bn_backward_dx(bn_masked_dy(vload_arith(dy + o), xc, sc[u], sh[u], R), xc, ka[u], kb[u], kc[u]);
          }
        for (int q = 0; q < G; ++q) put_step<NT, U>(dx + (r + q) * C + c, v[q]);
      }
      for (int q = 0; q < G && cv < c1; ++q) grad_apply_cols_row<T, R, NT>(dy, x, dx, C, r + q, cv, c1, k, g);
    }
#endif
    for (; r < r1; ++r) grad_apply_cols_row<T, R, NT>(dy, x, dx, C, r, c0, c1, k, g);
  }
}

template <class T, bool R, bool NT>
void grad_apply_cols_t(const T* dy, const T* x, T* dx, int64_t C, int64_t r0, int64_t r1, BnCoefOf<compute_t<T>> k,
                       BnGradCoefOf<compute_t<T>> g, bool grouped) {
  // Rows a multiple of 4 KiB apart put the same column of every row in the same L1 set: four rows
  // of x, dy and dx are 12 lines for its 8 ways, and the lines were evicted before they were used
  // (64x1024 float32 ran at 0.7x the row loop); two rows are 6.
  if ((C * int64_t(sizeof(T))) % 4096 == 0) grad_apply_cols_g<2, T, R, NT>(dy, x, dx, C, r0, r1, k, g, grouped);
  else grad_apply_cols_g<kColGroup, T, R, NT>(dy, x, dx, C, r0, r1, k, g, grouped);
}
