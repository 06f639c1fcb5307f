/// Model and ensemble forward passes on half-precision inputs and outputs.
///
/// The weights and the computation stay float32: a float16 or bfloat16 input
/// is widened to float32 exactly (``HalfConversion/widen(_:_:_:count:)``),
/// the float32 forward runs as it does on float32 input, and each output is
/// rounded once, to nearest even, into the requested half type
/// (``HalfConversion/narrow(_:_:_:count:)``). So a half input gives exactly
/// the float32 outputs of its float32 widening, and a half output is exactly
/// the float32 output rounded. NaN stays NaN, -inf (log-softmax padding)
/// stays -inf, and a head that is not ready at a streaming tick holds NaN.
///
/// Each call allocates float32 copies of whichever side is in half
/// precision (the input, the outputs, or both) besides the forward's own
/// scratch; everything is checked and allocated before a caller's byte is
/// written.

/// The buffers of a forward whose input and outputs may each be float32 or
/// a half format (the C ABI's typed forward).
@_spi(CABI) public struct TypedForward {
    /// The input's first element and element count; its format (nil: float32).
    public var x: UnsafeRawPointer?
    public var xCount: Int
    public var xFormat: HalfFormat?
    /// One (first element, element count) per head; their format (nil: float32).
    public var outputs: [(UnsafeMutableRawPointer?, Int)]
    public var outputFormat: HalfFormat?

    public init(x: UnsafeRawPointer?, xCount: Int, xFormat: HalfFormat?,
                outputs: [(UnsafeMutableRawPointer?, Int)], outputFormat: HalfFormat?) {
        self.x = x; self.xCount = xCount; self.xFormat = xFormat
        self.outputs = outputs; self.outputFormat = outputFormat
    }

    init<X: HalfFloat>(_ x: UnsafeBufferPointer<X>, _ outputs: [UnsafeMutableBufferPointer<Float>]) {
        self.init(x: UnsafeRawPointer(x.baseAddress), xCount: x.count, xFormat: X.halfFormat,
                  outputs: outputs.map { (UnsafeMutableRawPointer($0.baseAddress), $0.count) }, outputFormat: nil)
    }

    init<Y: HalfFloat>(_ x: UnsafeBufferPointer<Float>, _ outputs: [UnsafeMutableBufferPointer<Y>]) {
        self.init(x: UnsafeRawPointer(x.baseAddress), xCount: x.count, xFormat: nil,
                  outputs: outputs.map { (UnsafeMutableRawPointer($0.baseAddress), $0.count) }, outputFormat: Y.halfFormat)
    }

    init<X: HalfFloat, Y: HalfFloat>(_ x: UnsafeBufferPointer<X>, _ outputs: [UnsafeMutableBufferPointer<Y>]) {
        self.init(x: UnsafeRawPointer(x.baseAddress), xCount: x.count, xFormat: X.halfFormat,
                  outputs: outputs.map { (UnsafeMutableRawPointer($0.baseAddress), $0.count) }, outputFormat: Y.halfFormat)
    }

