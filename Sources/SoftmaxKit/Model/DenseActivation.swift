/// Vector forms of the dense-layer activations, on float32 vectors (the
/// precision models run in). Concrete `Float.Vector` code on purpose: the
/// comparisons (`relu`, signs) compile to single blends only when the vector
/// type is concrete.
///
/// Accuracy against a float64 reference (absolute): tanh and gelu_tanh
/// within 2e-7, gelu (erf form) within 2e-7 relative to |x|, sigmoid and silu
/// within a few ulp. `exp` is `Float.vexp`.
enum DenseActivation {
    typealias V = Float.Vector

    @inline(__always)
    static func apply(_ a: Activation, _ x: V) -> V {
        switch a {
        case .identity: return x
        case .relu: return x.replacing(with: 0, where: x .< 0)
        case .tanh: return tanh(x)
        case .sigmoid: return Float.vsigmoid(x)
        case .silu: return x * Float.vsigmoid(x)
        case .gelu: return gelu(x)
        case .geluTanh:
            // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = x * sigmoid(2u).
            let u = x * (x * x * 0.044715 + 1) * 0.7978845608028654
            return x * Float.vsigmoid(u + u)
        }
    }

    /// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|): never overflows.
    @inline(__always)
    static func tanh(_ x: V) -> V {
        let ax = x.replacing(with: -x, where: x .< 0)
        let e = Float.vexp(-2 * ax)
        let t = (1 - e) / (1 + e)
        let r = t.replacing(with: -t, where: x .< 0)
        return r.replacing(with: x, where: x .!= x)
    }

    /// x * Phi(x) = x (1 - erfc(x / sqrt 2) / 2) for x >= 0 and
    /// x erfc(|x| / sqrt 2) / 2 for x < 0, so the negative tail keeps its
    /// relative accuracy. erfc is Numerical Recipes' Chebyshev fit
    /// (fractional error below 1.2e-7 everywhere).
    @inline(__always)
    static func gelu(_ x: V) -> V {
        let z0 = x * 0.7071067811865476
        let z = z0.replacing(with: -z0, where: z0 .< 0)
        let t = 1 / (1 + 0.5 * z)
        var p = V(repeating: 0.17087277)
        p = p * t - 0.82215223
        p = p * t + 1.48851587
        p = p * t - 1.13520398
        p = p * t + 0.27886807
        p = p * t - 0.18628806
        p = p * t + 0.09678418
        p = p * t + 0.37409196
        p = p * t + 1.00002368
        p = p * t - 1.26551223
        let erfc = t * Float.vexp(p - z * z)
        let half = 0.5 * erfc
        let r = x * (1 - half)
        return r.replacing(with: x * half, where: x .< 0)
    }
}
