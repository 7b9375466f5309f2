// The layer-norm passes that store data (y, dx): their rows, the passes over rows and the fused
// forward / backward. Included by layernorm.cpp inside a namespace that defines
// PairStore::put(p, a, b), the store of two vectors of a 16-bit output (vstore2, or vstore2_ne
// in the AVX512_BF16 target region: the same bits). Included once per store, so no include
// guard; the helpers it uses (vg_at, vb_at, row_moments) come from layernorm.cpp before the
// inclusion. The row reductions are here too: the backward hands its dx to reduce_row_halves as
// a lambda, which inlines only into a function of the same target (compiled outside the region,
// the bfloat16 backward made a call per vector and ran 15% slower).

// ---------------------------------------------------------------- row sums

#if REGCORE_SIMD_W > 1
// The row sums and column sums of float32 or 16-bit rows, W/2 lanes at a time (VF32H, as wide as
// VF64, loaded with vload_h): the same lanes, products and chains as the generic loop of
// reduce_row (A.a0 / B.a0 take the lower half of each vector, a1 the upper), without the extract
// that widening an upper half costs. The products of widened values are exact, so each product
// and its add are one vmuladd_exact, and the other adds and the centring subtractions run as
// vadd_fma / vsub_fma (the same bits): the four conversions per half fill the add pipes on Zen 4,
// and every add or multiply moved to the multiply pipes shortens the reduction (23.3 -> 20.3 us
// for 64x1024 float32). G: whether gamma is there (without it g*dy is dy: one conversion less).
// also(l): run after each vector of W values at l (the backward interleaves another row's dx).
template <bool G, class T, class Also>
void reduce_row_halves(const T* dr, const T* xr, int64_t L, const float* g, float mhi, float mlo, float rs, Acc& A,
                       Acc& B, double* col_dg, double* col_db, int64_t& l, Also&& also) {
  constexpr int64_t W = REGCORE_SIMD_W, H = W / 2;
  const VF32H vmhi(mhi), vmlo(mlo), vrs(rs);
  const auto half = [&](int64_t j, VF64& a, VF64& b) {
    const VF32H d = vload_h(dr + j);
    const VF32H xc = vsub_fma(vsub_fma(vload_h(xr + j), vmhi), vmlo);
    const VF64 wd = widen(d), wgd = G ? widen(vload_h(g + j) * d) : wd;
    a = vadd_fma(a, wgd);
    b = vmuladd_exact(wgd, widen(xc), b);
    vstore(col_dg + j, vmuladd_exact(wd, widen(xc * vrs), vload(col_dg + j)));
    vstore(col_db + j, vload(col_db + j) + wd);
  };
  for (; l + W <= L; l += W) {
    half(l, A.a0, B.a0);
    half(l + H, A.a1, B.a1);
    also(l);
  }
}
template <class T, class Also>
void reduce_row_halves(const T* dr, const T* xr, int64_t L, const float* g, float mhi, float mlo, float rs, Acc& A,
                       Acc& B, double* col_dg, double* col_db, int64_t& l, Also&& also) {
  if (g) reduce_row_halves<true>(dr, xr, L, g, mhi, mlo, rs, A, B, col_dg, col_db, l, also);
  else reduce_row_halves<false>(dr, xr, L, g, mhi, mlo, rs, A, B, col_dg, col_db, l, also);
}
#endif

// The scalar tail of reduce_row from l on.
template <class T>
void reduce_tail(const T* dr, const T* xr, int64_t L, const LnCoefOf<compute_t<T>>& k, compute_t<T> mhi,
                 compute_t<T> mlo, compute_t<T> rs, double* col_dg, double* col_db, Acc& A, Acc& B, int64_t l) {
  using F = compute_t<T>;
  for (; l < L; ++l) {
    const F xc = bn_center(elem_load(xr + l), mhi, mlo);
    const F d = elem_load(dr + l);
    const F gd = gamma_at(k.gamma, l) * d;
    A.s += widen(gd);
    B.s += widen(gd) * widen(xc);
    col_dg[l] += widen(d) * widen(F(xc * rs));
    col_db[l] += widen(d);
  }
}