    /// Checks the caller's buffers against the counts the call needs (the
    /// input's `xNeed`, head `h`'s `outNeeds[h]`) and against each other
    /// (no output may share a byte with the input or another output), then
    /// runs `body` on float32 views: the caller's own float32 buffers, or
    /// float32 scratch widened from (or rounded into) the half ones.
    func run(xNeed: Int, heads: [CompiledHead], outNeeds: [Int], owner: String,
             _ body: (UnsafeBufferPointer<Float>, [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) -> Void
    ) throws(SoftmaxKitError) {
        try checkCount("x", xCount, xNeed)
        guard outputs.count == heads.count else {
            throw .shape("\(outputs.count) output buffers given but the \(owner) has \(heads.count) heads")
        }
        for (k, h) in heads.enumerated() {
            try checkCount("output of head \"\(h.name)\"", outputs[k].1, outNeeds[k])
        }
        try checkSpans(xNeed: xNeed, heads: heads, outNeeds: outNeeds)
        var total = xFormat == nil ? 0 : xNeed
        if outputFormat != nil {
            for n in outNeeds {
                let (t, o) = total.addingReportingOverflow(n)
                guard !o else { throw .overflow("float32 copies of the outputs overflow 64 bits") }
                total = t
            }
        }
        guard let scratch = rawAllocate(Float.self, max(total, 1)) else {
            throw SoftmaxKitError(.outOfMemory, "cannot allocate \(total) floats for the float32 copies of half-precision buffers")
        }
        defer { rawFree(scratch) }
        let xs: UnsafeBufferPointer<Float>
        var next = scratch
        if let f = xFormat {
            if xNeed > 0 { HalfConversion.widen(f, x!.assumingMemoryBound(to: UInt16.self), next, count: xNeed) }
            xs = UnsafeBufferPointer(start: next, count: xNeed)
            next += xNeed
        } else {
            xs = UnsafeBufferPointer(start: x?.assumingMemoryBound(to: Float.self), count: xCount)
        }
        var outs: [UnsafeMutableBufferPointer<Float>] = []
        outs.reserveCapacity(outputs.count)
        for (k, (p, c)) in outputs.enumerated() {
            if outputFormat == nil {
                outs.append(UnsafeMutableBufferPointer(start: p?.assumingMemoryBound(to: Float.self), count: c))
            } else {
                outs.append(UnsafeMutableBufferPointer(start: next, count: outNeeds[k]))
                next += outNeeds[k]
            }
        }
        try body(xs, outs)
        if let f = outputFormat {
            for (k, (p, _)) in outputs.enumerated() where outNeeds[k] > 0 {
                HalfConversion.narrow(f, outs[k].baseAddress!, p!.assumingMemoryBound(to: UInt16.self), count: outNeeds[k])
            }
        }
    }

    /// No output shares a byte with the input or with another output.
    private func checkSpans(xNeed: Int, heads: [CompiledHead], outNeeds: [Int]) throws(SoftmaxKitError) {
        let xSize = xFormat == nil ? 4 : 2, oSize = outputFormat == nil ? 4 : 2
        var spans: [(lo: UInt, hi: UInt, who: Int)] = []
        spans.reserveCapacity(outputs.count + 1)
        if let p = x, xNeed > 0 { spans.append((UInt(bitPattern: p), UInt(bitPattern: p) + UInt(xNeed * xSize), -1)) }
        for (k, (p, _)) in outputs.enumerated() {
            guard let p, outNeeds[k] > 0 else { continue }
            spans.append((UInt(bitPattern: p), UInt(bitPattern: p) + UInt(outNeeds[k] * oSize), k))
        }
        if spans.count < 2 { return }
        spans.sort { $0.lo < $1.lo }
        for k in spans.indices.dropFirst() where spans[k].lo < spans[k - 1].hi {
            func name(_ who: Int) -> String { who < 0 ? "x" : "output of head \"\(heads[who].name)\"" }
            throw .invalid("\(name(spans[k - 1].who)) and \(name(spans[k].who)) overlap: outputs must not overlap the input or each other")
        }
    }
}

/// The output counts of `heads` for `batch` rows of `steps` steps.
private func outputNeeds(_ heads: [CompiledHead], batch: Int, steps: Int) throws(SoftmaxKitError) -> [Int] {
    var needs: [Int] = []
    needs.reserveCapacity(heads.count)
    for h in heads { needs.append(try Model.outputCount(h, batch: batch, steps: steps)) }
    return needs
}

// MARK: Model

extension Model {
    /// ``forward(_:batch:steps:features:lengths:into:)`` on buffers of any
    /// element type (``TypedForward``).
    @_spi(CABI) public func forward(_ io: TypedForward, batch: Int, steps: Int, features f: Int,
                                    lengths: UnsafeBufferPointer<Int>?) throws(SoftmaxKitError) {
        let r = try rows(batch: batch, steps: steps, features: f)
        let needs = try outputNeeds(heads, batch: batch, steps: steps)
        try io.run(xNeed: r * features, heads: heads, outNeeds: needs, owner: "model") { (xs, outs) throws(SoftmaxKitError) in
            try forward(xs, batch: batch, steps: steps, features: f, lengths: lengths, into: outs)
        }
    }

