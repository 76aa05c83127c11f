// Element-wise, row-wise and layout kernels of the CUDA backend, compiled at run time by NVRTC
// for the device's architecture. f32 throughout. Every kernel is a grid-stride loop, so any
// launch size covers any element count.

// NVRTC has no <math.h> macros.
#define NEG_INF (-__int_as_float(0x7f800000))

#define LOOP(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
                        i += (long long)blockDim.x * gridDim.x)

// y[r, c] = b[c] for a row-major [rows, cols] matrix (linear bias before the product).
extern "C" __global__ void fill_rows(float* y, const float* b, int rows, int cols) {
    LOOP(i, (long long)rows * cols) { y[i] = b[i % cols]; }
}

// y[n, o, p] = b[o] for NCHW outputs with P positions (conv bias before the products).
extern "C" __global__ void fill_channels(float* y, const float* b, int n, int o, int p) {
    LOOP(i, (long long)n * o * p) { y[i] = b[(i / p) % o]; }
}

extern "C" __global__ void add_into(float* acc, const float* x, int n) {
    LOOP(i, n) { acc[i] += x[i]; }
}

extern "C" __global__ void relu_fwd(const float* x, float* y, int n) {
    LOOP(i, n) { y[i] = fmaxf(x[i], 0.0f); }
}

extern "C" __global__ void relu_bwd(const float* y, const float* dy, float* dx, int n) {
    LOOP(i, n) { dx[i] = y[i] > 0.0f ? dy[i] : 0.0f; }
}

extern "C" __global__ void tanh_fwd(const float* x, float* y, int n) {
    LOOP(i, n) { y[i] = tanhf(x[i]); }
}

extern "C" __global__ void tanh_bwd(const float* y, const float* dy, float* dx, int n) {
    LOOP(i, n) { dx[i] = dy[i] * (1.0f - y[i] * y[i]); }
}

extern "C" __global__ void sigmoid_fwd(const float* x, float* y, int n) {
    LOOP(i, n) {
        float v = x[i];
        if (v >= 0.0f) {
            y[i] = 1.0f / (1.0f + expf(-v));
        } else {
            float e = expf(v);
            y[i] = e / (1.0f + e);
        }
    }
}

extern "C" __global__ void sigmoid_bwd(const float* y, const float* dy, float* dx, int n) {
    LOOP(i, n) { dx[i] = dy[i] * y[i] * (1.0f - y[i]); }
}

extern "C" __global__ void elu_fwd(const float* x, float* y, int n, float alpha) {
    LOOP(i, n) { y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]); }
}

// For x <= 0, d/dx alpha (e^x - 1) = alpha e^x = y + alpha.
extern "C" __global__ void elu_bwd(const float* y, const float* dy, float* dx, int n, float alpha) {
    LOOP(i, n) { dx[i] = y[i] > 0.0f ? dy[i] : dy[i] * (y[i] + alpha); }
}

// cols[n*P + p, (c*K + kh)*K + kw] = x[n, c, oh*S - pad + kh, ow*S - pad + kw] (0 outside).
extern "C" __global__ void im2col(const float* x, float* cols, int batch, int channels,
                                  int height, int width, int k, int s, int pad, int out_h,
                                  int out_w) {
    long long ckk = (long long)channels * k * k;
    long long positions = (long long)out_h * out_w;
    LOOP(i, batch * positions * ckk) {
        long long col = i % ckk;
        long long row = i / ckk;
        int kw = col % k;
        int kh = (col / k) % k;
        int c = col / (k * k);
        int ow = row % out_w;
        int oh = (row / out_w) % out_h;
        long long n = row / positions;
        int h = oh * s - pad + kh;
        int w = ow * s - pad + kw;
        cols[i] = (h >= 0 && h < height && w >= 0 && w < width)
                      ? x[((n * channels + c) * height + h) * width + w]
                      : 0.0f;
    }
}

// The adjoint of im2col: each input element gathers the column entries it was copied to, so
// no two threads write the same element and the sum order is fixed.
extern "C" __global__ void col2im(const float* cols, float* dx, int batch, int channels,
                                  int height, int width, int k, int s, int pad, int out_h,
                                  int out_w) {
    long long ckk = (long long)channels * k * k;
    LOOP(i, (long long)batch * channels * height * width) {
        int w = i % width;
        int h = (i / width) % height;
        int c = (i / ((long long)width * height)) % channels;
        long long n = i / ((long long)width * height * channels);
        float sum = 0.0f;
        for (int kh = 0; kh < k; ++kh) {
            int oh_s = h + pad - kh;
            if (oh_s < 0 || oh_s % s != 0) continue;
            int oh = oh_s / s;
            if (oh >= out_h) continue;
            for (int kw = 0; kw < k; ++kw) {
                int ow_s = w + pad - kw;
                if (ow_s < 0 || ow_s % s != 0) continue;
                int ow = ow_s / s;
                if (ow >= out_w) continue;
                long long row = (n * out_h + oh) * out_w + ow;
                sum += cols[row * ckk + (c * k + kh) * k + kw];
            }
        }
        dx[i] = sum;
    }
}

