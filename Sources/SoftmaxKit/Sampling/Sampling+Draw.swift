/// The draw: inverse CDF over a fibre's kept weights, and the per-thread
/// scratch the sampling kernels work in.

/// Weights are summed in chunks of this many positions; a draw finds its
/// chunk by a binary search over the chunks' running sums, then walks the
/// chunk one position at a time. (Any number of draws costs one pass over
/// the weights plus a chunk each.)
@usableFromInline let drawChunk = 256

/// A fibre's weights `w[0 ..< count]` (>= 0; 0 is never drawn) with the sum
/// of each chunk and their running sums, in `Double`.
@usableFromInline
struct WeightTable<T: KernelScalar> {
    @usableFromInline let w: UnsafeMutablePointer<T>
    @usableFromInline let count: Int
    @usableFromInline let chunks: Int
    @usableFromInline let sums: UnsafeMutablePointer<Double>
    @usableFromInline let running: UnsafeMutablePointer<Double>

    /// With `summed`, `sums` already holds each chunk's `chunkSum` (see
    /// `exponentialChunks`).
    @inlinable @inline(__always)
    init(_ w: UnsafeMutablePointer<T>, _ count: Int, sums: UnsafeMutablePointer<Double>, running: UnsafeMutablePointer<Double>,
         summed: Bool = false) {
        self.w = w; self.count = count; self.sums = sums; self.running = running
        chunks = (count + drawChunk - 1) / drawChunk
        if !summed { for b in 0..<chunks { sums[b] = chunkSum(b) } }
        accumulate(from: 0)
    }

    /// The kept mass.
    @inlinable var total: Double { chunks == 0 ? 0 : running[chunks - 1] }

    @inlinable @inline(__always)
    func chunkSum(_ b: Int) -> Double {
        let from = b * drawChunk, to = min(count, from + drawChunk), width = T.width
        var a0 = T.Vector(repeating: 0), a1 = a0
        var i = from
        while i + 2 * width <= to { a0 += vload(w + i); a1 += vload(w + i + width); i += 2 * width }
        if i + width <= to { a0 += vload(w + i); i += width }
        if i < to { a1 += vloadPartial(w + i, to - i, fill: 0) }
        return Double(T.hsum(a0 + a1))
    }

    /// `w = exp((z - m) * invT)` over the fibre `z` and each chunk's sum
    /// into `sums`, in one pass: the same sums, bit for bit, as `chunkSum`
    /// over the stored weights (same vectors, same accumulators, same order).
    /// Returns the total (NaN for a NaN or `+inf` in `z`, or all `-inf`).
    @inlinable
    static func exponentialChunks<E: ExpKind>(_ z: UnsafePointer<T>, _ w: UnsafeMutablePointer<T>, _ n: Int, shift m: T,
                                              scale invT: T, sums: UnsafeMutablePointer<Double>, _: E.Type) -> Double {
        let width = T.width, vm = T.Vector(repeating: m), vs = T.Vector(repeating: invT)
        var i = 0, b = 0, total = 0.0
        while i < n {
            let end = min(n, i + drawChunk)
            var a0 = T.Vector(repeating: 0), a1 = a0
            while i + 2 * width <= end {
                let e0 = E.exp((vload(z + i) - vm) * vs, T.self), e1 = E.exp((vload(z + i + width) - vm) * vs, T.self)
                vstore(e0, w + i); vstore(e1, w + i + width)
                a0 += e0; a1 += e1
                i += 2 * width
            }
            if i + width <= end {
                let e = E.exp((vload(z + i) - vm) * vs, T.self)
                vstore(e, w + i)
                a0 += e
                i += width
            }
            if i < end {
                let r = end - i
                let e = T.vkeepFirst(E.exp((vloadPartial(z + i, r, fill: m) - vm) * vs, T.self), r, fill: 0)
                vstorePartial(e, w + i, r)
                a1 += e
                i = end
            }
            let s = Double(T.hsum(a0 + a1))
            sums[b] = s
            total += s
            b += 1
        }
        return total
    }

    @inlinable @inline(__always)
    func accumulate(from b: Int) {
        var acc = b == 0 ? 0 : running[b - 1]
        for c in b..<chunks { acc += sums[c]; running[c] = acc }
    }

    /// The first position whose running sum exceeds `target` (0 <= target <
    /// total); where rounding leaves the walk short, the chunk's last
    /// position of positive weight.
    @inlinable
    func find(_ target: Double) -> Int {
        var lo = 0, hi = chunks  // first chunk with running > target
        while lo < hi {
            let mid = (lo + hi) / 2
            if running[mid] > target { hi = mid } else { lo = mid + 1 }
        }
        var b = lo
        if b == chunks {  // target rounded up to the total: the last chunk with weight
            b = chunks - 1
            while b > 0 && !(sums[b] > 0) { b -= 1 }
        }
        var acc = b == 0 ? 0 : running[b - 1], last = -1
        for j in (b * drawChunk)..<min(count, (b + 1) * drawChunk) {
            let v = w[j]
            if v > 0 {
                acc += Double(v); last = j
                if acc > target { return j }
            }
        }
        return last
    }

