/// The little real-number math the score presets need, without libm (the pure targets import no Glibc): natural
/// logarithm and exponential to within a few ulps, and a real power built from them.
enum GossipsubScoreMath {
    private static let ln2 = 0.693_147_180_559_945_309_417_232_121_458

    /// ln(`x`) for a finite `x` > 0 (NaN otherwise).
    static func log(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return .nan }
        // x = m · 2^e with m in [1, 2); ln m = 2·atanh(z), z = (m − 1)/(m + 1) ≤ 1/3, a fast series.
        let exponent = Double(x.exponent)
        let m = x.significand
        let z = (m - 1) / (m + 1)
        let z2 = z * z
        var term = z
        var sum = 0.0
        var k = 1.0
        while abs(term / k) > 1e-18 * abs(sum) || sum == 0 {
            sum += term / k
            term *= z2
            k += 2
            if term == 0 { break }
        }
        return 2 * sum + exponent * ln2
    }

    /// e^`y` (0 far below, infinity far above the range of Double).
    static func exp(_ y: Double) -> Double {
        guard y.isFinite else { return y.isNaN ? .nan : (y > 0 ? .infinity : 0) }
        if y > 709.8 { return .infinity }
        if y < -745.2 { return 0 }
        // y = k·ln2 + r with |r| ≤ ln2/2; e^r by its Taylor series; then scale by 2^k.
        let k = (y / ln2).rounded()
        let r = y - k * ln2
        var term = 1.0
        var sum = 1.0
        var n = 1.0
        while abs(term) > 1e-18 {
            term *= r / n
            sum += term
            n += 1
        }
        // In two halves, so that 2^k itself never overflows or underflows before the product does.
        let half = Int(k) / 2
        return sum * power(2, half) * power(2, Int(k) - half)
    }

    /// `base` to the integer `exponent`, by squaring (a negative exponent gives the reciprocal).
    static func power(_ base: Double, _ exponent: Int) -> Double {
        var result = 1.0
        var factor = base
        var remaining = exponent.magnitude
        while remaining > 0 {
            if remaining & 1 == 1 { result *= factor }
            factor *= factor
            remaining >>= 1
        }
        return exponent < 0 ? 1 / result : result
    }

    /// `base` (> 0) to the real `exponent`.
    static func power(_ base: Double, _ exponent: Double) -> Double { exp(exponent * log(base)) }
}
