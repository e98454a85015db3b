/// Values by chain number, in an array: the per-chain state a replica touches for every update
/// (its position, its catch-up backlog) without hashing the chain number each time, as a
/// dictionary would (callgrind: about 135 instructions a lookup). Chain numbers are small and
/// dense (0 up to the configuration's chain count).
public struct ChainIndexed<Value>: Sendable where Value: Sendable {
    private var storage: [Value?] = []

    public init() {}

    public init(_ values: [ChainID: Value]) {
        for (chain, v) in values { self[chain] = v }
    }

    public subscript(chain: ChainID) -> Value? {
        get { chain >= 0 && chain < storage.count ? storage[chain] : nil }
        set {
            guard chain >= 0 else { return }
            if chain >= storage.count {
                guard newValue != nil else { return }
                storage.append(contentsOf: repeatElement(nil, count: chain + 1 - storage.count))
            }
            storage[chain] = newValue
        }
    }

    /// The chain's value, made from `make` if it has none, changed in place.
    public mutating func update<R>(_ chain: ChainID, orMake make: @autoclosure () -> Value, _ body: (inout Value) -> R) -> R {
        if chain >= storage.count || storage[chain] == nil { self[chain] = make() }
        return body(&storage[chain]!)
    }

    @discardableResult
    public mutating func removeValue(forKey chain: ChainID) -> Value? {
        let old = self[chain]
        if old != nil { storage[chain] = nil }
        return old
    }

    /// Every chain number that may have a value (some have none).
    public var indices: Range<ChainID> { 0..<storage.count }

    /// The chains that have a value, in order.
    public var keys: [ChainID] { storage.indices.filter { storage[$0] != nil } }

    /// How many chains have a value.
    public var count: Int {
        var n = 0
        for v in storage where v != nil { n += 1 }
        return n
    }

    /// Calls `body` with each chain that has a value, in order (no list of them is built).
    public func forEach(_ body: (ChainID, Value) -> Void) {
        for c in storage.indices {
            if let v = storage[c] { body(c, v) }
        }
    }
}