// Rows sums (sum g*dy, sum g*dy*xc) into out, and this row's terms added to the column sums.
template <class T>
void reduce_row(const T* dr, const T* xr, int64_t L, const LnCoefOf<compute_t<T>>& k, compute_t<T> mhi,
                compute_t<T> mlo, compute_t<T> rs, double* col_dg, double* col_db, double out[2]) {
  Acc A, B;
  int64_t l = 0;
#if REGCORE_SIMD_W > 1
  if constexpr (!std::is_same<T, double>::value) {
    reduce_row_halves(dr, xr, L, k.gamma, mhi, mlo, rs, A, B, col_dg, col_db, l, [](int64_t) {});
  } else {
    using V = typename lanes<T>::V;
    constexpr int64_t W = lanes<T>::n;
    const V vmhi(mhi), vmlo(mlo), vrs(rs);
    for (; l + W <= L; l += W) {
      const V xc = bn_center(vload_arith(xr + l), vmhi, vmlo);
      const V d = vload_arith(dr + l);
      const V gd = vg_at(k.gamma, l) * d;
      acc_add(A.a0, A.a1, gd);
      acc_mul(B.a0, B.a1, gd, xc);
      mem_mul(col_dg + l, d, xc * vrs);
      mem_add(col_db + l, d);
    }
  }
#endif
  reduce_tail(dr, xr, L, k, mhi, mlo, rs, col_dg, col_db, A, B, l);
  out[0] = A.total();
  out[1] = B.total();
}

// ---------------------------------------------------------------- one row
//
// The passes below are loops over rows of these; the fused forward / backward run all of a row's
// work while it is in L1 (one read of x from memory for the forward, one of dy and x for the
// backward, instead of two).

template <class T>
void normalize_row(const T* xr, T* yr, int64_t L, const LnCoefOf<compute_t<T>>& k, compute_t<T> mhi, compute_t<T> mlo,
                   compute_t<T> rs) {
  int64_t l = 0;
#if REGCORE_SIMD_W > 1
  using V = typename lanes<T>::V;
  constexpr int64_t W = lanes<T>::n;
  const V vmhi(mhi), vmlo(mlo), vrs(rs);
  const auto at = [&](int64_t j) {
    return ln_normalize(vload_arith(xr + j), vmhi, vmlo, vrs, vg_at(k.gamma, j), vb_at(k.beta, j));
  };
  for (; l + kPair<T> <= L; l += 2 * W) PairStore::put(yr + l, at(l), at(l + W));
  for (; l + W <= L; l += W) vstore(yr + l, at(l));
#endif
  for (; l < L; ++l)
    elem_store(yr + l, ln_normalize(elem_load(xr + l), mhi, mlo, rs, gamma_at(k.gamma, l), beta_at(k.beta, l)));
}

template <class T>
void apply_row(const T* dr, const T* xr, T* o, int64_t L, const LnCoefOf<compute_t<T>>& k, compute_t<T> mhi,
               compute_t<T> mlo, compute_t<T> rs, compute_t<T> b, compute_t<T> c) {
  int64_t l = 0;
#if REGCORE_SIMD_W > 1
  using V = typename lanes<T>::V;
  constexpr int64_t W = lanes<T>::n;
  const V vmhi(mhi), vmlo(mlo), vrs(rs), vb(b), vc(c);
  const auto at = [&](int64_t j) {
    return ln_backward_dx(vload_arith(dr + j), bn_center(vload_arith(xr + j), vmhi, vmlo), vg_at(k.gamma, j), vrs, vb, vc);
  };
  for (; l + kPair<T> <= L; l += 2 * W) PairStore::put(o + l, at(l), at(l + W));
  for (; l + W <= L; l += W) vstore(o + l, at(l));
#endif
  for (; l < L; ++l)
    elem_store(o + l, ln_backward_dx(elem_load(dr + l), bn_center(elem_load(xr + l), mhi, mlo), gamma_at(k.gamma, l),
                                     rs, b, c));
}

// ---------------------------------------------------------------- passes over rows [r0, r1)

template <class T>
void grad_reduce(const T* dy, const T* x, int64_t L, int64_t r0, int64_t r1, LnCoefOf<compute_t<T>> k,
                 double* row_out, double* col_dg, double* col_db) {
  for (int64_t l = 0; l < L; ++l) col_dg[l] = col_db[l] = 0.0;
  for (int64_t r = r0; r < r1; ++r)
    reduce_row(dy + r * L, x + r * L, L, k, k.mhi[r], k.mlo[r], k.rstd[r], col_dg, col_db, row_out + 2 * r);
}

