/// An estimate of the number of DHT servers, from the distances of the k closest peers that finished walks found
/// (Optimistic Provide's a priori knowledge).
///
/// N peers spread uniformly over the key space put the i-th closest to any target at a normalized distance of about
/// i / (N + 1); a least-squares fit through the origin over the k distances of one walk gives one estimate, and the
/// estimate is the mean of the last `capacity` walks'.
public struct KademliaNetworkSize: Sendable {
    /// Walks remembered.
    public let capacity: Int
    /// Walks needed before there is an estimate.
    public let minimumSamples: Int
    private var samples: [Double] = []
    private var next = 0

    /// No samples yet.
    public init(capacity: Int = 32, minimumSamples: Int = 4) {
        self.capacity = max(1, capacity)
        self.minimumSamples = max(1, min(minimumSamples, capacity))
    }

    /// Walks sampled so far (at most `capacity`).
    public var sampleCount: Int { samples.count }

    /// The estimated number of servers, nil before `minimumSamples` walks.
    public var estimate: Double? {
        guard samples.count >= minimumSamples else { return nil }
        return samples.reduce(0, +) / Double(samples.count)
    }

    /// A distance as a fraction of the key space, in [0, 1).
    @inline(__always)
    public static func normalized(_ distance: KademliaKey) -> Double {
        Double(distance.w0) / 18_446_744_073_709_551_616.0 + Double(distance.w1) / 3.402_823_669_209_385e38
    }

    /// Records one walk: the distances of the closest peers it found to its target, nearest first.
    public mutating func record(_ distances: [KademliaKey]) {
        var weighted = 0.0
        var squares = 0.0
        for (index, distance) in distances.enumerated() {
            let rank = Double(index + 1)
            weighted += rank * Self.normalized(distance)
            squares += rank * rank
        }
        guard weighted > 0 else { return }
        let size = max(1, squares / weighted - 1)
        if samples.count < capacity {
            samples.append(size)
        } else {
            samples[next] = size
        }
        next = (next + 1) % capacity
    }

    /// Optimistic Provide's thresholds for a network of `networkSize` servers, as normalized distances: a peer within
    /// `individual` is among the k closest with probability `individualCertainty`; the true k-th closest lies beyond
    /// `set` with probability `setCertainty`; `returnAfter` successful stores finish the provide.
    public static func thresholds(
        networkSize: Double, k: Int, individualCertainty: Double, setCertainty: Double, returnRatio: Double
    ) -> (individual: Double, set: Double, returnAfter: Int) {
        // The peers within distance x of a target are Poisson with mean λ = N·x (N large). A peer at x is among the
        // k closest when fewer than k others are within x: P(Poisson(λ) ≤ k − 1) ≥ certainty.
        let size = max(1, networkSize)
        let individual = rate(k: k, atMostBelowK: individualCertainty) / size
        // The k-th closest is beyond x when fewer than k are within x: P(Poisson(λ) ≤ k − 1) = 1 − setCertainty.
        let set = rate(k: k, atMostBelowK: 1 - setCertainty) / size
        let returnAfter = max(1, min(k, Int((returnRatio * Double(k)).rounded(.up))))
        return (individual, set, returnAfter)
    }

    /// The λ at which P(Poisson(λ) ≤ k − 1) = probability (bisection; the CDF falls as λ grows).
    static func rate(k: Int, atMostBelowK probability: Double) -> Double {
        let target = min(max(probability, 1e-9), 1 - 1e-9)
        func cdf(_ lambda: Double) -> Double {
            var term = 1.0
            var sum = 1.0
            if k > 1 {
                for i in 1..<k {
                    term *= lambda / Double(i)
                    sum += term
                }
            }
            return sum * _exp(-lambda)
        }
        var low = 0.0
        var high = Double(max(k, 1)) * 4 + 20
        for _ in 0..<60 {
            let middle = (low + high) / 2
            if cdf(middle) > target { low = middle } else { high = middle }
        }
        return (low + high) / 2
    }
}

/// e^x without Foundation (the pure targets do not import it).
@inline(__always)
private func _exp(_ x: Double) -> Double {
    // exp(x) = 2^(x / ln 2): integer part by scaling, fractional part by a short series.
    let scaled = x / 0.693_147_180_559_945_3
    let whole = scaled.rounded(.down)
    let fraction = (scaled - whole) * 0.693_147_180_559_945_3
    var term = 1.0
    var sum = 1.0
    for i in 1..<20 {
        term *= fraction / Double(i)
        sum += term
    }
    return sum * Double(sign: .plus, exponent: Int(whole), significand: 1)
}
