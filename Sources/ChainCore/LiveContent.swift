/// Which stored keys a reader at `nowMs` still sees: a value whose expiry has come is gone, and
/// so are the fields of a hash whose expiry has come. Feed it a chain's keys in store order
/// (every data key before any field key, as the `d` tag sorts before `h`), so a hash's own value
/// is seen before its fields.
public struct LiveContent: Sendable {
    public let nowMs: UInt64
    private var expiredHashes: Set<[UInt8]> = []

    public init(nowMs: UInt64) { self.nowMs = nowMs }

    public mutating func isLive(storeKey k: [UInt8], value v: [UInt8]) -> Bool {
        switch k.first {
        case KeyLayout.dataTag:
            guard let e = StoredValue(raw: v) else { return true }
            if e.isLive(nowMs: nowMs) { return true }
            if e.type == .hash, let key = KeyLayout.userKey(fromDataKey: k) { expiredHashes.insert(key) }
            return false
        case KeyLayout.fieldTag:
            guard !expiredHashes.isEmpty, let parts = KeyLayout.fieldParts(fromFieldKey: k) else { return true }
            return !expiredHashes.contains(parts.key)
        default:
            return true
        }
    }
}