template <class T>
void normalize(const T* x, T* y, int64_t L, int64_t r0, int64_t r1, LnCoefOf<compute_t<T>> k) {
  for (int64_t r = r0; r < r1; ++r) normalize_row(x + r * L, y + r * L, L, k, k.mhi[r], k.mlo[r], k.rstd[r]);
}

template <class T>
void grad_apply(const T* dy, const T* x, T* dx, int64_t L, int64_t r0, int64_t r1, LnCoefOf<compute_t<T>> k,
                const compute_t<T>* kb, const compute_t<T>* kc) {
  for (int64_t r = r0; r < r1; ++r)
    apply_row(dy + r * L, x + r * L, dx + r * L, L, k, k.mhi[r], k.mlo[r], k.rstd[r], kb[r], kc[r]);
}

#if REGCORE_SIMD_W > 1
// Row n's statistics (span_shifted's loops and order: the same sums) interleaved vector for
// vector with row r's normalize (elementwise: any order): the statistics keep the add pipes
// busy while the normalize waits on the cache for x and y. Rows of one piece. 16-bit y goes
// out in pairs (PairStore) at 2j while the statistics read j and h + j: the same elements.
template <class T>
void stats_and_normalize(const T* xn, const T* xr, T* yr, int64_t L, const float* g, const float* b, float mhi,
                         float mlo, float rs, Acc& s, Acc& q, double K) {
  constexpr int64_t W = REGCORE_SIMD_W;
  const VF64 vK(K);
  const VF32 vmhi(mhi), vmlo(mlo), vrs(rs);
  const auto at = [&](int64_t j) { return ln_normalize(vload_arith(xr + j), vmhi, vmlo, vrs, vg_at(g, j), vb_at(b, j)); };
  const int64_t h = (L / (2 * W)) * W;
  int64_t j = 0;
  for (; j < h; j += W) {
    acc_shift(s, q, xn + j, vK, 0);
    acc_shift(s, q, xn + h + j, vK, 1);
    if constexpr (sizeof(T) == 4) {
      vstore(yr + j, at(j));
      vstore(yr + h + j, at(h + j));
    } else {
      PairStore::put(yr + 2 * j, at(2 * j), at(2 * j + W));
    }
  }
  for (j = 2 * h; j + W <= L; j += W) {
    acc_shift(s, q, xn + j, vK, 0);
    vstore(yr + j, at(j));
  }
  for (; j < L; ++j) {
    const double d = widen(elem_load(xn + j)) - K;
    s.s += d;
    q.s += d * d;
    elem_store(yr + j, ln_normalize(elem_load(xr + j), mhi, mlo, rs, gamma_at(g, j), beta_at(b, j)));
  }
}
#endif

// Statistics, coefficients and y of each row; k.mhi / mlo / rstd unused (computed per row).
template <class T>
void forward(const T* x, T* y, int64_t L, int64_t r0, int64_t r1, LnCoefOf<compute_t<T>> k, double eps, double* mean,
             double* var) {
  using F = compute_t<T>;
  const auto stats = [&](int64_t r, Moments m) {
    mean[r] = m.mean;
    var[r] = m.m2 / double(L);
    return ln_row_coef<F>(mean[r], var[r], eps);
  };
#if REGCORE_SIMD_W > 1
  if constexpr (!std::is_same<T, double>::value) {
    if (L <= cpu::kRowsPiece && r0 < r1) {   // one piece per row: row_moments is shifted_moments of one span
      LnRowCoef<F> c = stats(r0, row_moments(x + r0 * L, L));
      for (int64_t r = r0; r + 1 < r1; ++r) {
        const T* xn = x + (r + 1) * L;
        const double K = moment_shift(widen(elem_load(xn)));
        Acc s, q;
        stats_and_normalize(xn, x + r * L, y + r * L, L, k.gamma, k.beta, c.mhi, c.mlo, c.rs, s, q, K);
        Moments m{double(L), 0.0, 0.0};
        shifted_moments(m.n, K, s.total(), q.total(), &m.mean, &m.m2);
        c = stats(r + 1, chan_merge(Moments{0.0, 0.0, 0.0}, m));
      }
      normalize_row(x + (r1 - 1) * L, y + (r1 - 1) * L, L, k, c.mhi, c.mlo, c.rs);
      return;
    }
  }
#endif
  for (int64_t r = r0; r < r1; ++r) {
    const LnRowCoef<F> c = stats(r, row_moments(x + r * L, L));
    normalize_row(x + r * L, y + r * L, L, k, c.mhi, c.mlo, c.rs);
  }
}