    /// ``step(_:state:features:into:)`` on buffers of any element type.
    @_spi(CABI) public func step(_ io: TypedForward, state: ModelState, features f: Int) throws(SoftmaxKitError) {
        try checkState(state, batch: state.batch)
        let r = try rows(batch: state.batch, steps: 1, features: f)
        let needs = try outputNeeds(heads, batch: state.batch, steps: 1)
        try io.run(xNeed: r * features, heads: heads, outNeeds: needs, owner: "model") { (xs, outs) throws(SoftmaxKitError) in
            try step(xs, state: state, features: f, into: outs)
        }
    }

    /// The forward pass on a float16 or bfloat16 input `[batch, (steps,)
    /// features]`, widened to float32 exactly: the outputs are bit for bit
    /// those of ``forward(_:batch:steps:features:lengths:into:)`` on the
    /// widened input. Arguments, checks and errors as there.
    public func forward<X: HalfFloat>(_ x: UnsafeBufferPointer<X>, batch: Int, steps: Int = 1, features f: Int,
                                      lengths: UnsafeBufferPointer<Int>? = nil,
                                      into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try forward(TypedForward(x, outputs), batch: batch, steps: steps, features: f, lengths: lengths)
    }

    /// The forward pass on a float32 input with float16 or bfloat16 outputs:
    /// each the float32 output rounded once, to nearest even. Arguments,
    /// checks and errors as ``forward(_:batch:steps:features:lengths:into:)``.
    public func forward<Y: HalfFloat>(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int = 1, features f: Int,
                                      lengths: UnsafeBufferPointer<Int>? = nil,
                                      into outputs: [UnsafeMutableBufferPointer<Y>]) throws(SoftmaxKitError) {
        try forward(TypedForward(x, outputs), batch: batch, steps: steps, features: f, lengths: lengths)
    }

    /// The forward pass from a half input to half outputs (of the same or
    /// the other half format): widened exactly, run in float32, rounded once.
    public func forward<X: HalfFloat, Y: HalfFloat>(_ x: UnsafeBufferPointer<X>, batch: Int, steps: Int = 1, features f: Int,
                                                    lengths: UnsafeBufferPointer<Int>? = nil,
                                                    into outputs: [UnsafeMutableBufferPointer<Y>]) throws(SoftmaxKitError) {
        try forward(TypedForward(x, outputs), batch: batch, steps: steps, features: f, lengths: lengths)
    }

    /// ``step(_:state:features:into:)`` on a half input `[batch, features]`.
    public func step<X: HalfFloat>(_ x: UnsafeBufferPointer<X>, state: ModelState, features f: Int,
                                   into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try step(TypedForward(x, outputs), state: state, features: f)
    }

    /// ``step(_:state:features:into:)`` with half outputs.
    public func step<Y: HalfFloat>(_ x: UnsafeBufferPointer<Float>, state: ModelState, features f: Int,
                                   into outputs: [UnsafeMutableBufferPointer<Y>]) throws(SoftmaxKitError) {
        try step(TypedForward(x, outputs), state: state, features: f)
    }

    /// ``step(_:state:features:into:)`` from a half input to half outputs.
    public func step<X: HalfFloat, Y: HalfFloat>(_ x: UnsafeBufferPointer<X>, state: ModelState, features f: Int,
                                                 into outputs: [UnsafeMutableBufferPointer<Y>]) throws(SoftmaxKitError) {
        try step(TypedForward(x, outputs), state: state, features: f)
    }
}

// MARK: Ensemble

extension Ensemble {
    /// ``forward(_:batch:steps:features:lengths:into:)`` on buffers of any
    /// element type (``TypedForward``).
    @_spi(CABI) public func forward(_ io: TypedForward, batch: Int, steps: Int, features f: Int,
                                    lengths: UnsafeBufferPointer<Int>?) throws(SoftmaxKitError) {
        let r = try models[0].rows(batch: batch, steps: steps, features: f)
        let needs = try outputNeeds(heads, batch: batch, steps: steps)
        try io.run(xNeed: r * features, heads: heads, outNeeds: needs, owner: "ensemble") { (xs, outs) throws(SoftmaxKitError) in
            if let lengths {
                try forward(xs, batch: batch, steps: steps, features: f, lengths: lengths, into: outs)
            } else {
                try forward(xs, batch: batch, steps: steps, features: f, into: outs)
            }
        }
    }