    /// Takes position `j` out (without replacement).
    @inlinable
    func remove(_ j: Int) {
        w[j] = 0
        let b = j / drawChunk
        sums[b] = chunkSum(b)
        accumulate(from: b)
    }
}

/// One thread's scratch for fibres of `n`: weights, chunk sums, and what the
/// plan's truncations need, carved from one block of `bytes(plan, n:)` bytes
/// (64-byte aligned).
@usableFromInline
struct SamplingScratch<T: KernelScalar> {
    /// `n + width` values: masked logits, then weights.
    @usableFromInline let w: UnsafeMutablePointer<T>
    @usableFromInline let sums: UnsafeMutablePointer<Double>
    @usableFromInline let running: UnsafeMutablePointer<Double>
    /// Top-k (or greedy distinct draws): values, positions, weights.
    @usableFromInline let values: UnsafeMutablePointer<T>
    @usableFromInline let positions: UnsafeMutablePointer<Int>
    @usableFromInline let kWeights: UnsafeMutablePointer<T>
    /// Top-p over the whole fibre: `n` positions and the radix histogram.
    @usableFromInline let list: UnsafeMutablePointer<Int>
    @usableFromInline let histogram: UnsafeMutablePointer<Double>

    /// The parts' sizes in elements: weights, chunks, k, and the top-p list
    /// and histogram (0 when the plan needs none).
    @inlinable @inline(__always)
    static func sizes(_ plan: SamplingPlan<T>, n: Int) -> (weights: Int, chunks: Int, k: Int, list: Int, histogram: Int) {
        let nucleus = !plan.greedy && plan.topK == 0 && plan.topP < 1
        return (n + T.width, (n + drawChunk - 1) / drawChunk + 1,
                (plan.greedy ? (plan.replacement ? 0 : plan.draws) : plan.topK) + T.width,
                nucleus ? n : 1, nucleus ? nucleusBuckets : 1)
    }

    @inlinable @inline(__always)
    static func rounded(_ bytes: Int) -> Int { (bytes + 63) & ~63 }

    /// The block's size (n is at most Int.max / 8 elements of the tensor,
    /// so the sum cannot overflow).
    @inlinable @inline(__always)
    static func bytes(_ plan: SamplingPlan<T>, n: Int) -> Int {
        let z = sizes(plan, n: n), t = MemoryLayout<T>.stride
        return rounded(z.weights * t) + 2 * rounded(z.chunks * 8) + 2 * rounded(z.k * t) + rounded(z.k * 8)
            + rounded(z.list * 8) + rounded(z.histogram * 8)
    }

    @inlinable @inline(__always)
    init(_ plan: SamplingPlan<T>, n: Int, block: UnsafeMutableRawPointer) {
        let z = Self.sizes(plan, n: n), t = MemoryLayout<T>.stride
        var at = block
        w = at.bindMemory(to: T.self, capacity: z.weights); at += Self.rounded(z.weights * t)
        sums = at.bindMemory(to: Double.self, capacity: z.chunks); at += Self.rounded(z.chunks * 8)
        running = at.bindMemory(to: Double.self, capacity: z.chunks); at += Self.rounded(z.chunks * 8)
        values = at.bindMemory(to: T.self, capacity: z.k); at += Self.rounded(z.k * t)
        kWeights = at.bindMemory(to: T.self, capacity: z.k); at += Self.rounded(z.k * t)
        positions = at.bindMemory(to: Int.self, capacity: z.k); at += Self.rounded(z.k * 8)
        list = at.bindMemory(to: Int.self, capacity: z.list); at += Self.rounded(z.list * 8)
        histogram = at.bindMemory(to: Double.self, capacity: z.histogram)
    }
}

/// Runs `body` with `count` scratch blocks of `bytes` each: on the stack
/// when one small block does, else one allocation (64-byte aligned blocks).
@inlinable @inline(__always)
func withSamplingScratch<T: KernelScalar>(
    _ plan: SamplingPlan<T>, n: Int, count: Int, _ body: (UnsafeMutableRawPointer, Int) -> Void
) throws(SoftmaxKitError) {
    let bytes = SamplingScratch<T>.bytes(plan, n: n)
    if count == 1 && bytes <= 16384 {
        // (An alignment above 16 sends the temporary allocation to malloc:
        // the block is aligned here instead.)
        withUnsafeTemporaryAllocation(byteCount: bytes + 64, alignment: 16) {
            body($0.baseAddress!.alignedUp(toMultipleOf: 64), bytes)
        }
        return
    }
    let (total, o) = bytes.multipliedReportingOverflow(by: count)  // inlinable: the SPI count check is out of reach
    guard !o, let p = rawAllocate(UInt8.self, total &+ 64) else {
        throw SoftmaxKitError(.outOfMemory, "could not allocate sampling scratch (\(count) x \(bytes) bytes)")
    }
    defer { rawFree(p) }
    body(UnsafeMutableRawPointer(p).alignedUp(toMultipleOf: 64), bytes)
}