// [N, O, P] (NCHW output gradient) -> [N*P, O].
extern "C" __global__ void nchw_to_rows(const float* y, float* rows, int n, int o, int p) {
    LOOP(i, (long long)n * o * p) {
        int oc = i % o;
        long long row = i / o;
        long long sample = row / p;
        long long pos = row % p;
        rows[i] = y[(sample * o + oc) * p + pos];
    }
}

// log(sum(exp(x))) of one row, computed from its maximum so that large logits do not overflow.
__device__ float row_log_sum(const float* xr, int cols) {
    float m = NEG_INF;
    for (int c = 0; c < cols; ++c) m = fmaxf(m, xr[c]);
    float sum = 0.0f;
    for (int c = 0; c < cols; ++c) sum += expf(xr[c] - m);
    return logf(sum) + m;
}

// Row-wise log-softmax of [rows, cols]; one thread per row (class counts are small).
extern "C" __global__ void log_softmax_rows(const float* x, float* y, int rows, int cols) {
    LOOP(r, rows) {
        const float* xr = x + r * cols;
        float log_sum = row_log_sum(xr, cols);
        for (int c = 0; c < cols; ++c) y[r * cols + c] = xr[c] - log_sum;
    }
}

extern "C" __global__ void softmax_rows(const float* x, float* y, int rows, int cols) {
    LOOP(r, rows) {
        const float* xr = x + r * cols;
        float log_sum = row_log_sum(xr, cols);
        for (int c = 0; c < cols; ++c) y[r * cols + c] = expf(xr[c] - log_sum);
    }
}

// dx = y * (dy - <dy, y>) per row.
extern "C" __global__ void softmax_bwd(const float* y, const float* dy, float* dx, int rows,
                                       int cols) {
    LOOP(r, rows) {
        float dot = 0.0f;
        for (int c = 0; c < cols; ++c) dot += dy[r * cols + c] * y[r * cols + c];
        for (int c = 0; c < cols; ++c) dx[r * cols + c] = y[r * cols + c] * (dy[r * cols + c] - dot);
    }
}

// dx = dy - exp(y) * sum(dy) per row.
extern "C" __global__ void log_softmax_bwd(const float* y, const float* dy, float* dx, int rows,
                                           int cols) {
    LOOP(r, rows) {
        float total = 0.0f;
        for (int c = 0; c < cols; ++c) total += dy[r * cols + c];
        for (int c = 0; c < cols; ++c) dx[r * cols + c] = dy[r * cols + c] - expf(y[r * cols + c]) * total;
    }
}

// Softmax cross-entropy against integer targets: the per-row loss -log p[target] and the
// gradient (softmax - onehot) / rows.
extern "C" __global__ void cross_entropy(const float* logits, const int* targets, float* grad,
                                         float* row_loss, int rows, int cols) {
    LOOP(r, rows) {
        const float* xr = logits + r * cols;
        float log_sum = row_log_sum(xr, cols);
        int t = targets[r];
        row_loss[r] = -(xr[t] - log_sum);
        for (int c = 0; c < cols; ++c) {
            float p = expf(xr[c] - log_sum);
            grad[r * cols + c] = (p - (c == t ? 1.0f : 0.0f)) / (float)rows;
        }
    }
}

extern "C" __global__ void sgd(float* p, const float* g, int n, float lr) {
    LOOP(i, n) { p[i] -= lr * g[i]; }
}

extern "C" __global__ void sgd_momentum(float* p, const float* g, float* v, int n, float lr,
                                        float mu) {
    LOOP(i, n) {
        v[i] = mu * v[i] + g[i];
        p[i] -= lr * v[i];
    }
}

// The A3C form, in the CPU optimiser's order of operations.
extern "C" __global__ void rmsprop(float* p, const float* g, float* s, int n, float lr,
                                   float alpha, float one_minus_alpha, float eps) {
    LOOP(i, n) {
        float avg = alpha * s[i] + one_minus_alpha * g[i] * g[i];
        s[i] = avg;
        p[i] -= lr * g[i] / sqrtf(avg + eps);
    }
}

// Bias corrections folded into `step` and `inv_sqrt_c2` on the host, as on the CPU.
extern "C" __global__ void adam(float* p, const float* g, float* m, float* v, int n, float step,
                                float inv_sqrt_c2, float b1, float b2, float one_b1, float one_b2,
                                float eps) {
    LOOP(i, n) {
        m[i] = b1 * m[i] + one_b1 * g[i];
        v[i] = b2 * v[i] + one_b2 * g[i] * g[i];
        p[i] -= step * m[i] / (sqrtf(v[i]) * inv_sqrt_c2 + eps);
    }
}