    /// ``step(_:state:features:into:)`` on buffers of any element type.
    @_spi(CABI) public func step(_ io: TypedForward, state: EnsembleState, features f: Int) throws(SoftmaxKitError) {
        guard state.owner == ObjectIdentifier(self) else { throw .shape("the state belongs to another ensemble") }
        let r = try models[0].rows(batch: state.batch, steps: 1, features: f)
        let needs = try outputNeeds(heads, batch: state.batch, steps: 1)
        try io.run(xNeed: r * features, heads: heads, outNeeds: needs, owner: "ensemble") { (xs, outs) throws(SoftmaxKitError) in
            try step(xs, state: state, features: f, into: outs)
        }
    }

    /// ``forward(_:batch:steps:features:lengths:into:)`` on a float16 or
    /// bfloat16 input, widened to float32 exactly (see ``Model``'s).
    public func forward<X: HalfFloat>(_ x: UnsafeBufferPointer<X>, batch: Int, steps: Int = 1, features f: Int,
                                      lengths: UnsafeBufferPointer<Int>? = nil,
                                      into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try forward(TypedForward(x, outputs), batch: batch, steps: steps, features: f, lengths: lengths)
    }

    /// The ensemble's forward with half outputs: each combined float32
    /// output rounded once, to nearest even.
    public func forward<Y: HalfFloat>(_ x: UnsafeBufferPointer<Float>, batch: Int, steps: Int = 1, features f: Int,
                                      lengths: UnsafeBufferPointer<Int>? = nil,
                                      into outputs: [UnsafeMutableBufferPointer<Y>]) throws(SoftmaxKitError) {
        try forward(TypedForward(x, outputs), batch: batch, steps: steps, features: f, lengths: lengths)
    }

    /// The ensemble's forward from a half input to half outputs.
    public func forward<X: HalfFloat, Y: HalfFloat>(_ x: UnsafeBufferPointer<X>, batch: Int, steps: Int = 1, features f: Int,
                                                    lengths: UnsafeBufferPointer<Int>? = nil,
                                                    into outputs: [UnsafeMutableBufferPointer<Y>]) throws(SoftmaxKitError) {
        try forward(TypedForward(x, outputs), batch: batch, steps: steps, features: f, lengths: lengths)
    }

    /// ``step(_:state:features:into:)`` on a half input.
    public func step<X: HalfFloat>(_ x: UnsafeBufferPointer<X>, state: EnsembleState, features f: Int,
                                   into outputs: [UnsafeMutableBufferPointer<Float>]) throws(SoftmaxKitError) {
        try step(TypedForward(x, outputs), state: state, features: f)
    }

    /// ``step(_:state:features:into:)`` with half outputs.
    public func step<Y: HalfFloat>(_ x: UnsafeBufferPointer<Float>, state: EnsembleState, features f: Int,
                                   into outputs: [UnsafeMutableBufferPointer<Y>]) throws(SoftmaxKitError) {
        try step(TypedForward(x, outputs), state: state, features: f)
    }

    /// ``step(_:state:features:into:)`` from a half input to half outputs.
    public func step<X: HalfFloat, Y: HalfFloat>(_ x: UnsafeBufferPointer<X>, state: EnsembleState, features f: Int,
                                                 into outputs: [UnsafeMutableBufferPointer<Y>]) throws(SoftmaxKitError) {
        try step(TypedForward(x, outputs), state: state, features: f)
    }
}
