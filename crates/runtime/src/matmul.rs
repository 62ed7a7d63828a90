//! Matrix products over strided views of slices, on the gemm crate's AVX-512 / AVX2 kernels:
//! the one place that hands gemm raw pointers, after checking every view lies inside its slice.

/// The cores a product may use: rayon's pool.
pub(crate) fn parallelism() -> gemm::Parallelism {
    match rayon::current_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// Where a matrix lies in a slice: element `(i, j)` at `i·rs + j·cs`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View {
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl View {
    /// Rows of contiguous elements, `rs` apart.
    pub(crate) fn rows(rows: usize, cols: usize, rs: usize) -> Self {
        View {
            rows,
            cols,
            rs,
            cs: 1,
        }
    }

    /// The transpose of `rows × cols` stored as rows `rs` apart.
    pub(crate) fn transposed(rows: usize, cols: usize, rs: usize) -> Self {
        View {
            rows,
            cols,
            rs: 1,
            cs: rs,
        }
    }

    fn within(&self, len: usize) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < len
    }
}

/// `dst = [dst +] lhs · rhs` over strided views; does nothing (and says so) when the shapes
/// disagree or a view reaches outside its slice.
pub(crate) fn matmul(
    dst: (&mut [f32], View),
    lhs: (&[f32], View),
    rhs: (&[f32], View),
    accumulate: bool,
    parallelism: gemm::Parallelism,
) -> bool {
    let ((dst, d), (lhs, l), (rhs, r)) = (dst, lhs, rhs);
    // distinct destination elements: contiguous rows that do not overlap
    let ok = d.rows == l.rows
        && d.cols == r.cols
        && l.cols == r.rows
        && d.cs == 1
        && d.rs >= d.cols
        && d.within(dst.len())
        && l.within(lhs.len())
        && r.within(rhs.len());
    if !ok {
        return false;
    }
    if d.rows == 0 || d.cols == 0 {
        return true;
    }
    #[expect(
        unsafe_code,
        reason = "gemm takes raw pointers and strides; `ok` checks that the shapes agree, that every element of the three views lies inside its slice, and that the destination's elements are distinct"
    )]
    // SAFETY: see the reason above; `dst` is borrowed mutably, the others shared, so the
    // buffers are distinct.
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            l.cols,
            dst.as_mut_ptr(),
            d.cs as isize,
            d.rs as isize,
            accumulate,
            lhs.as_ptr(),
            l.cs as isize,
            l.rs as isize,
            rhs.as_ptr(),
            r.cs as isize,
            r.rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
    true
}