// grad_reduce and grad_apply of each row, with its kb, kc from its sums in between; rstd: the
// rows' float64 rstd (k.rstd is its rounding).
template <class T>
void backward(const T* dy, const T* x, T* dx, int64_t L, int64_t r0, int64_t r1, LnCoefOf<compute_t<T>> k,
              const double* rstd, double* col_dg, double* col_db) {
  using F = compute_t<T>;
  for (int64_t l = 0; l < L; ++l) col_dg[l] = col_db[l] = 0.0;
#if REGCORE_SIMD_W > 1
  if constexpr (!std::is_same<T, double>::value) {
    // Row r+1's reduction interleaved vector for vector with row r's dx (as the forward
    // interleaves statistics and normalize): the same sums in the same order, elementwise dx.
    // 16-bit dx goes out two vectors at a time after every second vector (PairStore, as apply_row).
    if (r0 >= r1) return;
    using V = typename lanes<T>::V;
    constexpr int64_t W = lanes<T>::n;
    double sums[2];
    reduce_row(dy + r0 * L, x + r0 * L, L, k, k.mhi[r0], k.mlo[r0], k.rstd[r0], col_dg, col_db, sums);
    for (int64_t r = r0;; ++r) {
      F kb, kc;
      ln_grad_row_coef(rstd[r], sums[0], sums[1], double(L), &kb, &kc);
      if (r + 1 == r1) {
        apply_row(dy + r * L, x + r * L, dx + r * L, L, k, k.mhi[r], k.mlo[r], k.rstd[r], kb, kc);
        return;
      }
      const T *dr = dy + r * L, *xr = x + r * L;
      T* o = dx + r * L;
      const V vmhi(k.mhi[r]), vmlo(k.mlo[r]), vrs(k.rstd[r]), vb(kb), vc(kc);
      const auto at = [&](int64_t j) {
        return ln_backward_dx(vload_arith(dr + j), bn_center(vload_arith(xr + j), vmhi, vmlo), vg_at(k.gamma, j), vrs,
                              vb, vc);
      };
      const auto dx_at = [&](int64_t j) {
        if constexpr (sizeof(T) == 4) vstore(o + j, at(j));
        else if (j & W) PairStore::put(o + j - W, at(j - W), at(j));   // j: a multiple of W (a power of 2)
      };
      const int64_t n = r + 1;
      const T *dn = dy + n * L, *xn = x + n * L;
      Acc A, B;
      int64_t l = 0;
      reduce_row_halves(dn, xn, L, k.gamma, k.mhi[n], k.mlo[n], k.rstd[n], A, B, col_dg, col_db, l, dx_at);
      reduce_tail(dn, xn, L, k, k.mhi[n], k.mlo[n], k.rstd[n], col_dg, col_db, A, B, l);
      if (sizeof(T) == 2 && (l & W)) vstore(o + l - W, at(l - W));   // an odd last vector
      for (int64_t j = l; j < L; ++j)   // row r's dx past its last whole vector
        elem_store(o + j, ln_backward_dx(elem_load(dr + j), bn_center(elem_load(xr + j), k.mhi[r], k.mlo[r]),
                                         gamma_at(k.gamma, j), k.rstd[r], kb, kc));
      sums[0] = A.total();
      sums[1] = B.total();
    }
  }
#endif
  for (int64_t r = r0; r < r1; ++r) {
    const T* dr = dy + r * L;
    const T* xr = x + r * L;
    double sums[2];
    reduce_row(dr, xr, L, k, k.mhi[r], k.mlo[r], k.rstd[r], col_dg, col_db, sums);
    F kb, kc;
    ln_grad_row_coef(rstd[r], sums[0], sums[1], double(L), &kb, &kc);
    apply_row(dr, xr, dx + r * L, L, k, k.mhi[r], k.mlo[r], k.rstd[r], kb, kc);
  }
}

